"""Configuration of [`VJEPA2WorldModel`]: the frozen encoder's and the AC predictor's configs, the rollout state
rule and the frame processor settings, in one `config.json`."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

from ..encoder.configuration_vjepa2 import VJEPA2Config
from .configuration_vjepa2_ac import VJEPA2ACConfig

# names of the rules of `poses.get_state_update` (not imported: importing a config must stay light, without torch)
STATE_UPDATE_RULES = ("additive", "franka")
# The predictor fields that `world_model.config.<name>` reads through (the world model's `config` was the
# predictor's config before the composite existed; code and users read these names from it).
PREDICTOR_FIELDS = (
    "action_dim", "state_dim", "extrinsics_dim", "use_extrinsics", "hidden_size", "tokens_per_frame", "grid_size",
    "max_frames", "head_dim", "pred_hidden_size", "pred_num_hidden_layers", "pred_num_attention_heads",
    "num_cond_tokens", "normalize_reps", "is_frame_causal",
)


class VJEPA2WorldModelConfig(PretrainedConfig):
    r"""Configuration of [`VJEPA2WorldModel`] (frozen V-JEPA 2 encoder + V-JEPA 2-AC predictor).

    Args:
        encoder_config ([`VJEPA2Config`] or `dict`, *optional*): the frame encoder. Defaults to the ViT-g preset of
            the released V-JEPA 2-AC model.
        predictor_config ([`VJEPA2ACConfig`] or `dict`, *optional*): the action-conditioned predictor. Defaults to
            the released predictor (`VJEPA2ACConfig()`).
        state_update (`str`, defaults to `"franka"`): how a planned action advances the state during a rollout:
            `"franka"` (official `compute_new_pose`) or `"additive"` (state + action).
        frame_processor (`dict`, *optional*): [`VJEPA2ACFrameProcessor`] settings (`crop_size`, `crop_aspect`,
            `image_mean`, `image_std`); None: a centre square crop to the encoder's crop size, ImageNet normalisation.
        attn_implementation (`str` or `dict`, *optional*): attention of both parts, or a dict per sub-config
            (`{"encoder_config": "eager", "predictor_config": "sdpa"}`). Not given: each part keeps its own.

    The predictor's fields most code reads (`action_dim`, `state_dim`, `hidden_size`, `tokens_per_frame`, ...; see
    `PREDICTOR_FIELDS`) are readable on this config too.
    """

    model_type = "vjepa2_world_model"
    sub_configs = {"encoder_config": VJEPA2Config, "predictor_config": VJEPA2ACConfig}

    def __init__(
        self,
        encoder_config: VJEPA2Config | dict | None = None,
        predictor_config: VJEPA2ACConfig | dict | None = None,
        state_update: str = "franka",
        frame_processor: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.encoder_config = _sub_config(VJEPA2Config, encoder_config, VJEPA2Config.from_preset("vit_giant"))
        self.predictor_config = _sub_config(VJEPA2ACConfig, predictor_config, VJEPA2ACConfig())
        self.state_update = state_update
        self.frame_processor = None if frame_processor is None else dict(frame_processor)
        attn_implementation = kwargs.pop("attn_implementation", None)
        # `PretrainedConfig.__init__` hands its `attn_implementation` (None when not given) to every sub-config,
        # which would erase the choice a loaded part made; the parts keep theirs unless one is given here.
        kept = [(c, c._attn_implementation) for c in (self.encoder_config, self.predictor_config)]
        super().__init__(**kwargs)
        for config, implementation in kept:
            config._attn_implementation_internal = implementation
        if attn_implementation is not None:
            self._attn_implementation = attn_implementation
        self._validate()

    def _validate(self) -> None:
        enc, pred = self.encoder_config, self.predictor_config
        if enc.hidden_size != pred.hidden_size:
            raise ValueError(
                f"encoder width {enc.hidden_size} differs from the predictor's `hidden_size` {pred.hidden_size}"
            )
        if enc.crop_size // enc.patch_size != pred.grid_size:
            raise ValueError(
                f"encoder token grid {enc.crop_size // enc.patch_size} per side (crop {enc.crop_size}, patch "
                f"{enc.patch_size}) differs from the predictor's {pred.grid_size}"
            )
        if self.state_update is not None and self.state_update not in STATE_UPDATE_RULES:
            raise ValueError(f"`state_update` must be one of {list(STATE_UPDATE_RULES)}, got {self.state_update!r}")

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: the predictor fields read through (see `PREDICTOR_FIELDS`)
        if name in PREDICTOR_FIELDS and "predictor_config" in self.__dict__:
            return getattr(self.__dict__["predictor_config"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output["encoder_config"] = self.encoder_config.to_dict()
        output["predictor_config"] = self.predictor_config.to_dict()
        return output


def _sub_config(cls: type[PretrainedConfig], value: PretrainedConfig | dict | None, default: PretrainedConfig):
    if value is None:
        return default
    if isinstance(value, dict):
        return cls.from_dict({k: v for k, v in value.items() if k != "model_type"})
    if not isinstance(value, cls):
        raise ValueError(f"expected a {cls.__name__} or a dict, got {type(value).__name__}")
    return value


__all__ = ["VJEPA2WorldModelConfig"]
