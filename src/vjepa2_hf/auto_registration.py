"""Registration of the package's configs and models with the transformers Auto classes.

Our models use their own `model_type` (`vjepa2_hf`, ...), not `vjepa2`, which transformers owns. Configs of
model type `vjepa2` (the `facebook/vjepa2-*` repos) load into our classes through `VJEPA2Config.from_pretrained`
and `VJEPA2Model.from_pretrained` directly.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel

from .encoder import VJEPA2Config, VJEPA2Model


def register_auto_classes() -> None:
    AutoConfig.register(VJEPA2Config.model_type, VJEPA2Config, exist_ok=True)
    AutoModel.register(VJEPA2Config, VJEPA2Model, exist_ok=True)
