"""Class-mean recall@k, the EPIC-KITCHENS-100 anticipation metric, as an `evaluate` metric shipped with vjepa2-hf.

Official `evals/action_anticipation_frozen/metrics.py::ClassMeanRecall`: for every class with at least one example,
recall@k = (examples of that class whose class is among the top-k scores) / (examples of that class); the metric is
the mean over those classes. Classes without examples are ignored.

    import evaluate
    from vjepa2_hf.probe.metrics import metric_path
    metric = evaluate.load(metric_path("class_mean_recall"))
    metric.compute(predictions=scores, references=labels, k=5)   # {"class_mean_recall@5": 0.42}
"""

import datasets
import evaluate
import numpy as np

from vjepa2_hf.probe.metrics.ranking import reference_ranks

_CITATION = ""
_DESCRIPTION = "Mean over the classes present in the references of the per-class top-k recall."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`): class scores (logits or sigmoid probabilities), one row per example.
    references (`list` of `int`): class ids.
    k (`int`, defaults to 5): the recall cut-off.
Returns:
    `class_mean_recall@{k}`: float in [0, 1].
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ClassMeanRecall(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, k=5):
        ranks, labels = reference_ranks(predictions, references)
        k = int(k)
        if k < 1:
            raise ValueError(f"`k` must be >= 1, got {k}")
        hit = ranks < k
        recalls = [hit[labels == c].mean() for c in np.unique(labels)]
        return {f"class_mean_recall@{k}": float(np.mean(recalls)) if recalls else 0.0}
