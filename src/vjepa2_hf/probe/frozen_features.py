"""Frozen-feature evaluation: the protocols self-supervised video work reports, computed on cached encoder features.

Every protocol takes token features ``(N, num_tokens, D)`` (or pooled ``(N, D)``) of labelled train clips and
held-out clips and returns a [`ProtocolResult`] with the held-out accuracy and its standard error over held-out
clips (binomial, ``sqrt(p (1 - p) / n)``). [`evaluate_frozen_features`] runs the protocols for several seeds and
reports, per protocol, the mean accuracy, the standard error over seeds (``std / sqrt(num_seeds)``, ddof 1) and the
mean standard error over clips:

- ``knn``: cosine k-nearest-neighbour vote on mean-pooled, L2-normalised features (k configurable);
- ``linear_mean`` / ``linear_mean_std``: a linear classifier on mean-pooled (or mean and std pooled) features,
  standardised with the train statistics, trained full-batch with AdamW;
- ``attentive``: the attentive probe of `vjepa2_hf.probe.attentive_pooler` on the tokens;
- ``low_shot``: the pooled linear probe trained on ``shots`` labelled clips per class (drawn with the seed).

Nothing here knows how the features were made, so the same code evaluates pretrained and random encoders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

__all__ = [
    "ProtocolResult",
    "ProtocolSummary",
    "PROTOCOLS",
    "pool_features",
    "binomial_standard_error",
    "seed_standard_error",
    "knn_accuracy",
    "linear_probe_accuracy",
    "attentive_probe_accuracy",
    "low_shot_indices",
    "evaluate_frozen_features",
]

PROTOCOLS = ("knn", "linear_mean", "linear_mean_std", "attentive", "low_shot")


@dataclass
class ProtocolResult:
    """Held-out accuracy of one protocol, one seed.

    Attributes:
        name: protocol name.
        accuracy: top-1 accuracy on the held-out clips.
        standard_error: binomial standard error over the held-out clips.
        predictions: ``(num_eval,)`` predicted labels.
    """

    name: str
    accuracy: float
    standard_error: float
    predictions: torch.Tensor


@dataclass
class ProtocolSummary:
    """One protocol over seeds: mean accuracy, SE over seeds, mean SE over held-out clips, per-seed accuracies."""

    name: str
    accuracy: float
    se_seeds: float
    se_clips: float
    accuracies: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.accuracy:.3f} ± {self.se_seeds:.3f} (seeds) ± {self.se_clips:.3f} (clips)"


def binomial_standard_error(accuracy: float, num: int) -> float:
    """``sqrt(p (1 - p) / n)``: the standard error of an accuracy measured on ``num`` independent clips."""
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    return math.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / num)


def seed_standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean over seeds, ``std(ddof=1) / sqrt(n)`` (0 for a single seed)."""
    if len(values) < 2:
        return 0.0
    return float(torch.tensor(list(values), dtype=torch.float64).std(unbiased=True)) / math.sqrt(len(values))


