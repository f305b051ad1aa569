"""The transformer block shared by the encoder, the predictor and the V-JEPA 2-AC predictor.

Pre-norm block (official `Block` / `ACBlock`): fused `qkv` projection (official order `[q | k | v]`), 3-D RoPE on
queries and keys, exact-erf GELU MLP. The attention kernel comes from transformers' attention-function registry
(`ALL_ATTENTION_FUNCTIONS`), chosen by `config._attn_implementation` at every call: `"sdpa"` (default; without a
mask on CPU, PyTorch's flash kernel), `"flash_attention_2"` (where installed) or any registered function; `"eager"`
is the explicit softmax below, which is also what runs when `output_attentions=True` (only it has the weights).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .rope import swap_pairs

__all__ = ["VJEPA2DropPath", "VJEPA2Layer", "VJEPA2MLP", "VJEPA2RopeAttention", "eager_attention_forward"]


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention with float32 softmax (transformers' eager signature).

    Args:
        query, key, value (`torch.Tensor` of shape `(batch, heads, tokens, head_dim)`; keys/values may be longer).
        attention_mask (`torch.BoolTensor` of shape `(query_tokens, key_tokens)`, *optional*): True where allowed.

    Returns:
        `(output (batch, query_tokens, heads, head_dim), weights (batch, heads, query_tokens, key_tokens))`.
    """
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask, float("-inf"))
    weights = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    output = torch.matmul(F.dropout(weights, p=dropout, training=module.training), value)
    return output.transpose(1, 2).contiguous(), weights


def _rope_qkv(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """`qkv` `(3, B, h, N, hd)` -> `(query, key, value)`, RoPE applied to the queries and keys.

    Eagerly both are rotated at once (one kernel); under `torch.compile` each separately (the same values: inductor
    fuses it anyway), because with a dynamic token count inductor (torch 2.13, CPU) saves the two halves of the stacked
    tensor for backward with strides fixed at the first size, and the next size fails its stride check."""
    if torch.compiler.is_compiling():
        query, key, value = qkv.unbind(0)
        return torch.addcmul(query * cos, swap_pairs(query), sin), torch.addcmul(key * cos, swap_pairs(key), sin), value
    qk = torch.addcmul(qkv[:2] * cos, swap_pairs(qkv[:2]), sin)  # (2, B, h, N, hd)
    return (*qk.unbind(0), qkv[2])


class VJEPA2RopeAttention(nn.Module):
    """Multi-head self-attention with a fused `qkv` projection and 3-D RoPE on queries and keys.

    `cache` (the AC predictor's key/value cache: `update(layer_idx, key, value)` returns all keys/values of the
    layer) makes a block-causal rollout step compute only the newest frame.
    """

    is_causal = False  # the registry's sdpa would otherwise apply a causal mask when none is given

    def __init__(self, config: Any, hidden_size: int, num_attention_heads: int, layer_idx: int = 0) -> None:
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.num_heads = num_attention_heads
        self.head_dim = hidden_size // num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.dropout_prob = getattr(config, "attention_probs_dropout_prob", 0.0)
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(hidden_size, hidden_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cache: Any | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """
        Args:
            hidden_states (`torch.Tensor` of shape `(batch, tokens, hidden_size)`).
            cos, sin: RoPE tables broadcastable to `(batch, heads, tokens, head_dim)`.
            attention_mask (`torch.BoolTensor` of shape `(tokens, cached_tokens + tokens)`, *optional*): True where
                attention is allowed; None for full attention.
            cache: key/value cache to read past keys/values from and append the new ones to.
            output_attentions: also return the weights `(batch, heads, tokens, cached_tokens + tokens)` (eager).

        Returns:
            `(output (batch, tokens, hidden_size), weights or None)`.
        """
        batch, tokens, width = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch, tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        query, key, value = _rope_qkv(qkv, cos, sin)
        if cache is not None:
            key, value = cache.update(self.layer_idx, key, value)
        implementation = self.config._attn_implementation or "sdpa"
        if output_attentions or implementation == "eager":
            attention = eager_attention_forward
        else:
            attention = ALL_ATTENTION_FUNCTIONS[implementation]
        context, weights = attention(
            self, query, key, value, attention_mask,
            scaling=self.scaling, dropout=self.dropout_prob if self.training else 0.0,
        )
        context = context.reshape(batch, tokens, width)
        return self.proj(context), (weights if output_attentions else None)


class VJEPA2MLP(nn.Module):
    def __init__(self, hidden_size: int, mlp_ratio: float) -> None:
        super().__init__()
        intermediate = int(hidden_size * mlp_ratio)
        self.fc1 = nn.Linear(hidden_size, intermediate)
        self.activation = nn.GELU()  # exact erf GELU, as the released models
        self.fc2 = nn.Linear(intermediate, hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation(self.fc1(hidden_states)))


class VJEPA2DropPath(nn.Module):
    """Stochastic depth per sample."""

    def __init__(self, drop_prob: float) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return hidden_states
        keep = 1.0 - self.drop_prob
        shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
        mask = hidden_states.new_empty(shape).bernoulli_(keep)
        return hidden_states * mask / keep


class VJEPA2Layer(GradientCheckpointingLayer):
    """Pre-norm transformer block (official `Block`): `x + attn(norm1(x))`, then `x + mlp(norm2(x))`."""

    def __init__(
        self,
        config: Any,
        hidden_size: int,
        num_attention_heads: int,
        mlp_ratio: float,
        drop_path_rate: float = 0.0,
        layer_idx: int = 0,
    ) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.norm1 = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.attention = VJEPA2RopeAttention(config, hidden_size, num_attention_heads, layer_idx)
        self.drop_path = VJEPA2DropPath(drop_path_rate) if drop_path_rate > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.mlp = VJEPA2MLP(hidden_size, mlp_ratio)
        # official `_rescale_blocks`: these projections start with std / sqrt(2 * (layer_idx + 1))
        self.attention.proj.residual_depth = layer_idx + 1
        self.mlp.fc2.residual_depth = layer_idx + 1

    def forward(
        self,
        hidden_states: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cache: Any | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attention_output, weights = self.attention(
            self.norm1(hidden_states), cos, sin, attention_mask, cache, output_attentions
        )
        hidden_states = hidden_states + self.drop_path(attention_output)
        hidden_states = hidden_states + self.drop_path(self.mlp(self.norm2(hidden_states)))
        return hidden_states, weights
