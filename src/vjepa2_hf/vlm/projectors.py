"""Projectors from V-JEPA 2 encoder tokens to language-model input embeddings.

Three designs, as in the paper's controlled study (App. E) and transformers' VLMs:

* `VJEPA2VLMMLPProjector` (`"mlp"`): Linear -> GELU -> Linear on every encoder token, no pooling. The paper's
  state-of-the-art model (ViT-g/384 + Llama 3.1 8B) uses it: 576 tokens per 2-frame tubelet = 288 per frame.
* `VJEPA2VLMPoolingProjector` (`"avgpool_mlp"`): every tubelet's `(H', W')` token grid is average-pooled by a
  stride `s` (PerceptionLM / LLaVA-NeXT-Video style), then the MLP. Pooling is applied before the MLP, which is
  cheaper than PLM's MLP-then-pool and equivalent up to the non-linearity.
* `VJEPA2VLMMergeProjector` (`"merge_mlp"`): every `s x s` block of a tubelet's token grid is concatenated along
  channels (Qwen2-VL's `PatchMerger`, InternVL's pixel shuffle), normalised, then the MLP: `s^2` times fewer tokens
  with the block's spatial layout kept in the channels.
* `VJEPA2VLMAttentivePoolProjector` (`"attentive_pool"`): `Q` learned queries cross-attend the tokens of each
  tubelet (one V-JEPA attentive-probe block: cross-attention + MLP, pre-norm), then the MLP. With
  `Q = tokens_per_tubelet / ratio` this is the paper's ratio-4 (or 8) attentive pooler (Table 21).

Every projector maps `[B, N, D_in]` with a token grid `(T', H', W')` (time-major, `N = T' H' W'`) to
`[B, N_out, D_llm]`, keeping time order, so the language model reads the video tubelet by tubelet.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN

from .configuration_vjepa2_vlm import VJEPA2VLMConfig


class VJEPA2VLMMLPProjector(nn.Module):
    """Optional LayerNorm, then `Linear(D_in, D_llm) -> act -> Linear(D_llm, D_llm)` on every token."""

    def __init__(self, config: VJEPA2VLMConfig, input_size: int | None = None) -> None:
        super().__init__()
        in_size = config.projector_input_size if input_size is None else input_size
        out_size = config.text_config.hidden_size
        self.pre_norm = (
            nn.LayerNorm(in_size, eps=config.vision_config.layer_norm_eps)
            if config.projector_pre_norm
            else nn.Identity()
        )
        self.linear_1 = nn.Linear(in_size, out_size, bias=config.projector_bias)
        self.act = ACT2FN[config.projector_hidden_act]
        self.linear_2 = nn.Linear(out_size, out_size, bias=config.projector_bias)

    def forward(self, features: torch.Tensor, grid: tuple[int, int, int] | None = None) -> torch.Tensor:
        """features `[B, N, D_in]` -> `[B, N, D_llm]` (`grid` is unused)."""
        features = features.to(self.linear_1.weight.dtype)
        return self.linear_2(self.act(self.linear_1(self.pre_norm(features))))


class VJEPA2VLMPoolingProjector(nn.Module):
    """Spatial average pooling of every tubelet's token grid by `projector_pool_stride`, then the MLP."""

    def __init__(self, config: VJEPA2VLMConfig) -> None:
        super().__init__()
        self.stride = config.projector_pool_stride
        self.mlp = VJEPA2VLMMLPProjector(config)

    def forward(self, features: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """features `[B, T' H' W', D_in]` -> `[B, T' ceil(H'/s) ceil(W'/s), D_llm]`."""
        t, h, w = grid
        b, n, d = features.shape
        x = features.reshape(b * t, h, w, d).permute(0, 3, 1, 2)  # (B T', D, H', W')
        out_h, out_w = -(-h // self.stride), -(-w // self.stride)
        x = F.adaptive_avg_pool2d(x, (out_h, out_w))  # (B T', D, h', w')
        x = x.permute(0, 2, 3, 1).reshape(b, t * out_h * out_w, d)
        return self.mlp(x)


class VJEPA2VLMMergeProjector(nn.Module):
    """Concatenate every `s x s` block of tokens of a tubelet along channels, LayerNorm, then the MLP."""

    def __init__(self, config: VJEPA2VLMConfig) -> None:
        super().__init__()
        self.stride = config.projector_pool_stride
        merged = config.projector_input_size * self.stride**2
        self.norm = nn.LayerNorm(merged, eps=config.vision_config.layer_norm_eps)
        self.mlp = VJEPA2VLMMLPProjector(config, input_size=merged)

    def forward(self, features: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """features `[B, T' H' W', D_in]` -> `[B, T' (H'/s) (W'/s), D_llm]` (row-major blocks, time-major)."""
        t, h, w = grid
        s = self.stride
        if h % s or w % s:
            raise ValueError(f"`merge_mlp` needs a token grid divisible by {s}, got {h}x{w}")
        b, n, d = features.shape
        x = features.reshape(b, t, h // s, s, w // s, s, d).permute(0, 1, 2, 4, 3, 5, 6)  # (B, T', h', w', s, s, D)
        x = x.reshape(b, t * (h // s) * (w // s), s * s * d)
        return self.mlp(self.norm(x.to(self.norm.weight.dtype)))


class VJEPA2VLMAttentivePoolProjector(nn.Module):
    """Learned queries cross-attending each tubelet's tokens (one pre-norm block), then the MLP.

    The block is the V-JEPA attentive-probe cross-attention block: `q = queries + CrossAttn(LN(queries), LN(x))`,
    `q = q + MLP(LN(q))`. The same queries are shared by all tubelets, so the output keeps time order.
    """

    def __init__(self, config: VJEPA2VLMConfig) -> None:
        super().__init__()
        dim = config.projector_input_size
        eps = config.vision_config.layer_norm_eps
        self.num_queries = config.attentive_num_queries
        self.num_heads = config.projector_num_heads or config.vision_config.num_attention_heads
        self.query_tokens = nn.Parameter(torch.zeros(self.num_queries, dim))
        self.norm_q = nn.LayerNorm(dim, eps=eps)
        self.norm_kv = nn.LayerNorm(dim, eps=eps)
        self.q_proj = nn.Linear(dim, dim)
        self.kv_proj = nn.Linear(dim, 2 * dim)
        self.out_proj = nn.Linear(dim, dim)
        self.norm_mlp = nn.LayerNorm(dim, eps=eps)
        hidden = int(dim * 4)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.mlp = VJEPA2VLMMLPProjector(config)

    def forward(self, features: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """features `[B, T' H' W', D_in]` -> `[B, T' Q, D_llm]`."""
        t, h, w = grid
        b, n, d = features.shape
        features = features.to(self.q_proj.weight.dtype)
        x = features.reshape(b * t, h * w, d)  # (B T', H' W', D)
        heads, hd = self.num_heads, d // self.num_heads
        q0 = self.query_tokens.unsqueeze(0).expand(b * t, -1, -1)  # (B T', Q, D)
        q = self.q_proj(self.norm_q(q0)).reshape(b * t, self.num_queries, heads, hd).transpose(1, 2)
        k, v = self.kv_proj(self.norm_kv(x)).reshape(b * t, h * w, 2, heads, hd).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v)  # (B T', heads, Q, hd)
        q1 = q0 + self.out_proj(attn.transpose(1, 2).reshape(b * t, self.num_queries, d))
        q1 = q1 + self.fc2(F.gelu(self.fc1(self.norm_mlp(q1))))
        return self.mlp(q1.reshape(b, t * self.num_queries, d))


PROJECTOR_CLASSES: dict[str, type[nn.Module]] = {
    "mlp": VJEPA2VLMMLPProjector,
    "avgpool_mlp": VJEPA2VLMPoolingProjector,
    "merge_mlp": VJEPA2VLMMergeProjector,
    "attentive_pool": VJEPA2VLMAttentivePoolProjector,
}


def build_projector(config: VJEPA2VLMConfig) -> nn.Module:
    """The projector named by `config.projector_type`."""
    return PROJECTOR_CLASSES[config.projector_type](config)


__all__ = [
    "PROJECTOR_CLASSES",
    "VJEPA2VLMAttentivePoolProjector",
    "VJEPA2VLMMLPProjector",
    "VJEPA2VLMMergeProjector",
    "VJEPA2VLMPoolingProjector",
    "build_projector",
]
