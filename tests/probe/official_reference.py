"""The official V-JEPA 2 probe modules, written with the official structure and parameter names
(facebookresearch/vjepa2 `src/models/attentive_pooler.py`, `src/models/utils/modules.py`: `Block` with a fused
`attn.qkv`, `CrossAttentionBlock` with `xattn.q` and a fused `xattn.kv`, no output projection; `AttentiveClassifier`
with `linear`; the EK100 classifier with three queries and `verb/noun/action_classifier`). Used as the reference the
converted models must reproduce."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)  # eps 1e-5, PyTorch's default
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CrossAttention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=True)
        self.kv = nn.Linear(dim, dim * 2, bias=True)

    def forward(self, q, x):
        B, n, C = q.shape
        q = self.q(q).reshape(B, n, self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)
        B, N, C = x.shape
        kv = self.kv(x).reshape(B, N, 2, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q = F.scaled_dot_product_attention(q, kv[0], kv[1])
        return q.transpose(1, 2).reshape(B, n, C)


class CrossAttentionBlock(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.xattn = CrossAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, 4 * dim)

    def forward(self, q, x):
        q = q + self.xattn(q, self.norm1(x))
        return q + self.mlp(self.norm2(q))


class AttentivePooler(nn.Module):
    def __init__(self, num_queries, dim, num_heads, depth):
        super().__init__()
        self.query_tokens = nn.Parameter(torch.zeros(1, num_queries, dim))
        self.cross_attention_block = CrossAttentionBlock(dim, num_heads)
        self.blocks = nn.ModuleList(Block(dim, num_heads) for _ in range(depth - 1))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        q = self.query_tokens.repeat(len(x), 1, 1)
        return self.cross_attention_block(q, x)


class AttentiveClassifier(nn.Module):
    def __init__(self, dim, num_heads, depth, num_classes):
        super().__init__()
        self.pooler = AttentivePooler(1, dim, num_heads, depth)
        self.linear = nn.Linear(dim, num_classes)

    def forward(self, x):
        return self.linear(self.pooler(x).squeeze(1))


class EK100Classifier(nn.Module):
    def __init__(self, dim, num_heads, depth, num_verbs, num_nouns, num_actions):
        super().__init__()
        self.pooler = AttentivePooler(3, dim, num_heads, depth)
        self.verb_classifier = nn.Linear(dim, num_verbs)
        self.noun_classifier = nn.Linear(dim, num_nouns)
        self.action_classifier = nn.Linear(dim, num_actions)

    def forward(self, x):
        x = self.pooler(x)
        return dict(
            verb=self.verb_classifier(x[:, 0]), noun=self.noun_classifier(x[:, 1]), action=self.action_classifier(x[:, 2])
        )


def randomize(module: nn.Module, seed: int = 0, scale: float = 0.2) -> nn.Module:
    """Give every parameter (LayerNorms and queries included) non-trivial random values."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator) * scale
            if name.endswith("weight") and parameter.ndim == 1:  # LayerNorm weight around 1
                parameter.copy_(1.0 + noise)
            else:
                parameter.copy_(noise)
    return module.eval()


def official_probe_file(classifier: nn.Module, path, epoch: int = 20) -> None:
    """Save as the official eval does: `{"classifiers": [DDP state dict], "opt", "scaler", "epoch", ...}`."""
    state = {f"module.{k}": v for k, v in classifier.state_dict().items()}
    torch.save({"classifiers": [state], "opt": [{}], "scaler": [None], "epoch": epoch, "batch_size": 4,
                "world_size": 64}, path)
