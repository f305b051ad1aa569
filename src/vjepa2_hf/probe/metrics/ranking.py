"""Input checks and reference ranks shared by the shipped `evaluate` metrics (imported by absolute path, because
`evaluate.load` copies a metric script into its own cache module)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["reference_ranks"]


def reference_ranks(predictions: Sequence[Sequence[float]], references: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each reference class among the scores: 0 = highest. Ties count the lower class ids first (the order of
    a stable `numpy.argsort` of the negated scores).

    Args:
        predictions: class scores `(num_examples, num_classes)` (logits or probabilities; only the order matters).
        references: integer class ids `(num_examples,)`.

    Returns:
        `(ranks, labels)`, both int arrays of shape `(num_examples,)`.

    Raises:
        ValueError: ragged or mis-sized `predictions`, or a reference outside `[0, num_classes)`.
    """
    labels = np.asarray(references, dtype=np.int64)
    try:
        scores = np.asarray(predictions, dtype=np.float64)
    except ValueError:  # rows of different lengths
        scores = np.asarray([len(row) for row in predictions])
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(
            f"`predictions` must be [num_examples, num_classes] scores (rows of equal length) matching "
            f"{labels.shape[0]} references, got shape {scores.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(f"`references` must lie in [0, {scores.shape[1]}), got [{labels.min()}, {labels.max()}]")
    reference = scores[np.arange(len(labels)), labels][:, None]
    ids = np.arange(scores.shape[1])[None, :]
    ranks = (scores > reference).sum(1) + ((scores == reference) & (ids < labels[:, None])).sum(1)
    return ranks, labels
