"""The V-JEPA 2-AC action-conditioned predictor (official `src/models/ac_predictor.py`).

Per frame ``t`` the predictor reads the sequence ``[action_t, state_t, (extrinsics_t), patches_t]``; attention is
block-causal over frames (every token of frame ``t`` sees every token of frames ``<= t``); patch tokens get the
3-D RoPE of the encoder, conditioning tokens a temporal-only rotation (positions ``(t, 0, 0)``); the output for
frame ``t`` is the prediction of the patch tokens of frame ``t + 1``.

Because attention is block-causal, the keys and values of past frames never change when frames are appended. A
[`VJEPA2ACCache`] keeps them, so an autoregressive rollout step only computes the newest frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, logging

from ..encoder.modeling_blocks import VJEPA2Layer, VJEPA2RopeAttention
from ..encoder.rope import rope_cos_sin
from ..input_checks import _tracing
from ..strict_loading import StrictLoadingMixin
from .configuration_vjepa2_ac import VJEPA2ACConfig

logger = logging.get_logger(__name__)


class VJEPA2ACCache:
    """Keys and values of every predictor block for the frames processed so far.

    Each layer holds a key and a value tensor of shape `(batch_size, num_heads, num_frames * tokens_per_frame,
    head_dim)` where `tokens_per_frame` counts conditioning and patch tokens. Frames are only ever appended. After
    `reserve(n)` the next `n` frames are written into preallocated buffers and attention reads views of them (no
    concatenation copy of all past keys/values at every step).
    """

    def __init__(self, num_layers: int, tokens_per_frame: int) -> None:
        self.num_layers = num_layers
        self.tokens_per_frame = tokens_per_frame
        self.keys: list[torch.Tensor | None] = [None] * num_layers
        self.values: list[torch.Tensor | None] = [None] * num_layers
        self.lengths: list[int] = [0] * num_layers  # filled tokens per layer (buffers may be longer)

    @property
    def num_frames(self) -> int:
        return self.lengths[0] // self.tokens_per_frame

    @property
    def batch_size(self) -> int | None:
        return None if self.keys[0] is None else self.keys[0].shape[0]

    def reserve(self, num_frames: int, batch_size: int, num_heads: int, head_dim: int, dtype, device) -> None:
        """Preallocate room for `num_frames` more frames in new buffers (this cache's past entries are copied in;
        tensors shared with other caches are left untouched)."""
        extra = num_frames * self.tokens_per_frame
        for i in range(self.num_layers):
            length = self.lengths[i]
            for store in (self.keys, self.values):
                buf = torch.empty(batch_size, num_heads, length + extra, head_dim, dtype=dtype, device=device)
                if length:
                    buf[:, :, :length] = store[i][:, :, :length]
                store[i] = buf

    def update(self, layer_idx: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the keys/values of new frames for one layer; return all keys/values of that layer."""
        start, end = self.lengths[layer_idx], self.lengths[layer_idx] + key.shape[2]
        old_k, old_v = self.keys[layer_idx], self.values[layer_idx]
        if old_k is not None and old_k.shape[2] >= end and old_k.shape[0] == key.shape[0]:
            old_k[:, :, start:end] = key  # reserved room
            old_v[:, :, start:end] = value
            key, value = old_k[:, :, :end], old_v[:, :, :end]
        else:
            if old_k is not None:
                key = torch.cat((old_k[:, :, :start], key), dim=2)
                value = torch.cat((old_v[:, :, :start], value), dim=2)
            self.keys[layer_idx], self.values[layer_idx] = key, value
        self.lengths[layer_idx] = end
        return key, value

    def _map(self, fn) -> "VJEPA2ACCache":
        out = VJEPA2ACCache(self.num_layers, self.tokens_per_frame)
        out.keys = [None if k is None else fn(k[:, :, :n]) for k, n in zip(self.keys, self.lengths)]
        out.values = [None if v is None else fn(v[:, :, :n]) for v, n in zip(self.values, self.lengths)]
        out.lengths = list(self.lengths)
        return out

    def repeat_interleave(self, repeats: int) -> "VJEPA2ACCache":
        """A new cache whose batch is every sample repeated `repeats` times (e.g. once per CEM candidate)."""
        return self._map(lambda t: t.repeat_interleave(repeats, dim=0))

    def index_select(self, indices: torch.Tensor) -> "VJEPA2ACCache":
        """A new cache with the batch entries `indices` (a `LongTensor`)."""
        return self._map(lambda t: t.index_select(0, indices))

    def clone(self) -> "VJEPA2ACCache":
        return self._map(lambda t: t.clone())

    def copy(self) -> "VJEPA2ACCache":
        """A shallow copy: appending to it leaves this cache unchanged (appends build new tensors or write past
        this cache's length into buffers it no longer reads; `reserve` always allocates new buffers)."""
        return self._map(lambda t: t)


