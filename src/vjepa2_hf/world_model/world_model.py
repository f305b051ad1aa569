"""`VJEPA2WorldModel`: a frozen V-JEPA 2 encoder plus the action-conditioned predictor, for training and planning.

* Encoding (official `WorldModel.encode` / `forward_target`): every frame is encoded on its own, duplicated into a
  2-frame tubelet, and the tokens are layer-normalised without affine parameters (`normalize_reps`).
* Training losses (official `app/vjepa_droid/train.py`, after the fix of commit 93366fe): teacher forcing
  ``L1(LN(P(z_{0:T-1}, a, s)), z_{1:T})`` plus an ``auto_steps``-step rollout seeded with ``[z_0, ẑ_1]``.
* Rollouts: many candidate action sequences at once, autoregressively; with `use_cache=True` the keys/values of
  past frames are kept (attention is block-causal), so each step runs the predictor on the newest frame only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput, logging

from ..encoder.configuration_vjepa2 import VJEPA2Config
from ..encoder.modeling_vjepa2 import VJEPA2VisionModel
from ..strict_loading import StrictLoadingMixin
from .configuration_vjepa2_ac import VJEPA2ACConfig
from .configuration_vjepa2_world_model import VJEPA2WorldModelConfig
from .modeling_vjepa2_ac import VJEPA2ACCache, VJEPA2ACPredictor
from .poses import StateUpdate, get_state_update
from .processing_vjepa2_ac import VJEPA2ACFrameProcessor

logger = logging.get_logger(__name__)

LEGACY_WORLD_MODEL_CONFIG = "world_model.json"  # the format before the composite config: still loads
WORLD_MODEL_PARTS = ("encoder", "predictor")


def _part_attention(attn_implementation: str | dict[str, str] | None) -> dict[str, str | None]:
    """`{"encoder": choice, "predictor": choice}` from one choice for both parts or a dict per part."""
    if attn_implementation is None or isinstance(attn_implementation, str):
        return dict.fromkeys(WORLD_MODEL_PARTS, attn_implementation)
    # keys: the part names, or the sub-config names of `VJEPA2WorldModelConfig` ("encoder_config", ...)
    # "" is transformers' key for the composite's own config (no attention of its own): no part
    by_part = {str(k).removesuffix("_config"): v for k, v in attn_implementation.items() if k != ""} if isinstance(
        attn_implementation, dict) else None
    if by_part is None or set(by_part) - set(WORLD_MODEL_PARTS):
        raise ValueError(
            f"`attn_implementation` must be a str or a dict with keys among {WORLD_MODEL_PARTS}, got "
            f"{attn_implementation!r}"
        )
    return {name: by_part.get(name) for name in WORLD_MODEL_PARTS}


@dataclass
class VJEPA2WorldModelOutput(ModelOutput):
    """Training output of [`VJEPA2WorldModel`].

    Args:
        loss (`torch.FloatTensor` of shape `()`): ``teacher_forcing_loss + rollout_loss``.
        teacher_forcing_loss (`torch.FloatTensor` of shape `()`): mean L1 of the one-step predictions.
        rollout_loss (`torch.FloatTensor` of shape `()`): mean L1 of the `auto_steps` rolled-out frames.
        predictions (`torch.FloatTensor` of shape `(batch_size, num_frames - 1, tokens_per_frame, hidden_size)`):
            teacher-forced predictions of frames 1..T-1.
    """

    loss: torch.FloatTensor | None = None
    teacher_forcing_loss: torch.FloatTensor | None = None
    rollout_loss: torch.FloatTensor | None = None
    predictions: torch.FloatTensor | None = None


@dataclass
class VJEPA2RolloutOutput(ModelOutput):
    """Output of [`VJEPA2WorldModel.rollout`].

    Args:
        predictions (`torch.FloatTensor` of shape `(batch_size, horizon, tokens_per_frame, hidden_size)`): predicted
            (normalised) embeddings of the frames after each action.
        states (`torch.FloatTensor` of shape `(batch_size, horizon, state_dim)`): the states those frames are
            assumed to have (context state advanced by the actions with the state-update rule).
    """

    predictions: torch.FloatTensor | None = None
    states: torch.FloatTensor | None = None


PredictFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def ac_training_losses(
    predict: PredictFn,
    embeddings: torch.Tensor,
    actions: torch.Tensor,
    states: torch.Tensor,
    extrinsics: torch.Tensor | None = None,
    auto_steps: int = 2,
    loss_exp: float = 1.0,
) -> VJEPA2WorldModelOutput:
    """Teacher-forcing and rollout losses of V-JEPA 2-AC (official `app/vjepa_droid/train.py`, fixed indexing).

    Args:
        predict: `(z (B, T, N, D), actions (B, T, A), states (B, T, S), extrinsics) -> (B, T, N, D)` normalised
            next-frame predictions (e.g. `VJEPA2WorldModel.predict`).
        embeddings (`torch.FloatTensor` of shape `(B, T, N, D)`): normalised encoder outputs of the clip.
        actions (`torch.FloatTensor` of shape `(B, T - 1, A)`), states `(B, T, S)`, extrinsics `(B, T, E)`.
        auto_steps (`int`): frames rolled out by the rollout loss (official 2).
        loss_exp (`float`): ``mean(|x|^p) / p`` (official 1.0: L1).

    The teacher-forcing term predicts frames ``1..T-1`` from the true frames ``0..T-2``. The rollout starts from
    ``[z_0, ẑ_1]`` (the teacher-forced prediction of frame 1 -- commit 93366fe fixed the first release, which
    seeded it with ẑ_2) and appends ``auto_steps - 1`` predictions made from its own outputs with the true actions
    and states; it is compared with frames ``1..auto_steps``.
    """
    h = embeddings
    if h.ndim != 4:
        raise ValueError(f"`embeddings` must have shape (batch_size, num_frames, tokens, hidden), got {tuple(h.shape)}")
    b, t = h.shape[:2]
    if t < 2:
        raise ValueError(f"a training clip needs at least 2 frames, got {t}")
    if actions.ndim != 3 or actions.shape[:2] != (b, t - 1):
        raise ValueError(
            f"`actions` must have shape (batch_size={b}, num_frames - 1={t - 1}, action_dim), got "
            f"{tuple(actions.shape)}"
        )
    if states.ndim != 3 or states.shape[:2] != (b, t):
        raise ValueError(f"`states` must have shape ({b}, {t}, state_dim), got {tuple(states.shape)}")
    if not 1 <= auto_steps <= t - 1:
        raise ValueError(f"`auto_steps` must be in [1, num_frames - 1 = {t - 1}], got {auto_steps}")

    def ext(stop: int) -> torch.Tensor | None:
        return None if extrinsics is None else extrinsics[:, :stop]

    def loss_fn(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred - target).abs().pow(loss_exp).mean() / loss_exp

    # teacher forcing: frames 0..T-2 predict frames 1..T-1
    z_tf = predict(h[:, :-1], actions, states[:, :-1], ext(t - 1))
    tf_loss = loss_fn(z_tf, h[:, 1:])
    # rollout seeded with [z_0, ẑ_1]
    z = torch.cat((h[:, :1], z_tf[:, :1]), dim=1)
    for n in range(1, auto_steps):
        nxt = predict(z, actions[:, : n + 1], states[:, : n + 1], ext(n + 1))[:, -1:]
        z = torch.cat((z, nxt), dim=1)
    rollout_loss = loss_fn(z[:, 1:], h[:, 1 : auto_steps + 1])
    return VJEPA2WorldModelOutput(
        loss=tf_loss + rollout_loss, teacher_forcing_loss=tf_loss, rollout_loss=rollout_loss, predictions=z_tf
    )


class VJEPA2WorldModel(StrictLoadingMixin, PreTrainedModel):
    """Frozen V-JEPA 2 encoder + V-JEPA 2-AC predictor, a transformers model with a composite config.

    Build it from a config (`VJEPA2WorldModel(config)`, random weights), from two configs (`from_configs`), from two
    built parts (`VJEPA2WorldModel(encoder, predictor, state_update=..., processor=...)`), or load it with
    `from_pretrained` / `AutoModel.from_pretrained` (a folder of `save_pretrained`, a Hub repo, or a folder of the
    earlier `encoder/` + `predictor/` + `world_model.json` layout).

    Args:
        config ([`VJEPA2WorldModelConfig`] or [`VJEPA2VisionModel`]): the composite config; or, as the first
            positional argument with `predictor`, the already built encoder.
        predictor ([`VJEPA2ACPredictor`], *optional*): the action-conditioned predictor, with a built encoder.
        state_update (`str` or callable, *optional*): how a planned action advances the state during a rollout:
            ``"franka"`` (official `compute_new_pose`), ``"additive"`` (state + action), or a function
            `(states (B, S), actions (B, A)) -> (B, S)` (not saveable). Default: the config's (``"franka"``).
        processor ([`VJEPA2ACFrameProcessor`], *optional*): frame preprocessing (default: the config's
            `frame_processor`, else a centre square crop to the encoder's crop size, ImageNet normalisation).
        encoder ([`VJEPA2VisionModel`], *optional*): an already built encoder, with a config.

    Modules: `encoder` (kept frozen: no gradients, eval mode) and `predictor`.
    """

    config_class = VJEPA2WorldModelConfig
    config: VJEPA2WorldModelConfig
    base_model_prefix = ""
    main_input_name = "actions"
    _supports_sdpa = True

    @classmethod
    def _can_set_attn_implementation(cls) -> bool:
        return True  # the parts read `config._attn_implementation` at every call

    def __init__(
        self,
        config: VJEPA2WorldModelConfig | VJEPA2VisionModel,
        predictor: VJEPA2ACPredictor | None = None,
        state_update: str | StateUpdate | None = None,
        processor: VJEPA2ACFrameProcessor | None = None,
        *,
        encoder: VJEPA2VisionModel | None = None,
    ) -> None:
        if isinstance(config, VJEPA2VisionModel):  # VJEPA2WorldModel(encoder, predictor, ...)
            if predictor is None:
                raise ValueError("built from an encoder, the world model needs its `predictor` too")
            encoder, config = config, VJEPA2WorldModelConfig(encoder_config=config.config,
                                                             predictor_config=predictor.config)
        elif not isinstance(config, VJEPA2WorldModelConfig):
            raise ValueError(
                f"`config` must be a VJEPA2WorldModelConfig or a VJEPA2VisionModel, got {type(config).__name__}"
            )
        if processor is not None:
            config.frame_processor = processor.to_dict()
        super().__init__(config)
        for part in (encoder, predictor):  # built (or loaded) by the caller: `post_init` must not re-initialise it
            for module in () if part is None else part.modules():
                module._is_hf_initialized = True
        self.encoder = encoder if encoder is not None else VJEPA2VisionModel(config.encoder_config)
        self.predictor = predictor if predictor is not None else VJEPA2ACPredictor(config.predictor_config)
        # one config object per part, shared with the parts (attention switches and dtypes stay in sync)
        self.config.encoder_config, self.config.predictor_config = self.encoder.config, self.predictor.config
        self.config._validate()
        self.set_state_update(config.state_update if state_update is None else state_update)
        settings = config.frame_processor or {"crop_size": config.encoder_config.crop_size}
        self.processor = processor or VJEPA2ACFrameProcessor(**settings)
        self.config.frame_processor = self.processor.to_dict()
        self.post_init()
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    def get_input_embeddings(self) -> nn.Module:
        """The encoder's patch embedding (a tubelet projection, not a token table)."""
        return self.encoder.get_input_embeddings()

    def set_state_update(self, state_update: str | StateUpdate) -> None:
        """Set the rollout state rule: a name (``"franka"``, ``"additive"``, saved in the config) or a function."""
        self.state_update_name = state_update if isinstance(state_update, str) else None
        self.state_update = get_state_update(state_update) if isinstance(state_update, str) else state_update
        self.config.state_update = self.state_update_name

    def _init_weights(self, module: nn.Module) -> None:
        pass  # the composite owns no weights: the parts initialise their own

    def train(self, mode: bool = True) -> "VJEPA2WorldModel":
        super().train(mode)
        self.encoder.eval()  # the encoder stays frozen
        return self

    @property
    def dtype(self) -> torch.dtype:
        """The predictor's dtype: rollouts run in it (inputs are cast at the boundary)."""
        return self.predictor.dtype

    @property
    def tokens_per_frame(self) -> int:
        return self.predictor.config.tokens_per_frame

    @classmethod
    def from_configs(
        cls,
        encoder_config: VJEPA2Config,
        predictor_config: VJEPA2ACConfig,
        attn_implementation: str | dict[str, str] | None = None,
        **kwargs,
    ) -> "VJEPA2WorldModel":
        """A randomly initialised world model (e.g. the tiny test model); `attn_implementation` as in
        [`~VJEPA2WorldModel.from_pretrained`]; `kwargs`: `state_update`, `processor`."""
        for config, choice in zip((encoder_config, predictor_config), _part_attention(attn_implementation).values()):
            if choice is not None:
                config._attn_implementation = choice
        return cls(VJEPA2VisionModel(encoder_config), VJEPA2ACPredictor(predictor_config), **kwargs)

    def set_attn_implementation(self, attn_implementation: str | dict[str, str], **kwargs) -> None:
        """Switch the attention of both parts (`"sdpa"`, `"eager"`) or of each part
        (`{"encoder": ..., "predictor": ...}`; `""` names the composite's own config, as in transformers)."""
        own = attn_implementation if isinstance(attn_implementation, str) else (attn_implementation or {}).get("")
        for name, choice in _part_attention(attn_implementation).items():
            if choice is not None:
                getattr(self, name).set_attn_implementation(choice)
        if own is not None:
            self.config._attn_implementation_internal = own  # the composite's config only (the parts hold theirs)

    def get_attn_implementation(self) -> dict[str, str]:
        """`{"encoder": ..., "predictor": ...}`: the attention implementation each part runs."""
        return {name: getattr(self, name).config._attn_implementation for name in WORLD_MODEL_PARTS}

    # ---------------------------------------------------------------------------------------------- save / load
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> Path:
        """transformers' `save_pretrained`: `config.json` (both parts' configs, the state rule, the frame processor)
        and the weights of both parts in one `model.safetensors`; returns the folder."""
        if self.state_update_name is None:
            raise ValueError("cannot save a world model with a custom `state_update` function; use a named rule")
        super().save_pretrained(save_directory, **kwargs)
        return Path(save_directory)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *args,
        attn_implementation: str | dict[str, str] | None = None,
        dtype: str | torch.dtype | None = None,
        device: str | None = None,
        state_update: str | StateUpdate | None = None,
        processor: VJEPA2ACFrameProcessor | None = None,
        **kwargs,
    ) -> "VJEPA2WorldModel":
        """Load a world model: a folder of `save_pretrained`, a Hub repo, or a folder of the earlier layout
        (`encoder/`, `predictor/`, `world_model.json`, as the AC checkpoint converter wrote it before).

        Args:
            attn_implementation (`str` or `dict`, *optional*): attention of both parts (`"sdpa"`, the default, or
                `"eager"`), or per part: `{"encoder": "eager", "predictor": "sdpa"}` (a part not named: its saved
                choice, sdpa by default).
            dtype (`str` or `torch.dtype`, *optional*): weights dtype; ``"auto"`` picks bf16 on CUDA and on CPUs
                with native bf16, float32 otherwise (see `vjepa2_hf.auto_dtype`). None keeps the stored dtype.
            device (`str`, *optional*): device that `"auto"` decides for (the model is not moved).
            state_update, processor: override those saved with the model.
            kwargs: passed to transformers' `from_pretrained` (`revision`, `cache_dir`, `strict`, ...).
        """
        from ..auto_dtype import resolve_dtype

        load = {} if dtype is None else {"dtype": resolve_dtype(dtype, device)}
        parts = _part_attention(attn_implementation)
        legacy = None if pretrained_model_name_or_path is None else (
            Path(pretrained_model_name_or_path) / LEGACY_WORLD_MODEL_CONFIG)
        if legacy is not None and legacy.is_file():
            model, info = cls._from_legacy_folder(legacy.parent, parts, load, state_update, processor), None
        else:
            choice = {f"{name}_config": v for name, v in parts.items() if v is not None}
            if choice:
                kwargs["attn_implementation"] = choice
            model = super().from_pretrained(pretrained_model_name_or_path, *args, **load, **kwargs)
            model, info = model if isinstance(model, tuple) else (model, None)  # `output_loading_info=True`
            if state_update is not None:
                model.set_state_update(state_update)
            if processor is not None:
                model.processor, model.config.frame_processor = processor, processor.to_dict()
        model.encoder.requires_grad_(False)  # loading replaced the parameters built frozen in `__init__`
        model.eval()
        return model if info is None else (model, info)

    @classmethod
    def _from_legacy_folder(cls, root: Path, parts: dict, load: dict, state_update, processor) -> "VJEPA2WorldModel":
        """A folder of the earlier format: `encoder/` and `predictor/` model folders plus `world_model.json`."""
        meta = json.loads((root / LEGACY_WORLD_MODEL_CONFIG).read_text())
        attn = {k: {"attn_implementation": v} if v else {} for k, v in parts.items()}
        encoder = VJEPA2VisionModel.from_pretrained(root / "encoder", **load, **attn["encoder"])
        predictor = VJEPA2ACPredictor.from_pretrained(root / "predictor", **load, **attn["predictor"])
        if state_update is None:
            state_update = meta.get("state_update", "franka")
        if processor is None and "processor" in meta:
            processor = VJEPA2ACFrameProcessor(**meta["processor"])
        return cls(encoder, predictor, state_update=state_update, processor=processor)

    # ---------------------------------------------------------------------------------------------- encoding
    def normalize(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Layer-normalise tokens without affine parameters (official `F.layer_norm(h, (h.size(-1),))`) when
        `normalize_reps` is set."""
        if not self.predictor.config.normalize_reps:
            return hidden_states
        return F.layer_norm(hidden_states, (hidden_states.shape[-1],))

    @torch.no_grad()
    def encode(self, pixel_values: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """Encode frames one by one (each duplicated into a tubelet) and layer-normalise.

        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, num_frames, 3, H, W)`): normalised frames.
            batch_size (`int`, *optional*): frames per encoder call (to bound memory when caching features).

        Returns:
            `torch.FloatTensor` of shape `(batch_size, num_frames, tokens_per_frame, hidden_size)`.
        """
        if pixel_values.ndim != 5:
            raise ValueError(
                f"`pixel_values` must have shape (batch_size, num_frames, 3, H, W), got {tuple(pixel_values.shape)}"
            )
        b, t = pixel_values.shape[:2]
        pixel_values = pixel_values.to(self.encoder.dtype)
        flat = pixel_values.reshape(b * t, 1, *pixel_values.shape[2:])  # each frame alone
        tubelet = self.encoder.config.tubelet_size
        flat = flat.expand(-1, tubelet, -1, -1, -1)  # duplicated into one tubelet, as the official code
        chunk = batch_size or flat.shape[0]
        outs = [self.encoder(flat[i : i + chunk]).last_hidden_state for i in range(0, flat.shape[0], chunk)]
        h = torch.cat(outs, dim=0)
        if h.shape[1] != self.tokens_per_frame:
            grid = self.predictor.config.grid_size
            raise ValueError(
                f"frames of {tuple(pixel_values.shape[-2:])} give {h.shape[1]} tokens, the predictor expects "
                f"{self.tokens_per_frame} ({grid}x{grid}); resize frames to "
                f"{self.predictor.config.crop_size} px (see `encode_images`)"
            )
        return self.normalize(h.view(b, t, h.shape[1], h.shape[2]))

    @torch.no_grad()
    def encode_images(self, frames: np.ndarray | torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """uint8 RGB frames `(..., H, W, 3)` -> normalised embeddings `(..., tokens_per_frame, hidden_size)`."""
        pixels = self.processor(frames)
        lead = pixels.shape[:-3]
        device = next(self.encoder.parameters()).device
        flat = pixels.reshape(1, -1, *pixels.shape[-3:]).to(device)
        h = self.encode(flat, batch_size=batch_size)[0]
        return h.reshape(*lead, *h.shape[-2:])

    # ---------------------------------------------------------------------------------------------- predicting
    def _flat(self, embeddings: torch.Tensor) -> torch.Tensor:
        if embeddings.ndim != 4 or embeddings.shape[-2] != self.tokens_per_frame:
            raise ValueError(
                f"embeddings must have shape (batch_size, num_frames, {self.tokens_per_frame}, "
                f"{self.predictor.config.hidden_size}), got {tuple(embeddings.shape)}"
            )
        return embeddings.flatten(1, 2)

    def predict(
        self,
        embeddings: torch.Tensor,
        actions: torch.Tensor,
        states: torch.Tensor,
        extrinsics: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Teacher-forced next-frame predictions, layer-normalised.

        Args:
            embeddings (`torch.FloatTensor` of shape `(B, T, N, D)`), actions `(B, T, A)`, states `(B, T, S)`.

        Returns:
            `torch.FloatTensor` of shape `(B, T, N, D)`: entry ``t`` predicts frame ``t + 1``.
        """
        b, t = embeddings.shape[:2]
        out = self.predictor(self._flat(embeddings), actions, states, extrinsics).last_hidden_state
        return self.normalize(out.view(b, t, self.tokens_per_frame, -1))

    def forward(
        self,
        actions: torch.Tensor,
        states: torch.Tensor,
        embeddings: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        extrinsics: torch.Tensor | None = None,
        auto_steps: int = 2,
        loss_exp: float = 1.0,
        return_dict: bool | None = None,
    ) -> VJEPA2WorldModelOutput | tuple:
        r"""The V-JEPA 2-AC training losses on a clip.

        Args:
            actions (`torch.FloatTensor` of shape `(B, T - 1, A)`): actions between consecutive frames.
            states (`torch.FloatTensor` of shape `(B, T, S)`): state at every frame.
            embeddings (`torch.FloatTensor` of shape `(B, T, N, D)`, *optional*): cached normalised encoder outputs.
            pixel_values (`torch.FloatTensor` of shape `(B, T, 3, H, W)`, *optional*): frames to encode instead.
            extrinsics (`torch.FloatTensor` of shape `(B, T, E)`, *optional*).
            auto_steps (`int`, defaults to 2): rollout length of the rollout loss (official `auto_steps`).
            loss_exp (`float`, defaults to 1.0): ``mean(|x|^p) / p`` (1 = L1).
            return_dict (`bool`, *optional*): `False` returns the output's tuple (default: `config.return_dict`).

        Returns:
            [`VJEPA2WorldModelOutput`].
        """
        if (embeddings is None) == (pixel_values is None):
            raise ValueError("pass exactly one of `embeddings` (cached features) and `pixel_values`")
        h = self.encode(pixel_values) if embeddings is None else embeddings
        output = ac_training_losses(self.predict, h, actions, states, extrinsics, auto_steps, loss_exp)
        return output if (self.config.return_dict if return_dict is None else return_dict) else output.to_tuple()

    # ---------------------------------------------------------------------------------------------- rollouts
    def _check_rollout(self, context_embeddings, context_states, actions, context_actions):
        cfg = self.predictor.config
        if context_embeddings.ndim != 4 or context_embeddings.shape[2:] != (cfg.tokens_per_frame, cfg.hidden_size):
            raise ValueError(
                f"`context_embeddings` must have shape (batch_size, num_context_frames, {cfg.tokens_per_frame}, "
                f"{cfg.hidden_size}), got {tuple(context_embeddings.shape)}"
            )
        bc, tc = context_embeddings.shape[:2]
        if context_states.ndim != 3 or context_states.shape != (bc, tc, cfg.state_dim):
            raise ValueError(
                f"`context_states` must have shape ({bc}, {tc}, state_dim={cfg.state_dim}), got "
                f"{tuple(context_states.shape)}"
            )
        if actions.ndim != 3 or actions.shape[-1] != cfg.action_dim:
            raise ValueError(
                f"`actions` must have shape (num_candidates, horizon, action_dim={cfg.action_dim}), got "
                f"{tuple(actions.shape)}"
            )
        if bc not in (1, actions.shape[0]):
            raise ValueError(f"context batch {bc} must be 1 or the number of candidates {actions.shape[0]}")
        if not torch.isfinite(actions).all():
            raise ValueError("`actions` contains NaN or infinite values")
        if tc > 1:
            if context_actions is None or context_actions.shape != (bc, tc - 1, cfg.action_dim):
                raise ValueError(
                    f"with {tc} context frames, `context_actions` must have shape ({bc}, {tc - 1}, {cfg.action_dim}), "
                    f"got {None if context_actions is None else tuple(context_actions.shape)}"
                )
        total = tc + actions.shape[1] - 1
        if total > cfg.max_frames:
            raise ValueError(
                f"a rollout of {actions.shape[1]} steps from {tc} context frames needs {total} predictor frames; the "
                f"predictor supports at most {cfg.max_frames}"
            )

    def rollout(
        self,
        context_embeddings: torch.Tensor,
        context_states: torch.Tensor,
        actions: torch.Tensor,
        context_actions: torch.Tensor | None = None,
        use_cache: bool = True,
        context_cache: VJEPA2ACCache | None = None,
    ) -> VJEPA2RolloutOutput:
        """Imagine the frames that candidate action sequences lead to, autoregressively.

        Args:
            context_embeddings (`torch.FloatTensor` of shape `(Bc, Tc, N, D)`): normalised embeddings of the observed
                frames (`Bc` is 1, shared by all candidates, or the number of candidates).
            context_states (`torch.FloatTensor` of shape `(Bc, Tc, S)`): states of the observed frames.
            actions (`torch.FloatTensor` of shape `(B, H, A)`): `B` candidate sequences of `H` actions, the first
                taken at the last context frame.
            context_actions (`torch.FloatTensor` of shape `(Bc, Tc - 1, A)`, *optional*): actions between the
                context frames (required when `Tc > 1`).
            use_cache (`bool`, defaults to True): keep past keys/values so each step runs only the newest frame.
                False recomputes the whole sequence at each step (the official notebook's rollout).
            context_cache ([`VJEPA2ACCache`], *optional*): keys/values of the context frames but the last, from
                `encode_context` (computed once per plan and reused by every CEM iteration); it is not modified.

        Returns:
            [`VJEPA2RolloutOutput`] with predictions `(B, H, N, D)` in the predictor's dtype and assumed states
            `(B, H, S)` in float32 (or the states' dtype when that is wider). Embeddings and actions are cast to the
            predictor's dtype at the boundary; the state update runs in float32 (pose composition in bf16 would
            drift) and each state is cast when it enters the predictor.
        """
        self._check_rollout(context_embeddings, context_states, actions, context_actions)
        dtype = self.dtype
        context_embeddings = context_embeddings.to(dtype)
        context_states = context_states.to(torch.promote_types(context_states.dtype, torch.float32))
        actions_full = actions.to(context_states.dtype)  # for the state update
        actions = actions.to(dtype)
        if context_actions is not None:
            context_actions = context_actions.to(dtype)
        bsz, horizon = actions.shape[:2]
        bc, tc = context_embeddings.shape[:2]
        n = self.tokens_per_frame
        preds, states = [], []
        if use_cache:
            if tc > 1:  # past context frames: run once (shared when Bc == 1), then expand to the candidates
                if context_cache is None:
                    context_cache = self.encode_context(context_embeddings, context_states, context_actions)
                if context_cache.num_frames != tc - 1:
                    raise ValueError(f"`context_cache` holds {context_cache.num_frames} frames, expected {tc - 1}")
                cache = context_cache.repeat_interleave(bsz) if bc == 1 and bsz > 1 else context_cache.copy()
            else:
                cache = self.predictor.new_cache()
            pc = self.predictor.config
            cache.reserve(horizon, bsz, pc.pred_num_attention_heads, pc.head_dim, dtype, actions.device)
            # the current frame and state are shared by all candidates (Bc == 1): embedded once, broadcast
            frame = context_embeddings[:, -1]  # (Bc, N, D)
            state = context_states[:, -1]
            for step in range(horizon):
                out = self.predictor(frame, actions[:, step : step + 1], state[:, None].to(dtype), cache=cache)
                frame = self.normalize(out.last_hidden_state)
                state = self.state_update(state.expand(bsz, -1), actions_full[:, step])
                preds.append(frame)
                states.append(state)
        else:
            state = context_states[:, -1].expand(bsz, -1)
            frames = context_embeddings.expand(bsz, -1, -1, -1)
            past_actions = (
                context_actions.expand(bsz, -1, -1) if tc > 1 else actions.new_zeros(bsz, 0, actions.shape[-1])
            )
            all_states = context_states.expand(bsz, -1, -1)
            for step in range(horizon):
                acts = torch.cat((past_actions, actions[:, : step + 1]), dim=1)
                out = self.predictor(frames.flatten(1, 2), acts, all_states.to(dtype)).last_hidden_state[:, -n:]
                frame = self.normalize(out)
                state = self.state_update(state, actions_full[:, step])
                frames = torch.cat((frames, frame[:, None]), dim=1)
                all_states = torch.cat((all_states, state[:, None]), dim=1)
                preds.append(frame)
                states.append(state)
        return VJEPA2RolloutOutput(predictions=torch.stack(preds, dim=1), states=torch.stack(states, dim=1))

    @torch.no_grad()
    def infer_next_action(
        self,
        rep: torch.Tensor,
        pose: torch.Tensor,
        goal_rep: torch.Tensor,
        close_gripper: int | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
        compile: bool = False,
        **mpc_args,
    ) -> torch.Tensor:
        """The official notebook wrapper's `WorldModel.infer_next_action`: the official CEM (`official_cem`) from one
        frame toward a goal frame, with the wrapper's default `mpc_args` (rollout 2, 400 samples, top-10, 10 CEM
        steps, momenta 0.15, maxnorm 0.05), overridable by keyword.

        Args:
            rep (`torch.FloatTensor` of shape `(N, D)` or `(1, 1, N, D)`): normalised embedding of the current frame.
            pose (`torch.FloatTensor` of shape `(7,)` or `(1, 1, 7)`): current end-effector pose.
            goal_rep (`torch.FloatTensor` of shape `(N, D)` or `(1, 1, N, D)`): normalised goal embedding.
            use_cache (`bool`): KV-cached rollouts (False: the notebook's uncached rollout).
            compile (`bool`): `torch.compile` the predictor blocks first (`compile_predictor`).

        Returns:
            `torch.FloatTensor` of shape `(rollout, 7)`: the planned actions (execute the first, then replan).
        """
        from .planning import official_cem

        cfg = self.predictor.config
        shape = (cfg.tokens_per_frame, cfg.hidden_size)
        rep, goal_rep = rep.reshape(-1, *rep.shape[-2:]), goal_rep.reshape(-1, *goal_rep.shape[-2:])
        if tuple(rep.shape) != (1, *shape) or tuple(goal_rep.shape) != (1, *shape):
            raise ValueError(
                f"`rep` and `goal_rep` must each be one frame embedding of shape {shape}, got {tuple(rep.shape)} and "
                f"{tuple(goal_rep.shape)}"
            )
        pose = pose.reshape(1, 1, -1)
        args = {"rollout": 2, "samples": 400, "topk": 10, "cem_steps": 10, "momentum_mean": 0.15,
                "momentum_std": 0.15, "maxnorm": 0.05, **mpc_args}
        fn = self.rollout_fn(rep[None], pose.float(), use_cache=use_cache, compile=compile)
        return official_cem(fn, goal_rep[0], close_gripper=close_gripper, generator=generator, **args)

    @torch.no_grad()
    def encode_context(
        self, context_embeddings: torch.Tensor, context_states: torch.Tensor, context_actions: torch.Tensor
    ) -> VJEPA2ACCache:
        """Keys/values of all context frames but the last (whose action is being planned), for `rollout`."""
        cache = self.predictor.new_cache()
        dtype = self.dtype
        self.predictor(self._flat(context_embeddings[:, :-1].to(dtype)), context_actions.to(dtype),
                       context_states[:, :-1].to(dtype), cache=cache)
        return cache

    def compile_predictor(self, **compile_kwargs) -> "VJEPA2WorldModel":
        """`torch.compile` the predictor blocks' MLPs (fc1 -> GELU -> fc2) in place, once; every block shares the
        compiled code (parameters are graph inputs). The attention and its KV cache stay eager (the cache is a
        Python object mutated every step). Idempotent."""
        if not getattr(self, "_predictor_compiled", False):
            for layer in self.predictor.layer:
                layer.mlp.compile(**{"dynamic": False, **compile_kwargs})
            self._predictor_compiled = True
        return self

    def rollout_fn(
        self,
        context_embeddings: torch.Tensor,
        context_states: torch.Tensor,
        context_actions: torch.Tensor | None = None,
        use_cache: bool = True,
        compile: bool = False,
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """A planner callback: `(S, H, A)` candidate plans -> `(S, N, D)` last predicted frame of each. With
        `use_cache` the context frames are run through the predictor once, not at every CEM iteration; with
        `compile` the predictor blocks are compiled first (`compile_predictor`)."""
        if compile:
            self.compile_predictor()
        shared: dict[str, VJEPA2ACCache] = {}

        @torch.no_grad()
        def fn(candidates: torch.Tensor) -> torch.Tensor:
            if use_cache and context_embeddings.shape[1] > 1 and "context" not in shared:
                shared["context"] = self.encode_context(context_embeddings, context_states, context_actions)
            out = self.rollout(context_embeddings, context_states, candidates, context_actions, use_cache=use_cache,
                               context_cache=shared.get("context"))
            return out.predictions[:, -1]

        return fn


__all__ = ["VJEPA2RolloutOutput", "VJEPA2WorldModel", "VJEPA2WorldModelOutput", "ac_training_losses"]