def pool_features(features: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """``(N, tokens, D)`` -> ``(N, D)`` (``"mean"``) or ``(N, 2D)`` (``"mean_std"``); ``(N, D)`` passes through."""
    if features.ndim == 2:
        return features.float()
    if features.ndim != 3:
        raise ValueError(f"features must be (N, tokens, D) or (N, D), got shape {tuple(features.shape)}")
    features = features.float()
    if mode == "mean":
        return features.mean(1)
    if mode == "mean_std":
        return torch.cat([features.mean(1), features.std(1, unbiased=False)], dim=-1)
    raise ValueError(f"mode must be 'mean' or 'mean_std', got {mode!r}")


def _result(name: str, predictions: torch.Tensor, labels: torch.Tensor) -> ProtocolResult:
    accuracy = float((predictions == labels).float().mean())
    return ProtocolResult(name, accuracy, binomial_standard_error(accuracy, len(labels)), predictions)


def _check(train_x, train_y, eval_x, eval_y) -> None:
    if len(train_x) != len(train_y) or len(eval_x) != len(eval_y):
        raise ValueError(
            f"features and labels differ in length: train {len(train_x)} vs {len(train_y)}, "
            f"eval {len(eval_x)} vs {len(eval_y)}"
        )
    if len(train_x) == 0 or len(eval_x) == 0:
        raise ValueError("train and eval sets must hold at least one clip each")


@torch.no_grad()
def knn_accuracy(train_x, train_y, eval_x, eval_y, k: int = 20, name: str = "knn") -> ProtocolResult:
    """Cosine kNN: each held-out clip takes the majority label of its ``k`` most similar train clips (ties broken by
    summed similarity). Token features are mean-pooled first."""
    _check(train_x, train_y, eval_x, eval_y)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    train = nn.functional.normalize(pool_features(train_x), dim=-1)
    evals = nn.functional.normalize(pool_features(eval_x), dim=-1)
    train_y, eval_y = torch.as_tensor(train_y).long(), torch.as_tensor(eval_y).long()
    k = min(k, len(train))
    similarity, index = (evals @ train.T).topk(k, dim=-1)
    num_classes = int(max(train_y.max(), eval_y.max())) + 1
    votes = torch.zeros(len(evals), num_classes)
    votes.scatter_add_(1, train_y[index], torch.ones_like(similarity))
    votes += 1e-3 * torch.zeros_like(votes).scatter_add_(1, train_y[index], similarity)  # tie-break
    return _result(name, votes.argmax(-1), eval_y)


def linear_probe_accuracy(
    train_x, train_y, eval_x, eval_y, *, pooling: str = "mean", steps: int = 300, learning_rate: float = 1e-2,
    weight_decay: float = 1e-3, seed: int = 0, name: str | None = None,
) -> ProtocolResult:
    """A linear classifier on pooled, standardised features (full-batch AdamW, ``steps`` steps, seeded init)."""
    _check(train_x, train_y, eval_x, eval_y)
    train, evals = pool_features(train_x, pooling), pool_features(eval_x, pooling)
    mean, std = train.mean(0), train.std(0, unbiased=False).clamp_min(1e-6)
    train, evals = (train - mean) / std, (evals - mean) / std
    train_y, eval_y = torch.as_tensor(train_y).long(), torch.as_tensor(eval_y).long()
    num_classes = int(max(train_y.max(), eval_y.max())) + 1
    generator = torch.Generator().manual_seed(seed)
    head = nn.Linear(train.shape[1], num_classes)
    with torch.no_grad():
        head.weight.normal_(0.0, 0.01, generator=generator)
        head.bias.zero_()
    optimizer = torch.optim.AdamW(head.parameters(), lr=learning_rate, weight_decay=weight_decay)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(head(train), train_y).backward()
            optimizer.step()
    with torch.no_grad():
        predictions = head(evals).argmax(-1)
    return _result(name or f"linear_{pooling}", predictions, eval_y)


def attentive_probe_accuracy(
    train_x, train_y, eval_x, eval_y, *, seed: int = 0, epochs: int = 20, num_heads: int = 4, num_layers: int = 0,
    learning_rate: float = 5e-3, device=None, progress: bool = False,
) -> ProtocolResult:
    """The attentive probe of `vjepa2_hf.probe.attentive_pooler` trained on the tokens ``(N, tokens, D)``."""
    from .attentive_pooler import train_attentive_probe

    _check(train_x, train_y, eval_x, eval_y)
    if train_x.ndim != 3:
        raise ValueError(f"the attentive probe needs token features (N, tokens, D), got {tuple(train_x.shape)}")
    train_y, eval_y = torch.as_tensor(train_y).long(), torch.as_tensor(eval_y).long()
    num_labels = int(max(train_y.max(), eval_y.max())) + 1
    result = train_attentive_probe(
        train_x.float(), train_y, num_labels=num_labels, num_attention_heads=num_heads,
        num_self_attention_layers=num_layers, epochs=epochs, learning_rate=learning_rate, seed=seed,
        device=device, progress=progress, description="attentive probe",
    )
    with torch.no_grad():
        logits = result.probe(eval_x.float())
    logits = getattr(logits, "logits", logits)
    return _result("attentive", logits.argmax(-1).cpu(), eval_y)


def low_shot_indices(labels, shots: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``shots`` clips of every class (drawn without replacement with ``seed``), sorted."""
    labels = torch.as_tensor(labels).long()
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in labels.unique().tolist():
        members = (labels == c).nonzero().flatten()
        if len(members) < shots:
            raise ValueError(f"class {c} has {len(members)} labelled clips, fewer than shots={shots}")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:shots]])
    return torch.cat(chosen).sort().values


def _run_protocol(protocol: str, train_x, train_y, eval_x, eval_y, seed: int, options: dict) -> ProtocolResult:
    if protocol == "knn":
        return knn_accuracy(train_x, train_y, eval_x, eval_y, k=options.get("k", 20))
    if protocol in ("linear_mean", "linear_mean_std"):
        return linear_probe_accuracy(train_x, train_y, eval_x, eval_y, pooling=protocol[len("linear_"):],
                                     steps=options.get("linear_steps", 300), seed=seed)
    if protocol == "attentive":
        return attentive_probe_accuracy(train_x, train_y, eval_x, eval_y, seed=seed,
                                        epochs=options.get("attentive_epochs", 20))
    if protocol == "low_shot":
        index = low_shot_indices(train_y, options.get("shots", 5), seed)
        return linear_probe_accuracy(train_x[index], torch.as_tensor(train_y)[index], eval_x, eval_y,
                                     steps=options.get("linear_steps", 300), seed=seed, name="low_shot")
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")


def evaluate_frozen_features(
    train_x: torch.Tensor, train_y, eval_x: torch.Tensor, eval_y, *, protocols: Sequence[str] = PROTOCOLS,
    seeds: Sequence[int] = (0, 1, 2), k: int = 20, shots: int = 5, linear_steps: int = 300,
    attentive_epochs: int = 20,
) -> dict[str, ProtocolSummary]:
    """Run ``protocols`` on frozen features for every seed; kNN is deterministic and runs once.

    Args:
        train_x, eval_x (`torch.FloatTensor` of shape `(N, tokens, D)`): features of labelled train / held-out clips
            (pooled `(N, D)` features work for every protocol but ``attentive``).
        train_y, eval_y: integer labels.
        protocols: a subset of `PROTOCOLS`.
        seeds: seeds of the probes' initialisation and of the low-shot draws.
        k: neighbours of kNN; shots: labelled clips per class of ``low_shot``.

    Returns:
        ``{protocol: ProtocolSummary}``.
    """
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown protocols {unknown}; expected a subset of {PROTOCOLS}")
    if not seeds:
        raise ValueError("`seeds` must name at least one seed")
    options = dict(k=k, shots=shots, linear_steps=linear_steps, attentive_epochs=attentive_epochs)
    summaries = {}
    for protocol in protocols:
        runs = [_run_protocol(protocol, train_x, train_y, eval_x, eval_y, seed, options)
                for seed in (seeds[:1] if protocol == "knn" else seeds)]
        accuracies = [r.accuracy for r in runs]
        summaries[protocol] = ProtocolSummary(
            name=protocol, accuracy=sum(accuracies) / len(accuracies), se_seeds=seed_standard_error(accuracies),
            se_clips=sum(r.standard_error for r in runs) / len(runs), accuracies=accuracies,
        )
    return summaries
