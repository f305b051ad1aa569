"""The V-JEPA 2 attentive probe: self-attention blocks over the tokens, then learned queries cross-attend to them.

Official design (facebookresearch/vjepa2 `src/models/attentive_pooler.py`, `AttentivePooler(depth=4,
complete_block=True)`):

* `depth - 1` standard pre-norm self-attention blocks (no positional information, GELU MLP of ratio 4, fused
  qkv with bias, default `head_dim ** -0.5` scale) run over **all** encoder tokens first;
* one cross-attention block: `q = q + CrossAttention(q, LN1(x))`, `q = q + MLP(LN2(q))`. The queries are **not**
  normalised before attention and the cross-attention has **no output projection**;
* the classifier is a `Linear` on each query (one query for classification, three (verb, noun, action) for
  EK100 anticipation).

The parameter names follow transformers' `VJEPA2AttentivePooler` (`query_tokens`, `self_attention_layers.{k}.
{layer_norm1,self_attn.{q,k,v,out}_proj,layer_norm2,mlp.fc1,mlp.fc2}`, `cross_attention_layer.{layer_norm1,
cross_attn.{q,k,v}_proj,layer_norm2,mlp}`), so a probe trained here loads into transformers' classifier and
the other way round; `convert_probe_checkpoint.py` maps the official names (`blocks`, `attn.qkv`, `xattn.kv`,
`linear`) onto them.

Head count and LayerNorm eps are arguments: the official probes use 16 heads and eps 1e-5 (PyTorch's default);
transformers' classifier uses the encoder's head count (22 for ViT-g) and eps (1e-6).

Besides the modules, this file has a small feature-level trainer, [`train_attentive_probe`], that fits an
[`AttentiveClassifier`] on precomputed encoder features `(num_clips, num_tokens, hidden_size)` (the official
recipe: AdamW, cosine schedule to 0 without warmup, cross-entropy), used to compare encoders quickly and by the
feature-caching path of the Trainer script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import logging

logger = logging.get_logger(__name__)

__all__ = [
    "VJEPA2AttentivePooler",
    "VJEPA2PoolerSelfAttentionLayer",
    "VJEPA2PoolerCrossAttentionLayer",
    "AttentiveClassifier",
    "AttentiveProbeResult",
    "train_attentive_probe",
    "evaluate_attentive_probe",
    "OFFICIAL_PROBE_NUM_HEADS",
    "OFFICIAL_PROBE_LAYER_NORM_EPS",
]

#: heads and LayerNorm eps of the released probes (`configs/eval/*`, `nn.LayerNorm` default eps)
OFFICIAL_PROBE_NUM_HEADS = 16
OFFICIAL_PROBE_LAYER_NORM_EPS = 1e-5


def _check_heads(hidden_size: int, num_heads: int) -> int:
    if num_heads < 1 or hidden_size % num_heads:
        raise ValueError(
            f"the attentive pooler's `num_attention_heads` ({num_heads}) must divide `hidden_size` ({hidden_size})"
        )
    return hidden_size // num_heads


class VJEPA2PoolerSelfAttention(nn.Module):
    """Multi-head self-attention with an output projection (official `Attention`, separate q/k/v names)."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = _check_heads(hidden_size, num_heads)
        self.dropout = dropout
        self.q_proj = nn.Linear(hidden_size, hidden_size)
        self.k_proj = nn.Linear(hidden_size, hidden_size)
        self.v_proj = nn.Linear(hidden_size, hidden_size)
        self.out_proj = nn.Linear(hidden_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`hidden_states` `(B, N, D)` -> `(B, N, D)`; `attention_mask` bool `(B, N)` marks real (True) tokens."""
        batch, tokens, width = hidden_states.shape
        shape = (batch, tokens, self.num_heads, self.head_dim)
        query = self.q_proj(hidden_states).view(shape).transpose(1, 2)  # (B, h, N, hd)
        key = self.k_proj(hidden_states).view(shape).transpose(1, 2)
        value = self.v_proj(hidden_states).view(shape).transpose(1, 2)
        mask = None if attention_mask is None else attention_mask[:, None, None, :]
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(context.transpose(1, 2).reshape(batch, tokens, width))


class VJEPA2PoolerCrossAttention(nn.Module):
    """Queries attend to the tokens; **no output projection** (official `CrossAttention`)."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = _check_heads(hidden_size, num_heads)
        self.dropout = dropout
        self.q_proj = nn.Linear(hidden_size, hidden_size)
        self.k_proj = nn.Linear(hidden_size, hidden_size)
        self.v_proj = nn.Linear(hidden_size, hidden_size)

    def forward(
        self, queries: torch.Tensor, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`queries` `(B, Q, D)`, `hidden_states` `(B, N, D)` -> `(B, Q, D)`."""
        batch, num_queries, width = queries.shape
        tokens = hidden_states.shape[1]
        query = self.q_proj(queries).view(batch, num_queries, self.num_heads, self.head_dim).transpose(1, 2)
        key = self.k_proj(hidden_states).view(batch, tokens, self.num_heads, self.head_dim).transpose(1, 2)
        value = self.v_proj(hidden_states).view(batch, tokens, self.num_heads, self.head_dim).transpose(1, 2)
        mask = None if attention_mask is None else attention_mask[:, None, None, :]
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return context.transpose(1, 2).reshape(batch, num_queries, width)


class VJEPA2PoolerMLP(nn.Module):
    def __init__(self, hidden_size: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden_size, int(hidden_size * mlp_ratio))
        self.activation = nn.GELU()
        self.fc2 = nn.Linear(int(hidden_size * mlp_ratio), hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation(self.fc1(hidden_states)))


class VJEPA2PoolerSelfAttentionLayer(GradientCheckpointingLayer):
    """Pre-norm block: `x + attn(LN1(x))`, then `x + mlp(LN2(x))` (official `Block`)."""

    def __init__(
        self, hidden_size: int, num_heads: int, layer_norm_eps: float, mlp_ratio: float = 4.0, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.self_attn = VJEPA2PoolerSelfAttention(hidden_size, num_heads, dropout)
        self.layer_norm2 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.mlp = VJEPA2PoolerMLP(hidden_size, mlp_ratio)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        hidden_states = hidden_states + self.self_attn(self.layer_norm1(hidden_states), attention_mask)
        return hidden_states + self.mlp(self.layer_norm2(hidden_states))


class VJEPA2PoolerCrossAttentionLayer(GradientCheckpointingLayer):
    """`q + xattn(q, LN1(x))`, then `q + mlp(LN2(q))` (official `CrossAttentionBlock`; `q` itself is not normed)."""

    def __init__(
        self, hidden_size: int, num_heads: int, layer_norm_eps: float, mlp_ratio: float = 4.0, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.cross_attn = VJEPA2PoolerCrossAttention(hidden_size, num_heads, dropout)
        self.layer_norm2 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.mlp = VJEPA2PoolerMLP(hidden_size, mlp_ratio)

    def forward(
        self, queries: torch.Tensor, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        queries = queries + self.cross_attn(queries, self.layer_norm1(hidden_states), attention_mask)
        return queries + self.mlp(self.layer_norm2(queries))


class VJEPA2AttentivePooler(nn.Module):
    """Attentive pooler: `num_self_attention_layers` self-attention blocks over the tokens, then `num_queries` learned
    queries cross-attend to them.

    Args:
        hidden_size: token width `D`.
        num_attention_heads: heads of every block (official probes: 16; transformers' classifier: the encoder's).
        num_self_attention_layers: self-attention blocks before the cross-attention (official depth 4 = 3 + 1).
        num_queries: learned queries (1 for classification; 3 = verb, noun, action for EK100 anticipation).
        layer_norm_eps: LayerNorm eps (official probes: 1e-5; transformers' classifier: the encoder's 1e-6).
        mlp_ratio: MLP width ratio (4 in every released probe, independent of the encoder's).
        attention_dropout: dropout on the attention weights in training.
        initializer_range: std of the truncated-normal initialisation.
    """

    def __init__(
        self,
        hidden_size: int,
        num_attention_heads: int = OFFICIAL_PROBE_NUM_HEADS,
        num_self_attention_layers: int = 3,
        num_queries: int = 1,
        layer_norm_eps: float = OFFICIAL_PROBE_LAYER_NORM_EPS,
        mlp_ratio: float = 4.0,
        attention_dropout: float = 0.0,
        initializer_range: float = 0.02,
    ) -> None:
        super().__init__()
        _check_heads(hidden_size, num_attention_heads)
        if num_queries < 1:
            raise ValueError(f"`num_queries` must be >= 1, got {num_queries}")
        if num_self_attention_layers < 0:
            raise ValueError(f"`num_self_attention_layers` must be >= 0, got {num_self_attention_layers}")
        self.hidden_size = hidden_size
        self.num_queries = num_queries
        self.initializer_range = initializer_range
        self.query_tokens = nn.Parameter(torch.zeros(1, num_queries, hidden_size))
        self.cross_attention_layer = VJEPA2PoolerCrossAttentionLayer(
            hidden_size, num_attention_heads, layer_norm_eps, mlp_ratio, attention_dropout
        )
        self.self_attention_layers = nn.ModuleList(
            VJEPA2PoolerSelfAttentionLayer(hidden_size, num_attention_heads, layer_norm_eps, mlp_ratio, attention_dropout)
            for _ in range(num_self_attention_layers)
        )

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Official initialisation: truncated normal (std `initializer_range`) on Linears and queries, zero biases,
        unit LayerNorms, then `_rescale_blocks`: block `l` (1-based) `out_proj` and `fc2` divided by `sqrt(2 l)`,
        the cross block's `fc2` by `sqrt(2 L)` with `L` the number of self-attention blocks (1 if none)."""
        std = self.initializer_range
        nn.init.trunc_normal_(self.query_tokens, std=std, a=-2 * std, b=2 * std)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for index, layer in enumerate(self.self_attention_layers, start=1):
            layer.self_attn.out_proj.weight.div_(math.sqrt(2.0 * index))
            layer.mlp.fc2.weight.div_(math.sqrt(2.0 * index))
        last = max(len(self.self_attention_layers), 1)
        self.cross_attention_layer.mlp.fc2.weight.div_(math.sqrt(2.0 * last))

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        r"""
        Args:
            hidden_states (`torch.FloatTensor` of shape `(batch_size, num_tokens, hidden_size)`): encoder tokens.
            attention_mask (`torch.BoolTensor` of shape `(batch_size, num_tokens)`, *optional*): True for real
                tokens, False for padding (clips of different lengths batched together).

        Returns:
            `torch.FloatTensor` of shape `(batch_size, num_queries, hidden_size)`.
        """
        if hidden_states.ndim != 3 or hidden_states.shape[-1] != self.hidden_size:
            raise ValueError(
                f"the attentive pooler expects tokens of shape [batch, num_tokens, {self.hidden_size}], got "
                f"{tuple(hidden_states.shape)}"
            )
        if attention_mask is not None:
            if attention_mask.shape != hidden_states.shape[:2]:
                raise ValueError(
                    f"`attention_mask` must have shape {tuple(hidden_states.shape[:2])} ([batch, num_tokens]), got "
                    f"{tuple(attention_mask.shape)}"
                )
            attention_mask = attention_mask.to(device=hidden_states.device, dtype=torch.bool)
        for layer in self.self_attention_layers:
            hidden_states = layer(hidden_states, attention_mask)
        # repeated, not expanded: a stride-0 batch makes a traced batch of 1 a special case
        queries = self.query_tokens.to(hidden_states.dtype).repeat(hidden_states.shape[0], 1, 1)
        return self.cross_attention_layer(queries, hidden_states, attention_mask)


class AttentiveClassifier(nn.Module):
    """An attentive pooler and a linear classifier on precomputed features (official `AttentiveClassifier`).

    Its state-dict names (`pooler.*`, `classifier.*`) are those of [`VJEPA2ForVideoClassification`] without the
    backbone, so `model.load_state_dict(probe.state_dict(), strict=False)`-free transfer works with
    `VJEPA2ForVideoClassification.load_probe_state_dict(probe.state_dict())`.

    Args:
        hidden_size, num_attention_heads, num_self_attention_layers, layer_norm_eps, mlp_ratio, attention_dropout,
            initializer_range: see [`VJEPA2AttentivePooler`].
        num_labels: classes of the linear classifier.
    """

    def __init__(
        self,
        hidden_size: int,
        num_labels: int,
        num_attention_heads: int = OFFICIAL_PROBE_NUM_HEADS,
        num_self_attention_layers: int = 3,
        layer_norm_eps: float = OFFICIAL_PROBE_LAYER_NORM_EPS,
        mlp_ratio: float = 4.0,
        attention_dropout: float = 0.0,
        initializer_range: float = 0.02,
    ) -> None:
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"`num_labels` must be >= 1, got {num_labels}")
        self.pooler = VJEPA2AttentivePooler(
            hidden_size,
            num_attention_heads=num_attention_heads,
            num_self_attention_layers=num_self_attention_layers,
            num_queries=1,
            layer_norm_eps=layer_norm_eps,
            mlp_ratio=mlp_ratio,
            attention_dropout=attention_dropout,
            initializer_range=initializer_range,
        )
        self.classifier = nn.Linear(hidden_size, num_labels)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        self.pooler.reset_parameters()
        std = self.pooler.initializer_range
        nn.init.trunc_normal_(self.classifier.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`hidden_states` `(B, N, D)` -> logits `(B, num_labels)`."""
        return self.classifier(self.pooler(hidden_states, attention_mask)[:, 0])


# ----------------------------------------------------------------------------------------------------------------
# Training a probe on precomputed features
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class AttentiveProbeResult:
    """What [`train_attentive_probe`] returns.

    Attributes:
        probe: the trained [`AttentiveClassifier`] (in eval mode, on CPU).
        train_loss: mean training cross-entropy of each epoch.
        train_accuracy: training accuracy of each epoch (on the augmentation-free features).
        eval_accuracy: held-out top-1 accuracy after each epoch (empty without eval features).
        final_eval_accuracy: held-out top-1 accuracy at the end (`None` without eval features).
        chance: `1 / num_labels`.
        seconds: wall-clock training time.
    """

    probe: AttentiveClassifier
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)
    final_eval_accuracy: float | None = None
    chance: float = 0.0
    seconds: float = 0.0


def _check_features(name: str, features: torch.Tensor, labels: torch.Tensor | None, hidden: int | None) -> None:
    if not isinstance(features, torch.Tensor) or features.ndim != 3:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"`{name}` must be a tensor of shape [num_clips, num_tokens, hidden_size], got {shape}")
    if hidden is not None and features.shape[-1] != hidden:
        raise ValueError(f"`{name}` has width {features.shape[-1]}, expected {hidden} like the training features")
    if labels is not None:
        if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.shape[0] != features.shape[0]:
            shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
            raise ValueError(
                f"labels for `{name}` must be an integer tensor of shape [{features.shape[0]}], got {shape}"
            )


@torch.no_grad()
def evaluate_attentive_probe(
    probe: nn.Module, features: torch.Tensor, labels: torch.Tensor, batch_size: int = 256
) -> float:
    """Top-1 accuracy of `probe` on features `(N, num_tokens, D)` and integer labels `(N,)`."""
    _check_features("features", features, labels, None)
    was_training = probe.training
    probe.eval()
    device = next(probe.parameters()).device
    correct = 0
    for start in range(0, features.shape[0], batch_size):
        logits = probe(features[start : start + batch_size].to(device=device, dtype=torch.float32))
        correct += int((logits.argmax(-1).cpu() == labels[start : start + batch_size]).sum())
    probe.train(was_training)
    return correct / max(features.shape[0], 1)


def _check_probe_inputs(train_features, train_labels, eval_features, eval_labels, num_labels, epochs,
                        batch_size) -> int:
    """Validate the inputs of `train_attentive_probe`; returns the number of labels."""
    _check_features("train_features", train_features, train_labels, None)
    if (eval_features is None) != (eval_labels is None):
        raise ValueError("pass both `eval_features` and `eval_labels`, or neither")
    if eval_features is not None:
        _check_features("eval_features", eval_features, eval_labels, train_features.shape[-1])
    if train_labels.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.bool):
        raise ValueError(f"`train_labels` must hold integer class ids, got dtype {train_labels.dtype}")
    if num_labels is None:
        num_labels = int(train_labels.max()) + 1
    if int(train_labels.min()) < 0 or int(train_labels.max()) >= num_labels:
        raise ValueError(
            f"`train_labels` must lie in [0, {num_labels}), got [{int(train_labels.min())}, {int(train_labels.max())}]"
        )
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"`epochs` and `batch_size` must be >= 1, got {epochs} and {batch_size}")
    return num_labels


def _cosine_adamw(probe: nn.Module, learning_rate: float, weight_decay: float, total_steps: int):
    """AdamW with a cosine decay of the learning rate to 0 over `total_steps`, no warmup."""
    optimizer = torch.optim.AdamW(probe.parameters(), lr=learning_rate, weight_decay=weight_decay)
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=0.0)


def _train_one_epoch(probe, optimizer, scheduler, train_features, train_labels, batch_size, generator, device):
    """One pass over shuffled mini-batches; returns the mean training loss and accuracy."""
    probe.train()
    num_train = train_features.shape[0]
    order = torch.randperm(num_train, generator=generator)
    total_loss, correct = 0.0, 0
    for start in range(0, num_train, batch_size):
        index = order[start : start + batch_size]
        features = train_features[index].to(device=device, dtype=torch.float32)
        labels = train_labels[index].to(device)
        logits = probe(features)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += float(loss.detach()) * len(index)
        correct += int((logits.argmax(-1) == labels).sum())
    return total_loss / num_train, correct / num_train


def train_attentive_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    eval_features: torch.Tensor | None = None,
    eval_labels: torch.Tensor | None = None,
    *,
    num_labels: int | None = None,
    num_attention_heads: int = 4,
    num_self_attention_layers: int = 1,
    layer_norm_eps: float = OFFICIAL_PROBE_LAYER_NORM_EPS,
    epochs: int = 20,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.01,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    description: str = "probe",
) -> AttentiveProbeResult:
    """Fit an [`AttentiveClassifier`] on frozen encoder features (official probe recipe, scaled down).

    AdamW, cosine learning-rate decay to 0 without warmup, cross-entropy, `epochs` passes over shuffled mini-batches.
    Deterministic for a given `seed` on CPU.

    Args:
        train_features (`torch.FloatTensor` of shape `(num_train, num_tokens, hidden_size)`): e.g.
            `VJEPA2VisionModel(...).last_hidden_state` of each training clip (any float dtype; trained in float32).
        train_labels (`torch.LongTensor` of shape `(num_train,)`).
        eval_features, eval_labels: held-out clips, evaluated after every epoch.
        num_labels: number of classes (default: `max(label) + 1`).
        num_attention_heads, num_self_attention_layers, layer_norm_eps: probe shape (the official probe is 16 heads,
            3 self-attention layers, eps 1e-5; the defaults here suit the tiny test model).
        epochs, batch_size, learning_rate, weight_decay, seed: optimisation.
        device: where to train (default: CUDA if available, else CPU).
        progress: show a tqdm bar over epochs.

    Returns:
        [`AttentiveProbeResult`] with the probe and per-epoch loss / accuracies.

    Example:
        ```python
        with torch.no_grad():
            train_x = encoder(train_videos).last_hidden_state  # (N, tokens, D)
            test_x = encoder(test_videos).last_hidden_state
        result = train_attentive_probe(train_x, train_y, test_x, test_y, epochs=20)
        print(result.final_eval_accuracy, "vs chance", result.chance)
        ```
    """
    import time

    from tqdm.auto import tqdm

    num_labels = _check_probe_inputs(train_features, train_labels, eval_features, eval_labels, num_labels, epochs,
                                     batch_size)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    start_time = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = AttentiveClassifier(train_features.shape[-1], num_labels, num_attention_heads=num_attention_heads,
                                    num_self_attention_layers=num_self_attention_layers, layer_norm_eps=layer_norm_eps)
    optimizer, scheduler = _cosine_adamw(probe.to(device), learning_rate, weight_decay,
                                         epochs * math.ceil(train_features.shape[0] / batch_size))
    result = AttentiveProbeResult(probe=probe, chance=1.0 / num_labels)
    for _ in (bar := tqdm(range(epochs), desc=description, disable=not progress, leave=False)):
        loss, accuracy = _train_one_epoch(probe, optimizer, scheduler, train_features, train_labels, batch_size,
                                          generator, device)
        result.train_loss.append(loss)
        result.train_accuracy.append(accuracy)
        postfix = {"loss": f"{result.train_loss[-1]:.3f}"}
        if eval_features is not None:
            result.eval_accuracy.append(evaluate_attentive_probe(probe, eval_features, eval_labels))
            postfix["eval_acc"] = f"{result.eval_accuracy[-1]:.3f}"
        bar.set_postfix(postfix)
    probe.eval().cpu()
    if eval_features is not None:
        result.final_eval_accuracy = result.eval_accuracy[-1]
    result.seconds = time.perf_counter() - start_time
    return result
