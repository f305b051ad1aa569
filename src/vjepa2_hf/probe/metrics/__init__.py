"""`evaluate` metrics shipped with vjepa2-hf, loaded by local path (`evaluate.load` of a Hub name needs the network).

* `top_k_accuracy`: `accuracy` (top-1) and `top{k}_accuracy`.
* `class_mean_recall`: class-mean recall@k (the EK100 anticipation metric).
"""

from __future__ import annotations

import os
from functools import lru_cache

__all__ = ["METRIC_NAMES", "metric_path", "load_metric"]

METRIC_NAMES = ("top_k_accuracy", "class_mean_recall")


def metric_path(name: str) -> str:
    """Folder of a shipped metric, for `evaluate.load(metric_path(name))`."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; the package ships {list(METRIC_NAMES)}")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)


@lru_cache(maxsize=None)
def load_metric(name: str):
    """`evaluate.load` of a shipped metric (no network)."""
    import evaluate

    return evaluate.load(metric_path(name))
