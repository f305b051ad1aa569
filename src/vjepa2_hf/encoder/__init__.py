"""The V-JEPA 2 encoder and predictor."""

from .configuration_vjepa2 import HUB_REPOS, PRESETS, VJEPA2Config
from .convert_vjepa2_checkpoint import convert_official_checkpoint, export_to_official, export_to_transformers
from .modeling_vjepa2 import (
    VJEPA2EncoderOutput,
    VJEPA2Model,
    VJEPA2ModelOutput,
    VJEPA2PredictorOutput,
    VJEPA2PreTrainedModel,
    VJEPA2VisionModel,
)

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