@dataclass
class VJEPA2ACPredictorOutput(ModelOutput):
    """Output of [`VJEPA2ACPredictor`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_frames * tokens_per_frame, hidden_size)`):
            for every input frame ``t``, the predicted encoder tokens of frame ``t + 1`` (not layer-normalised; the
            official code applies `F.layer_norm` afterwards when `normalize_reps` is set).
        cache ([`VJEPA2ACCache`], *optional*): keys and values of all frames so far, when `use_cache`.
        attentions (`tuple(torch.FloatTensor)`, *optional*): with `output_attentions=True`, one tensor per block of
            shape `(batch_size, num_heads, new_tokens, cached_tokens + new_tokens)`: the softmax attention weights
            (conditioning tokens included; masked entries are 0).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): with `output_hidden_states=True`, the block input
            and each block's output, `(batch_size, num_frames * (num_cond_tokens + tokens_per_frame),
            pred_hidden_size)` (conditioning tokens included).
    """

    last_hidden_state: torch.FloatTensor | None = None
    cache: VJEPA2ACCache | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


# the AC predictor's attention is the shared RoPE attention (official `ACRoPEAttention`). The official module runs
# the shared `qkv` projection separately on each conditioning-token slot and rotates only the temporal slice of
# their queries/keys; here all tokens go through `qkv` together and conditioning tokens carry positions `(t, 0, 0)`:
# a zero angle is an exact identity on the row/column slices, so the result is the same computation.
VJEPA2ACAttention = VJEPA2RopeAttention


class VJEPA2ACLayer(VJEPA2Layer):
    """The shared pre-norm block with the AC predictor's sizes (official `ACBlock`)."""

    def __init__(self, config: VJEPA2ACConfig, layer_idx: int, drop_path: float = 0.0) -> None:
        width = config.pred_hidden_size
        super().__init__(
            config, width, config.pred_num_attention_heads, config.intermediate_size / width, drop_path, layer_idx
        )


def _frame_causal_mask(past_frames: int, num_frames: int, per_frame: int, device: torch.device) -> torch.Tensor:
    """Boolean `(num_frames * per_frame, (past_frames + num_frames) * per_frame)`, True where a new token may attend:
    every token of its own frame and of the frames before it."""
    query_frame = torch.arange(past_frames, past_frames + num_frames, device=device).repeat_interleave(per_frame)
    key_frame = torch.arange(past_frames + num_frames, device=device).repeat_interleave(per_frame)
    return key_frame[None, :] <= query_frame[:, None]


