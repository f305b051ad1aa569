"""The `evaluate` metric modules shipped in the package, loaded by local path (no network)."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa2_hf.probe.metrics import load_metric, metric_path


def test_metrics_load_offline_from_the_package():
    import evaluate

    metric = evaluate.load(metric_path("top_k_accuracy"))
    assert metric.name == "top_k_accuracy"
    with pytest.raises(ValueError, match="ships"):
        metric_path("accuracy")


def test_top_k_accuracy_values():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.4, 0.2]])
    labels = np.array([1, 1, 0, 1])
    out = load_metric("top_k_accuracy").compute(predictions=scores, references=labels, k=[1, 2, 5])
    # ranks of the references: 0, 1, 2, 1 (a tie is broken towards the lower class id)
    assert out == {"accuracy": 0.25, "top2_accuracy": 0.75, "top5_accuracy": 1.0}


def test_class_mean_recall_averages_over_present_classes():
    scores = np.eye(6)[[0, 0, 1, 2, 2, 2]] + 0.01 * np.arange(6)  # predicted: 0, 0, 1, 2, 2, 2
    labels = np.array([0, 0, 1, 1, 3, 3])  # class 0: 2/2, class 1: 1/2, class 3: 0/2 at k=1
    out = load_metric("class_mean_recall").compute(predictions=scores, references=labels, k=1)
    assert abs(out["class_mean_recall@1"] - (1.0 + 0.5 + 0.0) / 3) < 1e-9
    # rows predicted as 2 rank the classes 2, 5, 4, 3, 1, 0: class 3 is 4th, class 1 is 5th
    at3 = load_metric("class_mean_recall").compute(predictions=scores, references=labels, k=3)["class_mean_recall@3"]
    at4 = load_metric("class_mean_recall").compute(predictions=scores, references=labels, k=4)["class_mean_recall@4"]
    assert abs(at3 - (1.0 + 0.5 + 0.0) / 3) < 1e-9
    assert abs(at4 - (1.0 + 0.5 + 1.0) / 3) < 1e-9


def test_metrics_reject_bad_shapes():
    with pytest.raises(ValueError, match="num_examples, num_classes"):
        load_metric("top_k_accuracy").compute(predictions=[[0.1], [0.2, 0.3]], references=[0, 1])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        load_metric("class_mean_recall").compute(predictions=[[0.1, 0.2]], references=[2])
