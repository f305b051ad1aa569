"""V-JEPA 2 encoder and predictor as transformers models.

The forward paths reproduce the released code (facebookresearch/vjepa2 `vision_transformer.py`, `predictor.py`):
Conv3d tubelet embedding, pre-norm blocks with a fused qkv projection, 3-D RoPE on queries and keys (with the
tiled-frequency rotation the weights were trained with, see `rope.py`), exact-erf GELU MLPs, LayerNorm eps 1e-6.

Differences from transformers' `VJEPA2Model` that change numbers only where transformers is wrong:
* RoPE positions follow the grid of each input (transformers derives them from `config.crop_size`, which gives
  wrong positions at any other resolution or for non-square inputs; the official code uses the real grid).
* RoPE angles are computed once per forward in float32, not per layer in the model dtype.

V-JEPA 2.1 configs (`config.hierarchical_layers` set; official `app/vjepa_2_1/models/`) add an image tokenizer for
single frames, modality embeddings, interleaved / interpolated RoPE, hierarchical `norms_block` outputs, and a
predictor that reads the concatenated levels and can also predict the context tokens.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, logging
from transformers.utils.generic import can_return_tuple

from ..input_checks import _tracing, check_finite_inputs
from ..strict_loading import StrictLoadingMixin
from .configuration_vjepa2 import VJEPA2Config
from .modeling_blocks import VJEPA2DropPath, VJEPA2Layer, VJEPA2MLP, VJEPA2RopeAttention  # noqa: F401 (re-exported)
from .rope import grid_positions, index_to_positions, rope_cos_sin, scale_positions

logger = logging.get_logger(__name__)


# ----------------------------------------------------------------------------------------------------------------
# Outputs (field names follow transformers' VJEPA2 outputs so code written for it runs unchanged)
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class VJEPA2PredictorOutput(ModelOutput):
    r"""
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size * num_masks, num_target_tokens, hidden_size)`):
            Predicted encoder features of the target tokens, in the order of `target_mask`.
        masked_hidden_state: kept for compatibility with transformers (always `None`).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): predictor hidden states (embeddings, then each
            block), in sorted token order, when `output_hidden_states=True`.
        attentions (`tuple(torch.FloatTensor)`, *optional*): predictor attention maps when `output_attentions=True`.
        target_hidden_state (`torch.FloatTensor` of shape `(batch_size * num_masks, num_target_tokens, hidden_size)`,
            *optional*): the encoder output gathered at `target_mask` (same-pass targets, as transformers).
        context_hidden_state (`torch.FloatTensor` of shape `(batch_size * num_masks, num_context_tokens,
            pred_output_size)`, *optional*): V-JEPA 2.1 with `return_all_tokens`: predictions at the context tokens
            (official `predictor_proj_context`), in the order of `context_mask`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    masked_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    target_hidden_state: torch.FloatTensor | None = None
    context_hidden_state: torch.FloatTensor | None = None


@dataclass
class VJEPA2ModelOutput(ModelOutput):
    r"""
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_tokens, hidden_size)`): encoder output
            after the final LayerNorm. With `mask_encoder_input=True` it holds the context tokens only,
            `(batch_size * num_masks, num_context_tokens, hidden_size)`.
        masked_hidden_state (`torch.FloatTensor` of shape `(batch_size * num_masks, num_context_tokens,
            hidden_size)`): the encoder output at the `context_mask` tokens.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): embeddings and the output of each encoder block
            (before the final norm), `num_hidden_layers + 1` entries.
        attentions (`tuple(torch.FloatTensor)`, *optional*): attention maps `(batch, heads, tokens, tokens)`.
        predictor_output ([`VJEPA2PredictorOutput`], *optional*): `None` when `skip_predictor=True`.
        hierarchical_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_tokens, levels * hidden_size)`,
            *optional*): V-JEPA 2.1 with `output_hierarchical=True`: the normalised levels concatenated on channels
            (rows as `last_hidden_state`).
    """

    last_hidden_state: torch.FloatTensor | None = None
    masked_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    hierarchical_hidden_state: torch.FloatTensor | None = None
    predictor_output: VJEPA2PredictorOutput | None = None

    def to_tuple(self) -> tuple:
        output = list(super().to_tuple())
        if isinstance(output[-1], VJEPA2PredictorOutput):
            output[-1] = output[-1].to_tuple()
        return tuple(output)


# transformers' names for the same outputs
VJEPA2WithMaskedInputPredictorOutput = VJEPA2PredictorOutput
VJEPA2WithMaskedInputModelOutput = VJEPA2ModelOutput


@dataclass
class VJEPA2EncoderOutput(ModelOutput):
    r"""
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_tokens, hidden_size)`): output of the
            final LayerNorm (`num_tokens` = visible tokens when a `visible_mask` is given).
        pooler_output (`torch.FloatTensor` of shape `(batch_size, hidden_size)`): mean over tokens of
            `last_hidden_state`, a clip embedding for retrieval and feature extraction.
        intermediate_hidden_states (`tuple(torch.FloatTensor)`, *optional*): final-normed outputs of the blocks in
            `output_layers` (the official `out_layers`), each `(batch_size, num_tokens, hidden_size)`.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): embeddings and each block's output (no final norm).
        attentions (`tuple(torch.FloatTensor)`, *optional*): attention maps when `output_attentions=True`.
        grid (`tuple[int, int, int]`): token grid `(frames / tubelet, height / patch, width / patch)` of the input.
        hierarchical_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_tokens, levels * hidden_size)`,
            *optional*): V-JEPA 2.1 with `output_hierarchical=True`: the `norms_block` outputs of the last
            `num_distillation_outputs` hierarchical layers, concatenated on channels (official `return_hierarchical`).
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    intermediate_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    grid: tuple[int, int, int] | None = None
    hierarchical_hidden_state: torch.FloatTensor | None = None


# ----------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------


def apply_masks(tensor: torch.Tensor, masks: Sequence[torch.Tensor]) -> torch.Tensor:
    """Gather tokens: `tensor` `(B, N, D)` and M index tensors `(B, K)` give `(M * B, K, D)` (masks along batch)."""
    gathered = []
    for mask in masks:
        index = mask.to(tensor.device).unsqueeze(-1).expand(-1, -1, tensor.size(-1))
        gathered.append(torch.gather(tensor, 1, index))
    return torch.cat(gathered, dim=0)


def validate_token_indices(name: str, indices: torch.Tensor, batch_size: int | None, num_tokens: int) -> None:
    """Raise a `ValueError` unless `indices` is an integer `(batch_size, K)` tensor with values in `[0, num_tokens)`.

    Dtype and shape are always checked; the value range only where reading it costs no host-device sync (CPU
    tensors) or in debug mode (see `_read_index_values`)."""
    if not isinstance(indices, torch.Tensor) or indices.dtype in (torch.float16, torch.bfloat16, torch.float32,
                                                                  torch.float64, torch.bool):
        kind = type(indices).__name__ if not isinstance(indices, torch.Tensor) else f"tensor of {indices.dtype}"
        raise ValueError(f"`{name}` must hold integer index tensors of shape [batch, K], got a {kind}")
    if indices.ndim != 2 or (batch_size is not None and indices.shape[0] != batch_size):
        expected = f"[{batch_size}, K]" if batch_size is not None else "[batch, K]"
        raise ValueError(f"`{name}` entries must have shape {expected}, got {tuple(indices.shape)}")
    if not indices.numel() or not _read_index_values(indices):
        return
    low, high = (int(v) for v in torch.aminmax(indices))
    if low < 0 or high >= num_tokens:
        raise ValueError(
            f"`{name}` indices must lie in [0, {num_tokens}) for this input's {num_tokens} tokens, got values in "
            f"[{low}, {high}]"
        )


CHECK_INDICES_ENV = "VJEPA2_HF_CHECK_INDICES"


def _read_index_values(indices: torch.Tensor) -> bool:
    """Whether `validate_token_indices` reads the index values for its range check.

    Reading them is free for CPU tensors; on an accelerator it is a host-device sync (and a graph break under
    `torch.compile`), so there the range is only checked in debug mode, `VJEPA2_HF_CHECK_INDICES=1` (an
    out-of-range index then fails inside `gather` instead). Never while tracing or compiling.
    """
    if _tracing():
        return False
    return indices.device.type == "cpu" or os.environ.get(CHECK_INDICES_ENV, "0") not in ("", "0")


def selected_hidden_states(output_hidden_states: bool | int | Sequence[int] | None, depth: int) -> set[int] | None:
    """Indices into the `depth + 1` hidden states (embeddings, then each block) that `output_hidden_states` asks for:
    all of them for `True`, none (`None`) for `False` / `None`, or the given index or indices (negative ones count
    from the end), as transformers 5 selects hidden states."""
    if output_hidden_states is None or isinstance(output_hidden_states, bool):
        return set(range(depth + 1)) if output_hidden_states else None
    indices = [output_hidden_states] if isinstance(output_hidden_states, int) else list(output_hidden_states)
    bad = [i for i in indices if not isinstance(i, int) or not -(depth + 1) <= i <= depth]
    if bad:
        raise ValueError(
            f"`output_hidden_states` must be a bool or indices into the {depth + 1} hidden states (embeddings and "
            f"{depth} blocks), got {output_hidden_states!r}"
        )
    return {i % (depth + 1) for i in indices}


class VJEPA2PatchEmbeddings3D(nn.Module):
    """Tubelet embedding: `(B, T, C, H, W)` -> `(B, T/t * H/p * W/p, D)` in (time, row, column) order.

    The weight is the official Conv3d (`proj`, kernel = stride = (t, p, p)); since the kernel never overlaps, the
    forward runs it as one matrix product over flattened tubelets, which is the same sum and several times faster
    than a strided Conv3d in bfloat16 on CPU.
    """

    def __init__(self, config: VJEPA2Config, hidden_size: int, tubelet_size: int | None = None) -> None:
        super().__init__()
        tubelet = config.tubelet_size if tubelet_size is None else tubelet_size
        kernel = (tubelet, config.patch_size, config.patch_size)
        self.proj = nn.Conv3d(config.in_chans, hidden_size, kernel_size=kernel, stride=kernel)

    def forward(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        batch, frames, channels, height, width = pixel_values_videos.shape
        tubelet, patch, _ = self.proj.kernel_size
        tubelets = pixel_values_videos.reshape(
            batch, frames // tubelet, tubelet, channels, height // patch, patch, width // patch, patch
        ).permute(0, 1, 4, 6, 3, 2, 5, 7)  # (B, T', H', W', C, t, p, p): the Conv3d weight's (C, t, p, p) order
        tubelets = tubelets.reshape(batch, -1, channels * tubelet * patch * patch)
        return F.linear(tubelets, self.proj.weight.view(self.proj.out_channels, -1), self.proj.bias)


class VJEPA2Embeddings(nn.Module):
    """Checks and embeds `pixel_values_videos` `(B, T, C, H, W)`; returns tokens and the token grid."""

    def __init__(self, config: VJEPA2Config, hidden_size: int) -> None:
        super().__init__()
        self.config = config
        self.patch_embeddings = VJEPA2PatchEmbeddings3D(config, hidden_size)
        if config.use_image_patch_embedder:  # V-JEPA 2.1 `patch_embed_img`
            self.image_patch_embeddings = VJEPA2PatchEmbeddings3D(config, hidden_size, tubelet_size=1)
        if config.use_modality_embeddings:  # V-JEPA 2.1 `img_mod_embed`, `video_mod_embed`
            self.image_modality_embedding = nn.Parameter(torch.zeros(1, 1, hidden_size))
            self.video_modality_embedding = nn.Parameter(torch.zeros(1, 1, hidden_size))

    def is_image(self, pixel_values_videos: torch.Tensor) -> bool:
        """Whether the input goes through the image tokenizer (V-JEPA 2.1, one frame)."""
        return self.config.use_image_patch_embedder and pixel_values_videos.shape[1] == 1

    def grid(self, pixel_values_videos: torch.Tensor) -> tuple[int, int, int]:
        """Token grid `(T', H', W')` of a valid input; raises a `ValueError` naming the problem otherwise."""
        cfg = self.config
        if not isinstance(pixel_values_videos, torch.Tensor):
            raise ValueError(
                f"`pixel_values_videos` must be a torch.Tensor of shape [batch, frames, channels, height, width], "
                f"got {type(pixel_values_videos).__name__}"
            )
        if pixel_values_videos.ndim != 5:
            raise ValueError(
                "`pixel_values_videos` must have shape [batch, frames, channels, height, width] (5 dims), got shape "
                f"{tuple(pixel_values_videos.shape)} ({pixel_values_videos.ndim} dims)"
            )
        _, frames, channels, height, width = pixel_values_videos.shape
        if channels != cfg.in_chans:
            raise ValueError(
                f"`pixel_values_videos` must have {cfg.in_chans} channels on dim 2 ([batch, frames, channels, height, "
                f"width]), got {channels} (shape {tuple(pixel_values_videos.shape)})"
            )
        if height % cfg.patch_size or width % cfg.patch_size or height == 0 or width == 0:
            raise ValueError(
                f"`pixel_values_videos` height and width must be positive multiples of the patch size "
                f"{cfg.patch_size}, got {height}x{width}"
            )
        if frames != 1 and frames % cfg.tubelet_size:
            raise ValueError(
                f"`pixel_values_videos` must have 1 frame (an image, repeated to fill the tubelet) or a multiple of "
                f"tubelet_size={cfg.tubelet_size} frames, got {frames}"
            )
        temporal = 1 if frames == 1 else frames // cfg.tubelet_size
        return temporal, height // cfg.patch_size, width // cfg.patch_size

    def forward(self, pixel_values_videos: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        grid = self.grid(pixel_values_videos)
        image = self.is_image(pixel_values_videos)
        if image:
            embedder = self.image_patch_embeddings
        else:
            embedder = self.patch_embeddings
            if pixel_values_videos.shape[1] == 1:  # a single image fills the tubelet
                pixel_values_videos = pixel_values_videos.expand(-1, self.config.tubelet_size, -1, -1, -1)
        embeddings = embedder(pixel_values_videos.to(embedder.proj.weight.dtype))
        if self.config.use_modality_embeddings:
            embeddings = embeddings + (self.image_modality_embedding if image else self.video_modality_embedding)
        return embeddings, grid


def _drop_path_rates(rate: float, depth: int) -> list[float]:
    return [rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]


def rope_tables(
    positions: torch.Tensor, head_dim: int, dtype: torch.dtype, theta: float, interleave: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE tables for `(N, 3)` or `(B, N, 3)` positions, shaped to broadcast over `(B, heads, N, head_dim)`."""
    cos, sin = rope_cos_sin(positions, head_dim, theta, interleave)
    cos, sin = cos.unsqueeze(-3), sin.unsqueeze(-3)  # head axis
    if positions.ndim == 2:
        cos, sin = cos.unsqueeze(0), sin.unsqueeze(0)
    return cos.to(dtype), sin.to(dtype)


def config_rope_tables(
    config: VJEPA2Config, positions: torch.Tensor, grid: tuple[int, int, int], head_dim: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """`rope_tables` with the RoPE variant of `config` (V-JEPA 2.1: interleaved, interpolated positions)."""
    if config.interpolate_rope:
        positions = scale_positions(positions, grid, config.rope_pretrained_grid_size)
    return rope_tables(positions, head_dim, dtype, config.rope_theta, config.use_rope_interleave)


class VJEPA2Encoder(nn.Module):
    """The V-JEPA 2 video ViT (official `VisionTransformer` with RoPE). No cls token, no absolute positions."""

    def __init__(self, config: VJEPA2Config) -> None:
        super().__init__()
        self.config = config
        self.embeddings = VJEPA2Embeddings(config, config.hidden_size)
        rates = _drop_path_rates(config.drop_path_rate, config.num_hidden_layers)
        self.layer = nn.ModuleList(
            VJEPA2Layer(config, config.hidden_size, config.num_attention_heads, config.mlp_ratio, rates[i], i)
            for i in range(config.num_hidden_layers)
        )
        if config.is_vjepa2_1:  # one LayerNorm per hierarchical layer; the last one is the final norm
            self.norms_block = nn.ModuleList(
                nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) for _ in config.hierarchical_layers
            )
            levels = config.hierarchical_layers[-config.num_distillation_outputs:]
            self._level_norms = {layer: config.hierarchical_layers.index(layer) for layer in levels}
        else:
            self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    @property
    def final_norm(self) -> nn.LayerNorm:
        """The LayerNorm of the plain output (V-JEPA 2.1: `norms_block[-1]`)."""
        return self.norms_block[-1] if self.config.is_vjepa2_1 else self.layernorm

    def _tap_norm(self, layer: int) -> nn.LayerNorm:
        """Norm of an `output_layers` tap: the layer's own `norms_block` entry in V-JEPA 2.1 (official `out_layers`),
        else the final norm."""
        if self.config.is_vjepa2_1 and layer in self.config.hierarchical_layers:
            return self.norms_block[self.config.hierarchical_layers.index(layer)]
        return self.final_norm

    @staticmethod
    def _visible_tokens(
        hidden_states: torch.Tensor, grid: tuple[int, int, int], visible_masks: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The tokens of each visible set, concatenated along the tokens, and their `(t, h, w)` positions."""
        batch, num_tokens, _ = hidden_states.shape
        tokens, positions = [], []
        for mask in visible_masks:
            validate_token_indices("visible_mask", mask, batch, num_tokens)
            mask = mask.to(hidden_states.device)
            tokens.append(apply_masks(hidden_states, [mask]))
            positions.append(index_to_positions(mask, grid))
        if len(visible_masks) == 1:
            return tokens[0], positions[0]
        return torch.cat(tokens, dim=1), torch.cat(positions, dim=1)

    def forward_visible_sets(
        self, pixel_values_videos: torch.Tensor, visible_masks: Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        """The final features of several visible-token sets of the same clips, in one pass.

        Equal to ``[self(pixel_values_videos, visible_mask=m).last_hidden_state for m in visible_masks]`` (the
        official encoder runs once per mask configuration), computed once: the sets are packed along the token axis
        and attend only within themselves (a block-diagonal mask), so the patch embedding runs once, every linear
        layer runs one larger matrix product, and each weight gets one gradient instead of a sum of per-set
        gradients (in fp32 that sum was a full-model `add` per step). With an attention kernel that takes no mask
        (flash_attention_2) the sets run one after the other.

        Args:
            pixel_values_videos (`torch.FloatTensor` of shape `(batch_size, num_frames, num_channels, height, width)`).
            visible_masks (`list[torch.LongTensor]`): index tensors `(batch_size, K_m)` of visible tokens.

        Returns:
            `list[torch.FloatTensor]`: per set, `(batch_size, K_m, hidden_size)`.
        """
        if (self.config._attn_implementation or "sdpa") not in ("sdpa", "eager") or len(visible_masks) == 1:
            return [self(pixel_values_videos, visible_mask=m).last_hidden_state for m in visible_masks]
        check_finite_inputs(pixel_values_videos, self.config)
        hidden_states, grid = self.embeddings(pixel_values_videos)
        hidden_states, positions = self._visible_tokens(hidden_states, grid, visible_masks)
        sizes = [m.shape[1] for m in visible_masks]
        segment = torch.repeat_interleave(torch.arange(len(sizes), device=hidden_states.device),
                                          torch.tensor(sizes, device=hidden_states.device))
        same_set = segment[:, None] == segment[None, :]  # (K, K) block diagonal
        head_dim = self.config.hidden_size // self.config.num_attention_heads
        cos, sin = config_rope_tables(self.config, positions, grid, head_dim, hidden_states.dtype)
        for layer in self.layer:
            hidden_states, _ = layer(hidden_states, cos, sin, attention_mask=same_set)
        return list(self.final_norm(hidden_states).split(sizes, dim=1))

    def forward(
        self,
        pixel_values_videos: torch.Tensor,
        visible_mask: torch.Tensor | None = None,
        output_layers: Sequence[int] | None = None,
        output_hidden_states: bool | int | Sequence[int] = False,
        output_attentions: bool = False,
        output_hierarchical: bool = False,
    ) -> VJEPA2EncoderOutput:
        check_finite_inputs(pixel_values_videos, self.config)
        hidden_states, grid = self.embeddings(pixel_values_videos)
        if visible_mask is None:
            positions = grid_positions(*grid, device=hidden_states.device)
        else:
            hidden_states, positions = self._visible_tokens(hidden_states, grid, [visible_mask])
        head_dim = self.config.hidden_size // self.config.num_attention_heads
        cos, sin = config_rope_tables(self.config, positions, grid, head_dim, hidden_states.dtype)
        if output_hierarchical and not self.config.is_vjepa2_1:
            raise ValueError("`output_hierarchical=True` needs a V-JEPA 2.1 config (`hierarchical_layers` set)")
        levels = self._level_norms if output_hierarchical else {}

        taps = set()
        if output_layers is not None:
            depth = len(self.layer)
            taps = {i % depth for i in output_layers}
            bad = [i for i in output_layers if not -depth <= i < depth]
            if bad:
                raise ValueError(f"`output_layers` must index the {depth} encoder blocks, got {list(output_layers)}")
        keep = selected_hidden_states(output_hidden_states, len(self.layer))
        all_hidden = None if keep is None else (hidden_states,) if 0 in keep else ()
        all_attentions = () if output_attentions else None
        tapped: dict[int, torch.Tensor] = {}
        hierarchy: list[torch.Tensor] = []
        for i, layer in enumerate(self.layer):
            hidden_states, weights = layer(hidden_states, cos, sin, output_attentions=output_attentions)
            if keep is not None and i + 1 in keep:
                all_hidden = all_hidden + (hidden_states,)
            if output_attentions:
                all_attentions = all_attentions + (weights,)
            if i in taps:
                tapped[i] = self._tap_norm(i)(hidden_states)
            if i in levels:
                hierarchy.append(self.norms_block[levels[i]](hidden_states))
        hidden_states = self.final_norm(hidden_states)
        intermediate = None
        if output_layers is not None:
            intermediate = tuple(tapped[i % len(self.layer)] for i in output_layers)
        return VJEPA2EncoderOutput(
            last_hidden_state=hidden_states,
            pooler_output=hidden_states.mean(dim=1),
            intermediate_hidden_states=intermediate,
            hidden_states=all_hidden,
            attentions=all_attentions,
            grid=grid,
            hierarchical_hidden_state=torch.cat(hierarchy, dim=-1) if output_hierarchical else None,
        )


class VJEPA2PredictorEmbeddings(nn.Module):
    """Projects context tokens to the predictor width and builds the mask tokens of the targets."""

    def __init__(self, config: VJEPA2Config) -> None:
        super().__init__()
        self.config = config
        self.zero_init_mask_tokens = config.pred_zero_init_mask_tokens
        levels = config.num_hierarchical_levels
        if levels == 1:
            self.predictor_embeddings = nn.Linear(config.hidden_size, config.pred_hidden_size)
        else:  # V-JEPA 2.1: an MLP over the concatenated levels (official `predictor_embed` Sequential)
            self.predictor_embeddings = nn.Sequential(
                nn.Linear(config.hidden_size * levels, config.hidden_size),
                nn.GELU(),
                nn.Linear(config.hidden_size, config.pred_hidden_size),
            )
        self.mask_tokens = nn.Parameter(torch.zeros(config.pred_num_mask_tokens, 1, 1, config.pred_hidden_size))

    def forward(self, context: torch.Tensor, num_targets: int, mask_index: int) -> torch.Tensor:
        """`context` `(B', Kc, D)` -> `(B', Kc + num_targets, D_pred)` (context first, then mask tokens)."""
        context = self.predictor_embeddings(context)
        token = self.mask_tokens[mask_index % self.mask_tokens.shape[0]].to(context.dtype)  # (1, 1, D_pred)
        targets = token.expand(context.shape[0], num_targets, -1)
        return torch.cat([context, targets], dim=1)


class VJEPA2Predictor(nn.Module):
    """The V-JEPA 2 mask-token predictor (official `VisionTransformerPredictor`)."""

    def __init__(self, config: VJEPA2Config) -> None:
        super().__init__()
        self.config = config
        self.embeddings = VJEPA2PredictorEmbeddings(config)
        rates = _drop_path_rates(config.drop_path_rate, config.pred_num_hidden_layers)
        self.layer = nn.ModuleList(
            VJEPA2Layer(
                config, config.pred_hidden_size, config.pred_num_attention_heads, config.pred_mlp_ratio, rates[i], i
            )
            for i in range(config.pred_num_hidden_layers)
        )
        self.layernorm = nn.LayerNorm(config.pred_hidden_size, eps=config.layer_norm_eps)
        self.proj = nn.Linear(config.pred_hidden_size, config.pred_output_size)
        if config.return_all_tokens:  # V-JEPA 2.1 `predictor_proj_context`
            self.proj_context = nn.Linear(config.pred_hidden_size, config.pred_output_size)
        if config.use_modality_embeddings and config.use_image_patch_embedder:
            self.image_modality_embedding = nn.Parameter(torch.zeros(1, 1, config.pred_hidden_size))
            self.video_modality_embedding = nn.Parameter(torch.zeros(1, 1, config.pred_hidden_size))

    def _check_inputs(
        self,
        encoder_hidden_states: torch.Tensor,
        context_mask: Sequence[torch.Tensor],
        target_mask: Sequence[torch.Tensor],
        grid: tuple[int, int, int],
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Validate the masks and features (`ValueError` naming the argument); repeat one batch over the masks."""
        context_mask, target_mask = list(context_mask), list(target_mask)
        if not context_mask or len(context_mask) != len(target_mask):
            raise ValueError(
                f"`context_mask` and `target_mask` must be non-empty lists of the same length, got "
                f"{len(context_mask)} and {len(target_mask)}"
            )
        batch = context_mask[0].shape[0] if isinstance(context_mask[0], torch.Tensor) else None
        num_tokens = grid[0] * grid[1] * grid[2]
        for name, masks in (("context_mask", context_mask), ("target_mask", target_mask)):
            for mask in masks:
                validate_token_indices(name, mask, batch, num_tokens)
        num_masks = len(context_mask)
        if encoder_hidden_states.shape[0] == batch and num_masks > 1:
            encoder_hidden_states = encoder_hidden_states.repeat(num_masks, 1, 1)
        if encoder_hidden_states.shape[0] != batch * num_masks:
            raise ValueError(
                f"`encoder_hidden_states` must have batch_size * num_masks = {batch * num_masks} (or {batch}) rows, "
                f"got shape {tuple(encoder_hidden_states.shape)}"
            )
        expected_width = self.config.hidden_size * self.config.num_hierarchical_levels
        if encoder_hidden_states.shape[-1] != expected_width:
            raise ValueError(
                f"`encoder_hidden_states` must have {expected_width} channels (hidden_size x "
                f"{self.config.num_hierarchical_levels} level(s)), got shape {tuple(encoder_hidden_states.shape)}"
            )
        if encoder_hidden_states.shape[1] != context_mask[0].shape[1]:
            raise ValueError(
                f"`encoder_hidden_states` has {encoder_hidden_states.shape[1]} tokens but `context_mask` selects "
                f"{context_mask[0].shape[1]}"
            )
        return encoder_hidden_states, context_mask, target_mask

    def forward(
        self,
        encoder_hidden_states: torch.Tensor,
        context_mask: Sequence[torch.Tensor],
        target_mask: Sequence[torch.Tensor],
        grid: tuple[int, int, int],
        mask_index: int = 1,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        modality: str = "video",
    ) -> VJEPA2PredictorOutput:
        r"""Predict the encoder features of the target tokens from those of the context tokens.

        Args:
            encoder_hidden_states (`torch.FloatTensor` of shape `(batch_size * num_masks, num_context, hidden_size)`):
                encoder features of the context tokens, mask `m` in rows `m * B:(m + 1) * B` (the layout of
                `apply_masks`). A `(batch_size, num_context, hidden_size)` tensor is repeated over the masks.
            context_mask (`list[torch.LongTensor]`): `num_masks` index tensors `(batch_size, num_context)`.
            target_mask (`list[torch.LongTensor]`): `num_masks` index tensors `(batch_size, num_target)`.
            grid (`tuple[int, int, int]`): token grid `(T', H', W')` the indices refer to.
            mask_index (`int`): which mask token to use (modulo their number). transformers and the anticipation
                eval use 1; official pretraining uses the frames-per-clip group (0 for a single group).
            modality (`str`): `"video"` or `"image"`, the modality embedding of a V-JEPA 2.1 predictor.

        V-JEPA 2.1: `encoder_hidden_states` holds the hierarchical features (`levels * hidden_size` channels), the
        outputs have `config.pred_output_size` channels, and with `return_all_tokens` `context_hidden_state` holds
        the predictions at the context tokens.

        Returns:
            [`VJEPA2PredictorOutput`] with `last_hidden_state` `(batch_size * num_masks, num_target, hidden_size)`.
        """
        encoder_hidden_states, context_mask, target_mask = self._check_inputs(
            encoder_hidden_states, context_mask, target_mask, grid
        )
        device = encoder_hidden_states.device
        context_ids = torch.cat(context_mask, dim=0).to(device)
        target_ids = torch.cat(target_mask, dim=0).to(device)
        num_context = context_ids.shape[1]
        hidden_states = self.embeddings(encoder_hidden_states, target_ids.shape[1], mask_index)
        positions = torch.cat([context_ids, target_ids], dim=1)

        # Sort tokens by position, as the official predictor does.
        order = torch.argsort(positions, dim=1)
        positions = torch.gather(positions, 1, order)
        hidden_states = torch.gather(hidden_states, 1, order.unsqueeze(-1).expand(-1, -1, hidden_states.shape[-1]))

        if hasattr(self, "video_modality_embedding"):
            if modality not in ("video", "image"):
                raise ValueError(f"`modality` must be 'video' or 'image', got {modality!r}")
            embedding = self.image_modality_embedding if modality == "image" else self.video_modality_embedding
            hidden_states = hidden_states + embedding
        head_dim = self.config.pred_hidden_size // self.config.pred_num_attention_heads
        cos, sin = config_rope_tables(
            self.config, index_to_positions(positions, grid), grid, head_dim, hidden_states.dtype
        )
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layer:
            hidden_states, weights = layer(hidden_states, cos, sin, output_attentions=output_attentions)
            if output_hidden_states:
                all_hidden = all_hidden + (hidden_states,)
            if output_attentions:
                all_attentions = all_attentions + (weights,)
        hidden_states = self.layernorm(hidden_states)
        unsort = torch.argsort(order, dim=1)
        hidden_states = torch.gather(hidden_states, 1, unsort.unsqueeze(-1).expand(-1, -1, hidden_states.shape[-1]))
        context_states = None
        if self.config.return_all_tokens:
            context_states = self.proj_context(hidden_states[:, :num_context])
        hidden_states = self.proj(hidden_states[:, num_context:])
        return VJEPA2PredictorOutput(
            last_hidden_state=hidden_states,
            hidden_states=all_hidden,
            attentions=all_attentions,
            context_hidden_state=context_states,
        )


# ----------------------------------------------------------------------------------------------------------------
# Pretrained models
# ----------------------------------------------------------------------------------------------------------------


class VJEPA2PreTrainedModel(StrictLoadingMixin, PreTrainedModel):
    config_class = VJEPA2Config
    config: VJEPA2Config
    base_model_prefix = "vjepa2"
    main_input_name = "pixel_values_videos"
    input_modalities = "video"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True  # no attention mask: any registered kernel applies
    _no_split_modules = ["VJEPA2Layer", "VJEPA2PredictorEmbeddings"]

    @classmethod
    def _can_set_attn_implementation(cls) -> bool:
        # attention reads `config._attn_implementation` at every call (`modeling_blocks`), so
        # `set_attn_implementation` may switch it (transformers' source heuristic only reads this file)
        return True

    def _init_weights(self, module: nn.Module) -> None:
        """Official initialisation: truncated normal (std `initializer_range`, absolute bounds +-2) on Linear and
        Conv weights, zero biases, unit LayerNorms, zero mask tokens, and the residual projections of block `l`
        (`attention.proj`, `mlp.fc2`) scaled by `1 / sqrt(2 * (l + 1))` (official `_rescale_blocks`)."""
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d)):
            # residual projections of block l carry `residual_depth = l + 1` (set in VJEPA2Layer)
            scale = math.sqrt(2.0 * getattr(module, "residual_depth", 0.5))
            init.trunc_normal_(module.weight, mean=0.0, std=std / scale, a=-2.0 / scale, b=2.0 / scale)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, (VJEPA2Embeddings, VJEPA2Predictor)) and hasattr(module, "video_modality_embedding"):
            init.normal_(module.image_modality_embedding, mean=0.0, std=1e-6)  # official V-JEPA 2.1 init
            init.normal_(module.video_modality_embedding, mean=0.0, std=1e-6)
        elif isinstance(module, VJEPA2PredictorEmbeddings):
            if module.zero_init_mask_tokens:
                init.zeros_(module.mask_tokens)
            else:
                init.trunc_normal_(module.mask_tokens, mean=0.0, std=std, a=-2.0, b=2.0)

    def resolve_output_flags(
        self, output_hidden_states: bool | None, output_attentions: bool | None, return_dict: bool | None
    ) -> tuple[bool, bool, bool]:
        """The `forward` flags, with `None` taken from the config (transformers' convention)."""
        config = self.config
        return (
            config.output_hidden_states if output_hidden_states is None else output_hidden_states,
            config.output_attentions if output_attentions is None else output_attentions,
            config.return_dict if return_dict is None else return_dict,
        )


class VJEPA2EncoderHolder(VJEPA2PreTrainedModel):
    """Base of the models whose context encoder is `self.encoder` (a [`VJEPA2Encoder`]): input embeddings, token grid
    and plain features in one place."""

    encoder: "VJEPA2Encoder"

    def get_input_embeddings(self) -> VJEPA2PatchEmbeddings3D:
        return self.encoder.embeddings.patch_embeddings

    def get_grid(self, pixel_values_videos: torch.Tensor) -> tuple[int, int, int]:
        """Token grid `(T', H', W')` of an input; raises a `ValueError` for an invalid one."""
        return self.encoder.embeddings.grid(pixel_values_videos)

    def get_vision_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """Encoder features `(batch_size, num_tokens, hidden_size)` of a video (no predictor)."""
        return self.encoder(pixel_values_videos).last_hidden_state


class VJEPA2Model(VJEPA2EncoderHolder):
    """V-JEPA 2 encoder and predictor, with transformers' `VJEPA2Model.forward` arguments and outputs."""

    def __init__(self, config: VJEPA2Config) -> None:
        super().__init__(config)
        self.encoder = VJEPA2Encoder(config)
        self.predictor = VJEPA2Predictor(config)
        self.post_init()

    def _resolve_masks(
        self,
        pixel_values_videos: torch.Tensor,
        context_mask: list[torch.Tensor] | torch.Tensor | None,
        target_mask: list[torch.Tensor] | torch.Tensor | None,
        skip_predictor: bool,
    ) -> tuple[tuple[int, int, int], list[torch.Tensor], list[torch.Tensor]]:
        """Token grid and the mask lists (all tokens when neither mask is given); validates `context_mask`."""
        grid = self.get_grid(pixel_values_videos)
        batch = pixel_values_videos.shape[0]
        num_tokens = grid[0] * grid[1] * grid[2]
        if (context_mask is None) != (target_mask is None) and not skip_predictor:
            raise ValueError("pass both `context_mask` and `target_mask`, or neither (all tokens for both)")
        if context_mask is None:
            full = torch.arange(num_tokens, device=pixel_values_videos.device).unsqueeze(0).repeat(batch, 1)
            context_mask = [full]
            target_mask = [full] if target_mask is None else target_mask
        if isinstance(context_mask, torch.Tensor):
            context_mask = [context_mask]
        if isinstance(target_mask, torch.Tensor):
            target_mask = [target_mask]
        for mask in context_mask:
            validate_token_indices("context_mask", mask, batch, num_tokens)

        return grid, context_mask, target_mask

    def _encode(
        self,
        pixel_values_videos: torch.Tensor,
        context_mask: list[torch.Tensor],
        mask_encoder_input: bool,
        flags: dict,
    ) -> tuple:
        """(sequence output, context features, hidden states, attentions, hierarchical features) of the encoder,
        run on the whole clip or on each context (`mask_encoder_input`)."""
        if mask_encoder_input:
            outputs = [self.encoder(pixel_values_videos, visible_mask=mask, **flags) for mask in context_mask]
            sequence_output = torch.cat([o.last_hidden_state for o in outputs], dim=0)
            single = len(outputs) == 1
            hierarchy = None
            if flags["output_hierarchical"]:
                hierarchy = torch.cat([o.hierarchical_hidden_state for o in outputs], dim=0)
            return (sequence_output, sequence_output, outputs[0].hidden_states if single else None,
                    outputs[0].attentions if single else None, hierarchy)
        encoder_output = self.encoder(pixel_values_videos, **flags)
        sequence_output = encoder_output.last_hidden_state
        return (sequence_output, apply_masks(sequence_output, context_mask), encoder_output.hidden_states,
                encoder_output.attentions, encoder_output.hierarchical_hidden_state)

    @can_return_tuple
    def forward(
        self,
        pixel_values_videos: torch.Tensor,
        context_mask: list[torch.Tensor] | None = None,
        target_mask: list[torch.Tensor] | None = None,
        skip_predictor: bool = False,
        mask_index: int = 1,
        mask_encoder_input: bool = False,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        output_hierarchical: bool = False,
        **kwargs,
    ) -> VJEPA2ModelOutput | tuple:
        r"""
        Args:
            pixel_values_videos (`torch.FloatTensor` of shape `(batch_size, num_frames, num_channels, height, width)`):
                normalised video. `num_frames` is 1 (an image) or a multiple of `tubelet_size`; height and width are
                multiples of `patch_size`, square or not.
            context_mask (`list[torch.LongTensor]`, *optional*): index tensors `(batch_size, num_context)` of the
                tokens the predictor sees. Defaults (with `target_mask`) to all tokens.
            target_mask (`list[torch.LongTensor]`, *optional*): index tensors `(batch_size, num_target)` of the
                tokens to predict.
            skip_predictor (`bool`): only run the encoder.
            mask_index (`int`, defaults to 1): mask token of the predictor (transformers' default; pretraining uses 0).
            mask_encoder_input (`bool`, defaults to `False`): `False` is transformers' meaning: the encoder sees the
                whole clip and `context_mask` selects its outputs. `True` runs the encoder on the context tokens only
                (the official encoder's `masks` argument, as in pretraining); `last_hidden_state` then holds
                `(batch_size * num_masks, num_context, hidden_size)`.
            output_hidden_states, output_attentions: return the encoder's hidden states / attention maps.
                `output_hidden_states` may also be an index or a list of indices into the hidden states (0 = the
                embeddings, `i` = block `i - 1`, negative from the end): only those are kept (transformers 5's
                selection).
            output_hierarchical (`bool`): V-JEPA 2.1: also return `hierarchical_hidden_state`
                `(batch_size, num_tokens, levels * hidden_size)`. V-JEPA 2.1 predictors always read these features
                of the context tokens (as the official training does).

        Returns:
            [`VJEPA2ModelOutput`].
        """
        output_hidden_states, output_attentions, _ = self.resolve_output_flags(output_hidden_states, output_attentions, None)
        if pixel_values_videos is None:
            raise ValueError("`pixel_values_videos` is required: a tensor [batch, frames, channels, height, width]")
        grid, context_mask, target_mask = self._resolve_masks(pixel_values_videos, context_mask, target_mask,
                                                              skip_predictor)
        v21 = self.config.is_vjepa2_1
        hierarchical = v21 and (output_hierarchical or not skip_predictor)
        if output_hierarchical and not v21:
            raise ValueError("`output_hierarchical=True` needs a V-JEPA 2.1 config (`hierarchical_layers` set)")
        flags = dict(output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                     output_hierarchical=hierarchical)
        sequence_output, masked_hidden_state, hidden_states, attentions, hierarchy = self._encode(
            pixel_values_videos, context_mask, mask_encoder_input, flags
        )
        predictor_input = masked_hidden_state
        if hierarchical:
            predictor_input = hierarchy if mask_encoder_input else apply_masks(hierarchy, context_mask)
        predictor_output = None
        if not skip_predictor:
            modality = "image" if self.encoder.embeddings.is_image(pixel_values_videos) else "video"
            predictor_output = self.predictor(
                predictor_input, context_mask, target_mask, grid, mask_index, modality=modality
            )
            targets = hierarchy if v21 else sequence_output
            if not mask_encoder_input and targets.shape[-1] == self.config.pred_output_size:
                predictor_output.target_hidden_state = apply_masks(targets, target_mask)
        output = VJEPA2ModelOutput(
            last_hidden_state=sequence_output,
            masked_hidden_state=masked_hidden_state,
            hidden_states=hidden_states,
            attentions=attentions,
            hierarchical_hidden_state=hierarchy if output_hierarchical else None,
            predictor_output=predictor_output,
        )
        return output


class VJEPA2VisionModel(VJEPA2EncoderHolder):
    """The V-JEPA 2 encoder alone, for use inside other models (probes, V-JEPA 2-AC, VLMs) and feature extraction.

    Loads any V-JEPA 2 checkpoint; the predictor weights of a full checkpoint are dropped by rule
    (`_keys_to_ignore_on_load_unexpected` lists exactly `predictor.*`).
    """

    _keys_to_ignore_on_load_unexpected = [r"^predictor\."]

    def __init__(self, config: VJEPA2Config) -> None:
        super().__init__(config)
        self.encoder = VJEPA2Encoder(config)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        pixel_values_videos: torch.Tensor,
        visible_mask: torch.Tensor | None = None,
        output_layers: Sequence[int] | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        output_hierarchical: bool = False,
        **kwargs,
    ) -> VJEPA2EncoderOutput | tuple:
        r"""
        Args:
            pixel_values_videos (`torch.FloatTensor` of shape `(batch_size, num_frames, num_channels, height, width)`).
            visible_mask (`torch.LongTensor` of shape `(batch_size, num_visible)`, *optional*): run the encoder on
                these tokens only (each keeps its position in the full grid).
            output_layers (`list[int]`, *optional*): blocks whose final-normed outputs go to
                `intermediate_hidden_states` (the official `out_layers`, e.g. `[17, 19, 21, 23]` for ViT-L).
            output_hidden_states (`bool`, `int` or `list[int]`, *optional*): `True` for all `num_hidden_layers + 1`
                hidden states, or the indices of those to keep (0 = the embeddings; transformers 5's selection).
            output_hierarchical (`bool`): V-JEPA 2.1: also return `hierarchical_hidden_state`
                `(batch_size, num_tokens, levels * hidden_size)` (dense features of every level).

        Returns:
            [`VJEPA2EncoderOutput`] with `last_hidden_state` `(batch_size, num_tokens, hidden_size)` and the mean
            token as `pooler_output` `(batch_size, hidden_size)`.
        """
        output_hidden_states, output_attentions, _ = self.resolve_output_flags(output_hidden_states, output_attentions, None)
        output = self.encoder(
            pixel_values_videos,
            visible_mask=visible_mask,
            output_layers=output_layers,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            output_hierarchical=output_hierarchical,
        )
        return output


__all__ = [
    "VJEPA2PreTrainedModel",
    "VJEPA2EncoderHolder",
    "VJEPA2Model",
    "VJEPA2VisionModel",
    "VJEPA2Encoder",
    "VJEPA2Predictor",
    "VJEPA2Layer",
    "VJEPA2RopeAttention",
    "VJEPA2ModelOutput",
    "VJEPA2PredictorOutput",
    "VJEPA2EncoderOutput",
    "apply_masks",
]