class VJEPA2ACPreTrainedModel(StrictLoadingMixin, PreTrainedModel):
    config_class = VJEPA2ACConfig
    config: VJEPA2ACConfig
    base_model_prefix = "vjepa2_ac"
    main_input_name = "encoder_hidden_states"
    _no_split_modules = ["VJEPA2ACLayer"]
    _supports_sdpa = True

    @classmethod
    def _can_set_attn_implementation(cls) -> bool:
        return True  # the shared block reads `config._attn_implementation` at every call (any registered kernel)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Official init: truncated normal (std 0.02, absolute bounds +-2) on Linear weights, zero biases, unit
        LayerNorms; block `attention.proj` and `mlp.fc2` weights divided by ``sqrt(2 * layer_id)``."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            fresh = not getattr(module.weight, "_is_hf_initialized", False)
            init.trunc_normal_(module.weight, std=std, a=-2.0, b=2.0)
            layer_id = getattr(module, "residual_depth", None)  # set by VJEPA2Layer
            if fresh and layer_id is not None:
                module.weight.div_(math.sqrt(2.0 * layer_id))
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class VJEPA2ACPredictor(VJEPA2ACPreTrainedModel):
    """The V-JEPA 2-AC predictor: next-frame encoder tokens from past frames, actions and states.

    State-dict names follow the official module except for the blocks: official
    `predictor_blocks.{i}.attn.{qkv,proj}` / `.norm1` / `.norm2` / `.mlp.fc{1,2}` are
    `layer.{i}.attention.{qkv,proj}` / `.norm1` / `.norm2` / `.mlp.fc{1,2}` here (see
    `convert_vjepa2_ac_checkpoint.py`). The fused `qkv` keeps the official ``[q | k | v]`` row order.
    """

    def __init__(self, config: VJEPA2ACConfig) -> None:
        super().__init__(config)
        width = config.pred_hidden_size
        self.predictor_embed = nn.Linear(config.hidden_size, width)
        self.action_encoder = nn.Linear(config.action_dim, width)
        self.state_encoder = nn.Linear(config.state_dim, width)
        # always created (the released checkpoint has it); only used with `use_extrinsics`
        self.extrinsics_encoder = nn.Linear(config.extrinsics_dim, width)
        depth = config.pred_num_hidden_layers
        rates = [config.drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # linspace(0, rate, depth)
        self.layer = nn.ModuleList(
            [VJEPA2ACLayer(config, i, rates[i]) for i in range(config.pred_num_hidden_layers)]
        )
        self.predictor_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.predictor_proj = nn.Linear(width, config.hidden_size)
        self.post_init()

    # ------------------------------------------------------------------ helpers
    def _embed_tokens(self, encoder_hidden_states, actions, states, extrinsics, num_frames, batch_size):
        """Conditioning tokens then frame tokens of every frame, `(B, T * (c + N), C)`; frames / states shared by the
        batch (batch 1) are embedded once and broadcast."""
        x = self.predictor_embed(encoder_hidden_states)
        cfg = self.config
        x = x.view(encoder_hidden_states.shape[0], num_frames, cfg.tokens_per_frame, cfg.pred_hidden_size)
        cond = [self.action_encoder(actions).unsqueeze(2), self.state_encoder(states).unsqueeze(2)]
        if self.config.use_extrinsics:
            cond.append(self.extrinsics_encoder(extrinsics).unsqueeze(2))
        x = x.expand(batch_size, -1, -1, -1)
        cond = [t.expand(batch_size, -1, -1, -1) for t in cond]
        return torch.cat((*cond, x), dim=2).flatten(1, 2)

    def get_input_embeddings(self) -> nn.Module:
        """The projection of encoder tokens to the predictor width (`predictor_embed`)."""
        return self.predictor_embed

    def new_cache(self) -> VJEPA2ACCache:
        """An empty key/value cache for this predictor."""
        return VJEPA2ACCache(
            self.config.pred_num_hidden_layers, self.config.num_cond_tokens + self.config.tokens_per_frame
        )

    def _positions(self, first_frame: int, num_frames: int, device: torch.device) -> torch.Tensor:
        """(t, h, w) positions of the interleaved sequence `[cond..., patches]` per frame: `(T * (c + N), 3)`."""
        cfg = self.config
        grid = cfg.grid_size
        t = torch.arange(first_frame, first_frame + num_frames, device=device, dtype=torch.float32)
        rows = torch.arange(grid, device=device, dtype=torch.float32)
        # official: positions snapped to the construction grid, `h *= grid_size / H` (= 1 for the native grid)
        hh, ww = torch.meshgrid(rows, rows, indexing="ij")
        patch = torch.stack((hh.flatten(), ww.flatten()), dim=-1)  # (N, 2)
        cond = patch.new_zeros(cfg.num_cond_tokens, 2)  # conditioning tokens: temporal rotation only
        hw = torch.cat((cond, patch), dim=0)  # (c + N, 2)
        per_frame = hw.shape[0]
        pos = torch.cat(
            (t[:, None, None].expand(num_frames, per_frame, 1), hw[None].expand(num_frames, per_frame, 2)), dim=-1
        )
        return pos.reshape(num_frames * per_frame, 3)

    def _check_inputs(
        self,
        encoder_hidden_states: torch.Tensor,
        actions: torch.Tensor,
        states: torch.Tensor,
        extrinsics: torch.Tensor | None,
        past_frames: int,
    ) -> int:
        cfg = self.config
        n = cfg.tokens_per_frame
        if encoder_hidden_states.ndim != 3 or encoder_hidden_states.shape[-1] != cfg.hidden_size:
            raise ValueError(
                f"`encoder_hidden_states` must have shape (batch_size, num_frames * {n}, {cfg.hidden_size}), got "
                f"{tuple(encoder_hidden_states.shape)}"
            )
        num_tokens = encoder_hidden_states.shape[1]
        # a batch of 1 for the frames and states is shared by all action sequences (planning: embedded once)
        batch_size = actions.shape[0] if actions is not None and actions.ndim == 3 else encoder_hidden_states.shape[0]
        if encoder_hidden_states.shape[0] not in (1, batch_size):
            raise ValueError(
                f"`encoder_hidden_states` must have batch size 1 or {batch_size} (that of `actions`), got "
                f"{encoder_hidden_states.shape[0]}"
            )
        if num_tokens == 0 or num_tokens % n:
            raise ValueError(
                f"`encoder_hidden_states` must hold a whole number of frames of {n} tokens "
                f"({cfg.grid_size}x{cfg.grid_size}), got {num_tokens} tokens"
            )
        num_frames = num_tokens // n
        for name, tensor, width in (("actions", actions, cfg.action_dim), ("states", states, cfg.state_dim)):
            shared = name == "states" and tensor is not None and tensor.shape[0] == 1
            if tensor is None or tensor.ndim != 3 or tuple(tensor.shape) != (1 if shared else batch_size, num_frames, width):
                raise ValueError(
                    f"`{name}` must have shape (batch_size={batch_size}, num_frames={num_frames}, "
                    f"{name[:-1]}_dim={width}), got {None if tensor is None else tuple(tensor.shape)}"
                )
        if cfg.use_extrinsics:
            if extrinsics is None or tuple(extrinsics.shape) != (batch_size, num_frames, cfg.extrinsics_dim):
                raise ValueError(
                    f"`extrinsics` must have shape ({batch_size}, {num_frames}, {cfg.extrinsics_dim}) when "
                    f"`use_extrinsics=True`, got {None if extrinsics is None else tuple(extrinsics.shape)}"
                )
        total = past_frames + num_frames
        if total > cfg.max_frames:
            raise ValueError(
                f"the predictor supports at most {cfg.max_frames} frames (frames_per_clip={cfg.frames_per_clip} // "
                f"tubelet_size={cfg.tubelet_size}), got {num_frames} new frames + {past_frames} cached = {total}"
            )
        if _tracing():  # reading values is a data-dependent branch under torch.export / torch.compile
            return num_frames
        for name, tensor in (("actions", actions), ("states", states), ("encoder_hidden_states", encoder_hidden_states)):
            if not torch.isfinite(tensor).all():
                raise ValueError(f"`{name}` contains NaN or infinite values")
        if cfg.use_extrinsics and not torch.isfinite(extrinsics).all():
            raise ValueError("`extrinsics` contains NaN or infinite values")
        return num_frames

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        encoder_hidden_states: torch.Tensor,
        actions: torch.Tensor,
        states: torch.Tensor,
        extrinsics: torch.Tensor | None = None,
        cache: VJEPA2ACCache | None = None,
        use_cache: bool = False,
        return_dict: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> VJEPA2ACPredictorOutput | tuple:
        r"""
        Args:
            encoder_hidden_states (`torch.FloatTensor` of shape `(batch_size, num_frames * tokens_per_frame,
                hidden_size)`, or a batch of 1 shared by all action sequences): encoder tokens of consecutive frames (each frame encoded on its own and, for the
                released model, layer-normalised), in (frame, row, column) order.
            actions (`torch.FloatTensor` of shape `(batch_size, num_frames, action_dim)`): the action taken at each
                frame (from frame ``t`` to ``t + 1``).
            states (`torch.FloatTensor` of shape `(batch_size, num_frames, state_dim)`, or a batch of 1 shared by
                all action sequences): the state at each frame.
            extrinsics (`torch.FloatTensor` of shape `(batch_size, num_frames, extrinsics_dim)`, *optional*): camera
                extrinsics per frame; required and used only when `config.use_extrinsics`.
            cache ([`VJEPA2ACCache`], *optional*): keys/values of earlier frames; the inputs are then the
                frames that follow them (their temporal positions continue after the cached frames). The cache is
                updated in place.
            use_cache (`bool`): return a cache (a new one if `cache` is None).
            output_attentions (`bool`, *optional*): return every block's attention weights (default:
                `config.output_attentions`). They are computed eagerly, so with sdpa this call runs eager attention
                (same outputs to float rounding).
            output_hidden_states (`bool`, *optional*): return the block input and every block's output (default:
                `config.output_hidden_states`).

        Returns:
            [`VJEPA2ACPredictorOutput`] with `last_hidden_state` of shape `(batch_size, num_frames *
            tokens_per_frame, hidden_size)`: slice ``t`` predicts frame ``t + 1``.
        """
        cfg = self.config
        past_frames = 0 if cache is None else cache.num_frames
        if (use_cache or cache is not None) and not cfg.is_frame_causal:
            raise ValueError("a key/value cache needs block-causal attention (`is_frame_causal=True`)")
        num_frames = self._check_inputs(encoder_hidden_states, actions, states, extrinsics, past_frames)
        batch_size = actions.shape[0]
        if cache is not None and past_frames and cache.batch_size != batch_size:
            raise ValueError(
                f"`cache` holds a batch of {cache.batch_size} but the inputs have "
                f"{batch_size}; expand it with `repeat_interleave`/`index_select` first"
            )
        if use_cache and cache is None:
            cache = self.new_cache()
        output_attentions, output_hidden_states, return_dict = (
            getattr(cfg, name) if value is None else value for name, value in (
                ("output_attentions", output_attentions), ("output_hidden_states", output_hidden_states),
                ("return_dict", return_dict)))
        x, attentions, hidden_states = self.predict_tokens(
            encoder_hidden_states, actions, states, extrinsics, cache, past_frames, output_attentions,
            output_hidden_states,
        )
        output = VJEPA2ACPredictorOutput(last_hidden_state=x, cache=cache, attentions=attentions,
                                         hidden_states=hidden_states)
        return output if return_dict else output.to_tuple()

    def predict_tokens(
        self,
        encoder_hidden_states: torch.Tensor,
        actions: torch.Tensor,
        states: torch.Tensor,
        extrinsics: torch.Tensor | None,
        cache,
        past_frames: int,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None]:
        """The computation of `forward` on checked inputs (no validation; what an exported rollout step traces).

        `cache` is anything with `update(layer_idx, key, value) -> (all keys, all values)` (or None) holding
        `past_frames` frames. Returns `(predictions (batch, num_frames * tokens_per_frame, hidden_size), attentions,
        hidden_states)` (the last two None unless asked for).
        """
        cfg = self.config
        batch_size, num_frames = actions.shape[:2]
        n, c = cfg.tokens_per_frame, cfg.num_cond_tokens
        x = self._embed_tokens(encoder_hidden_states, actions, states, extrinsics, num_frames, batch_size)

        pos = self._positions(past_frames, num_frames, x.device)
        cos, sin = rope_cos_sin(pos, cfg.head_dim, theta=cfg.rope_theta)
        cos, sin = cos.to(x.dtype)[None, None], sin.to(x.dtype)[None, None]  # (1, 1, L, hd)

        attention_mask = None
        if cfg.is_frame_causal and num_frames > 1:
            attention_mask = _frame_causal_mask(past_frames, num_frames, c + n, x.device)

        attentions, hidden_states = [], [x]
        for layer in self.layer:
            x, weights = layer(x, cos, sin, attention_mask, cache, output_attentions)
            attentions.append(weights)
            hidden_states.append(x)

        # drop conditioning tokens; a gather, not a view of a slice, so a traced batch of 1 is no special case
        patches = torch.arange(num_frames, device=x.device)[:, None] * (c + n) + c + torch.arange(n, device=x.device)
        x = x.index_select(1, patches.flatten())
        x = self.predictor_proj(self.predictor_norm(x))
        attentions = tuple(attentions) if output_attentions else None
        return x, attentions, tuple(hidden_states) if output_hidden_states else None


__all__ = [
    "VJEPA2ACCache",
    "VJEPA2ACPredictor",
    "VJEPA2ACPredictorOutput",
    "VJEPA2ACPreTrainedModel",
]
