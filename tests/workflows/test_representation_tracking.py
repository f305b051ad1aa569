"""The frozen-feature pretraining callback (issue 13): kNN / pooled linear every N steps, to metrics, trackers, PNG."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vjepa2_hf.pretraining import pretrain  # noqa: E402
from vjepa2_hf.pretraining.data import SyntheticMotionClips  # noqa: E402
from vjepa2_hf.workflows.representation_tracking import FrozenFeatureCallback  # noqa: E402


def _config(out, report_to):
    return {
        "model": {"preset": "tiny"},
        "data": {"sources": [{"type": "synthetic", "num_clips": 32, "seed": 0}], "frames_per_clip": 4,
                 "crop_size": 32, "horizontal_flip": False},
        "optimization": {"total_steps": 6, "global_batch_size": 4, "start_lr": 2e-4, "lr": 1e-3, "warmup_steps": 2,
                         "ema": [0.99, 0.999]},
        "run": {"output_dir": str(out), "seed": 0, "log_every": 5, "checkpoint_every": 6, "report_to": report_to,
                "progress_bar": False},
    }


def test_callback_logs_knn_and_linear_to_metrics_trackers_and_png(tmp_path):
    tracker = FrozenFeatureCallback(SyntheticMotionClips(24, 4, 32, seed=5), SyntheticMotionClips(16, 4, 32, seed=6),
                                    every=2, k=3, linear_steps=20)
    result = pretrain(_config(tmp_path / "run", ["tensorboard"]), callbacks=[tracker])
    assert [h["step"] for h in tracker.history] == [1, 2, 4, 6]
    for h in tracker.history:
        assert 0.0 <= h["knn"] <= 1.0 and 0.0 <= h["linear_mean"] <= 1.0
    # the run history carries the evaluations at those steps, and only there
    by_step = {h["step"]: h for h in result.history}
    assert by_step[4]["eval/knn"] == tracker.history[2]["knn"] and "eval/knn" not in by_step[3]
    # the callback evaluates what it says: re-evaluating the final target encoder reproduces the last point
    again = tracker.evaluate(tracker.last_encoder)
    assert again["knn"] == pytest.approx(tracker.history[-1]["knn"])
    # trackers: TensorBoard received eval/knn at steps 1, 2, 4, 6 (not only at the log_every steps)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = [p for p in (tmp_path / "run").rglob("events.out.tfevents*")]
    assert events
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert [e.step for e in acc.Scalars("eval/knn")] == [1, 2, 4, 6]
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 4, 5, 6]
    png = tracker.plot(tmp_path / "curves.png", chance=0.125, baselines={"knn": 0.2})
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_callback_does_not_change_training(tmp_path):
    plain = pretrain(_config(tmp_path / "a", []))
    tracker = FrozenFeatureCallback(SyntheticMotionClips(16, 4, 32, seed=5), SyntheticMotionClips(8, 4, 32, seed=6),
                                    every=3, k=3, linear_steps=10)
    tracked = pretrain(_config(tmp_path / "b", []), callbacks=[tracker])
    assert [h["loss"] for h in plain.history] == [h["loss"] for h in tracked.history]
    with pytest.raises(ValueError, match="every must be >= 1"):
        FrozenFeatureCallback(tracker.train_set, tracker.eval_set, every=0)


class _Labelled(list):
    labels = [0, 1]


def _line_colours(png) -> list[dict[str, float]]:
    """Per pixel row of a PNG: the share of each line colour among that row's pixels."""
    import matplotlib.image

    rgb = matplotlib.image.imread(str(png))[..., :3]
    colours = {"blue": (0.122, 0.467, 0.706), "orange": (1.0, 0.498, 0.055), "grey": (0.502, 0.502, 0.502)}
    import numpy as np

    shares = {name: (np.linalg.norm(rgb - np.array(c), axis=-1) < 0.12).mean(axis=1) for name, c in colours.items()}
    return [{name: float(shares[name][row]) for name in colours} for row in range(rgb.shape[0])]


def test_plot_keeps_coinciding_baselines_visible(tmp_path):
    """Random-encoder kNN, random-encoder linear and chance at the same accuracy: the horizontal line there shows
    all three colours (before, the last one drawn covered the others)."""
    tracker = FrozenFeatureCallback(_Labelled(), _Labelled(), every=1)
    tracker.history = [{"step": 1, "knn": 0.6, "linear_mean": 0.7}, {"step": 2, "knn": 0.65, "linear_mean": 0.8}]
    png = tracker.plot(tmp_path / "curves.png", chance=0.3, baselines={"knn": 0.3, "linear_mean": 0.3})
    rows = _line_colours(png)
    # the horizontal line: the rows where line colours cover much of the width
    line = [r for r in rows if sum(r.values()) > 0.3]
    assert line, "no horizontal line found"
    for colour in ("blue", "orange", "grey"):
        assert max(r[colour] for r in line) > 0.1, (colour, line)
