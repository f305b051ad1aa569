"""Registration of the package's configs, models, processors and pipelines with transformers.

Our models use their own model types (`vjepa2_hf`, `vjepa2_ac`, `vjepa2_vlm`), not `vjepa2`, which transformers
owns. Configs of model type `vjepa2` (the `facebook/vjepa2-*` repos) load into our classes through
`VJEPA2Config.from_pretrained` and `VJEPA2Model.from_pretrained` directly.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel

from .encoder import VJEPA2Config, VJEPA2Model


def register_auto_classes() -> None:
    """Register everything; called once when `vjepa2_hf` is imported."""
    from . import vlm  # noqa: F401  (registers the VLM config, model, processor and `video-text-to-text` task)
    from .probe import register_probe_classes
    from .world_model import VJEPA2ACConfig, VJEPA2ACPredictor

    AutoConfig.register(VJEPA2Config.model_type, VJEPA2Config, exist_ok=True)
    AutoModel.register(VJEPA2Config, VJEPA2Model, exist_ok=True)
    AutoConfig.register(VJEPA2ACConfig.model_type, VJEPA2ACConfig, exist_ok=True)
    AutoModel.register(VJEPA2ACConfig, VJEPA2ACPredictor, exist_ok=True)
    register_probe_classes()  # AutoModelForVideoClassification + the PyAV `video-classification` pipeline
