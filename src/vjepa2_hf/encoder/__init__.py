"""The V-JEPA 2 encoder and predictor."""

from ..lazy_imports import attach

# submodules are imported on first use of one of their names
_SUBMODULES = {
    "configuration_vjepa2": ['HUB_REPOS', 'PRESETS', 'VJEPA2Config'],
    "convert_vjepa2_checkpoint": ['convert_official_checkpoint', 'export_to_official', 'export_to_transformers'],
    "modeling_vjepa2": ['VJEPA2EncoderOutput', 'VJEPA2Model', 'VJEPA2ModelOutput', 'VJEPA2PreTrainedModel', 'VJEPA2PredictorOutput', 'VJEPA2VisionModel'],
}

__getattr__, __dir__ = attach(__name__, _SUBMODULES)

# registers the split<->fused qkv weight conversion with transformers (checkpoints saved with split q/k/v); any
# use of the encoder package needs it, `import vjepa2_hf` alone does not import this package
from . import convert_vjepa2_checkpoint  # noqa: E402,F401

__all__ = [
    "HUB_REPOS",
    "PRESETS",
    "VJEPA2Config",
    "VJEPA2EncoderOutput",
    "VJEPA2Model",
    "VJEPA2ModelOutput",
    "VJEPA2PredictorOutput",
    "VJEPA2PreTrainedModel",
    "VJEPA2VisionModel",
    "convert_official_checkpoint",
    "export_to_official",
    "export_to_transformers",
]
