"""Top-k accuracy of class scores, as an `evaluate` metric shipped with vjepa2-hf (load it by local path).

    import evaluate
    from vjepa2_hf.probe.metrics import metric_path
    metric = evaluate.load(metric_path("top_k_accuracy"))
    metric.compute(predictions=logits, references=labels, k=[1, 5])
    # {"accuracy": 0.71, "top5_accuracy": 0.93}

`predictions` are per-class scores `(num_examples, num_classes)` (logits or probabilities; only their order matters),
`references` integer class ids `(num_examples,)`. Ties are broken towards the lower class id (`numpy.argsort`, stable).
`k=1` is reported as `accuracy`, other values as `top{k}_accuracy`; `k` larger than the number of classes counts every
example as correct.
"""

import datasets
import evaluate
import numpy as np

from vjepa2_hf.probe.metrics.ranking import reference_ranks

_CITATION = ""
_DESCRIPTION = "Fraction of examples whose reference class is among the k highest-scoring classes."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`): class scores, one row per example.
    references (`list` of `int`): class ids.
    k (`int` or `list` of `int`, defaults to `[1, 5]`): the k values to report.
Returns:
    `accuracy` (k=1) and `top{k}_accuracy` for every other k, floats in [0, 1].
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TopKAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, k=(1, 5)):
        ranks, labels = reference_ranks(predictions, references)
        ks = [int(k)] if np.isscalar(k) else [int(v) for v in k]
        out = {}
        for value in ks:
            if value < 1:
                raise ValueError(f"`k` values must be >= 1, got {value}")
            name = "accuracy" if value == 1 else f"top{value}_accuracy"
            out[name] = float((ranks < value).mean()) if len(labels) else 0.0
        return out
