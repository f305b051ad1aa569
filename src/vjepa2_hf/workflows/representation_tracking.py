"""Representation quality during pretraining: kNN and pooled-linear accuracy of the frozen encoder every N steps.

`FrozenFeatureCallback` is a `pretrain(..., callbacks=[...])` callback. Every ``every`` optimizer steps it encodes a
small labelled train set and a held-out set with the target (EMA) encoder, runs the cheap protocols of
`vjepa2_hf.probe.frozen_features` (cosine kNN, linear probe on mean-pooled features), adds them to the step's metrics
as ``eval/knn`` and ``eval/linear_mean`` (so `pretrain` sends them to the trackers, e.g. TensorBoard, and keeps them
in the run history), and keeps its own curve, which `plot` draws as a PNG. It lives here, above the library, because
it joins two capabilities (pretraining and probing) that do not import each other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from .pretraining_evaluation import encode_clips
from ..probe.frozen_features import knn_accuracy, linear_probe_accuracy

__all__ = ["FrozenFeatureCallback"]


class FrozenFeatureCallback:
    """kNN + pooled-linear accuracy of the frozen encoder every ``every`` steps (and at step 1).

    Args:
        train_set, eval_set: labelled clip datasets (``dataset[i]`` a ``[T, 3, H, W]`` tensor, ``dataset.labels``),
            e.g. `vjepa2_hf.pretraining.data.NaturalMotionClips` of the held-out photographs.
        every: evaluate every ``every`` optimizer steps.
        k: neighbours of kNN.
        encoder: ``"target"`` (the EMA encoder, the one V-JEPA 2 evaluates and exports) or ``"context"``.
        prefix: metric name prefix (``eval`` -> ``eval/knn``).
    """

    def __init__(self, train_set, eval_set, every: int = 50, k: int = 10, encoder: str = "target",
                 prefix: str = "eval", linear_steps: int = 200):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if encoder not in ("target", "context"):
            raise ValueError(f"encoder must be 'target' or 'context', got {encoder!r}")
        self.train_set, self.eval_set, self.every, self.k = train_set, eval_set, every, k
        self.encoder, self.prefix, self.linear_steps = encoder, prefix, linear_steps
        self.train_labels = torch.as_tensor(train_set.labels)
        self.eval_labels = torch.as_tensor(eval_set.labels)
        self.history: list[dict[str, float]] = []
        self.last_model = self.last_encoder = None

    def evaluate(self, encoder: torch.nn.Module) -> dict[str, float]:
        """``{"knn": acc, "linear_mean": acc}`` of ``encoder`` on the held-out set."""
        train_x, eval_x = encode_clips(encoder, self.train_set), encode_clips(encoder, self.eval_set)
        knn = knn_accuracy(train_x, self.train_labels, eval_x, self.eval_labels, k=self.k)
        linear = linear_probe_accuracy(train_x, self.train_labels, eval_x, self.eval_labels,
                                       steps=self.linear_steps)
        return {"knn": knn.accuracy, "linear_mean": linear.accuracy}

    def __call__(self, step: int, metrics: dict[str, float], model: torch.nn.Module) -> None:
        self.last_model = model
        self.last_encoder = model.target_encoder if self.encoder == "target" else model.encoder
        if step != 1 and step % self.every:
            return
        with torch.random.fork_rng(devices=[]):  # evaluation must not shift the training RNG stream
            scores = self.evaluate(self.last_encoder)
        self.history.append({"step": step, **scores})
        metrics.update({f"{self.prefix}/{name}": value for name, value in scores.items()})

    def plot(self, path: str | os.PathLike, chance: float | None = None, baselines: dict[str, float] | None = None,
             title: str = "frozen-feature accuracy during pretraining") -> Path:
        """The curves (accuracy against step) as a PNG; ``baselines`` (e.g. a random encoder's) as dashed lines."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6, 4.6))
        self.draw(ax, chance=chance, baselines=baselines, title=title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def draw(self, ax, chance: float | None = None, baselines: dict[str, float] | None = None,
             title: str = "frozen-feature accuracy during pretraining") -> None:
        """The curves on a matplotlib ``ax``. Every line stays visible when values coincide: the two pretrained
        curves differ in marker and dash, and the horizontal lines (random encoders, chance) share one dash pattern
        with shifted phases, so lines at the same height alternate colours instead of covering each other. The
        legend sits below the axes, with each horizontal line's value."""
        steps = [h["step"] for h in self.history]
        horizontal = []
        for name, colour, style in (("knn", "tab:blue", "o-"), ("linear_mean", "tab:orange", "s--")):
            ax.plot(steps, [h[name] for h in self.history], style, color=colour, mfc="none",
                    label=f"{name} (pretrained)")
            if baselines and name in baselines:
                horizontal.append((baselines[name], colour, f"{name} (random encoder): {baselines[name]:.3f}"))
        if chance is not None:
            horizontal.append((chance, "grey", f"chance: {chance:.3f}"))
        period = 4 * len(horizontal)
        for phase, (value, colour, label) in enumerate(horizontal):
            ax.axhline(value, color=colour, lw=1.5, linestyle=(4 * phase, (4, period - 4)), label=label)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("held-out accuracy")
        ax.set_title(title)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False)


