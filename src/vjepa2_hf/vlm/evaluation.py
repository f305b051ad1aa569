"""Benchmark scoring rules for multiple-choice video QA, and an evaluation loop over annotation files.

Per-benchmark rules (as the V-JEPA 2 paper reports them, Table 8, and lmms-eval implements them):

| benchmark style | metric |
|---|---|
| PerceptionTest, TempCompass (multi-choice), MVBench, TVBench, TOMATO, plain JSON | accuracy |
| MVP (minimal-change video pairs) | **paired accuracy**: a pair counts only when every question of the pair is right |
| TemporalBench (short QA) | **multi-binary accuracy** (MBA): a group counts only when all its binary questions are right |

MVBench counts accuracy over answered questions in lmms-eval (empty generations dropped); here an unparseable
generation counts as wrong, and the number of unparsed answers is reported separately (`num_unparsed`).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Any, Sequence

from .qa_datasets import VideoQARecord, load_qa_records
from .scoring import predict_multiple_choice

# format -> primary metric
BENCHMARK_METRICS = {
    "json": "accuracy",
    "jsonl": "accuracy",
    "perceptiontest": "accuracy",
    "tempcompass": "accuracy",
    "mvbench": "accuracy",
    "mvp": "paired_accuracy",
    "temporalbench": "multi_binary_accuracy",
}


def accuracy(preds: Sequence[int], golds: Sequence[int]) -> float:
    """Fraction of `preds` equal to `golds`."""
    if len(preds) != len(golds):
        raise ValueError(f"`preds` ({len(preds)}) and `golds` ({len(golds)}) must have the same length")
    if not preds:
        raise ValueError("accuracy of an empty set is undefined")
    return sum(int(p == g) for p, g in zip(preds, golds)) / len(preds)


def all_correct_by_group(preds: Sequence[int], golds: Sequence[int], group_ids: Sequence[Any]) -> float:
    """Fraction of groups whose questions are all answered correctly (TemporalBench MBA, MVP paired accuracy)."""
    if not len(preds) == len(golds) == len(group_ids):
        raise ValueError(
            f"`preds` ({len(preds)}), `golds` ({len(golds)}) and `group_ids` ({len(group_ids)}) must have the same length"
        )
    ok: dict[Any, bool] = {}
    for p, g, gid in zip(preds, golds, group_ids):
        if gid is None:
            raise ValueError("every question needs a group / pair id for grouped accuracy")
        ok[gid] = ok.get(gid, True) and p == g
    if not ok:
        raise ValueError("grouped accuracy of an empty set is undefined")
    return sum(ok.values()) / len(ok)


def paired_accuracy(preds: Sequence[int], golds: Sequence[int], pair_ids: Sequence[Any]) -> float:
    """MVP paired accuracy: a minimal-change pair counts only when both of its videos are answered correctly."""
    return all_correct_by_group(preds, golds, pair_ids)


def multi_binary_accuracy(preds: Sequence[int], golds: Sequence[int], group_ids: Sequence[Any]) -> float:
    """TemporalBench MBA: a caption's group of binary questions counts only when all of them are right."""
    return all_correct_by_group(preds, golds, group_ids)


def score_predictions(
    records: Sequence[VideoQARecord], preds: Sequence[int], benchmark: str = "json"
) -> dict[str, Any]:
    """Metrics of `preds` (option indices, -1 = unparsed) on labelled `records` under the benchmark's rule.

    Returns a dict with `metric` (the primary metric's name), `score`, `accuracy`, `num_questions`, `num_unparsed`,
    `chance` (expected accuracy of random guessing), the grouped metric when the records carry pair / group ids, and
    `by_dimension` accuracies when they carry a `dimension`.
    """
    if benchmark not in BENCHMARK_METRICS:
        raise ValueError(f"`benchmark` must be one of {sorted(BENCHMARK_METRICS)}, got {benchmark!r}")
    labelled = [(r, p) for r, p in zip(records, preds) if r.answer is not None]
    if not labelled:
        raise ValueError("no labelled questions to score (every record has `answer=None`)")
    rs, ps = [r for r, _ in labelled], [p for _, p in labelled]
    golds = [r.answer for r in rs]
    out: dict[str, Any] = {
        "accuracy": accuracy(ps, golds),
        "num_questions": len(rs),
        "num_unparsed": sum(int(p < 0) for p in ps),
        "chance": sum(1.0 / len(r.options) for r in rs) / len(rs),
    }
    if all(r.pair_id is not None for r in rs):
        out["paired_accuracy"] = paired_accuracy(ps, golds, [r.pair_id for r in rs])
    if all(r.group_id is not None for r in rs):
        out["multi_binary_accuracy"] = multi_binary_accuracy(ps, golds, [r.group_id for r in rs])
    metric = BENCHMARK_METRICS[benchmark]
    if metric not in out:
        raise ValueError(f"{benchmark} is scored by {metric}, which needs a pair / group id on every record")
    out["metric"] = metric
    out["score"] = out[metric]
    dims: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r, p in zip(rs, ps):
        if r.dimension is not None:
            dims[str(r.dimension)].append((p, r.answer))
    if dims:
        out["by_dimension"] = {d: accuracy([p for p, _ in v], [g for _, g in v]) for d, v in sorted(dims.items())}
    return out


def evaluate_records(
    model: Any,
    processor: Any,
    records: Sequence[VideoQARecord],
    *,
    benchmark: str = "json",
    mode: str = "letter",
    batch_size: int = 8,
    num_frames: int | None = None,
    progress: bool = False,
) -> tuple[dict[str, Any], list[int]]:
    """Answer every multiple-choice record and score the answers with the benchmark's rule.

    Returns `(metrics, predictions)`; see [`score_predictions`] and [`predict_multiple_choice`].
    """
    items = [{"video": r.video, "question": r.question, "options": r.options, "qid": r.qid} for r in records]
    preds = predict_multiple_choice(
        model, processor, items, mode=mode, batch_size=batch_size, num_frames=num_frames, progress=progress
    )
    indices = [p.index for p in preds]
    metrics = score_predictions(records, indices, benchmark)
    metrics["mode"] = mode
    return metrics, indices


def evaluate_benchmark_file(
    model: Any,
    processor: Any,
    path: str | os.PathLike,
    *,
    format: str = "auto",
    video_root: str | os.PathLike | None = None,
    mode: str = "letter",
    batch_size: int = 8,
    num_frames: int | None = None,
    limit: int | None = None,
    predictions_file: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Load a benchmark annotation file, answer it and score it with its own rule (see the module table).

    `format="auto"` detects PerceptionTest / TempCompass / MVBench files; MVP and TemporalBench files (package format
    with `pair_id` / `group_id`) need `format="mvp"` / `"temporalbench"` to be scored by their grouped rule.
    """
    records = load_qa_records(path, format=format, video_root=video_root)
    if format == "auto":
        from .qa_datasets import _detect_format, _read_json_or_jsonl

        format = _detect_format(_read_json_or_jsonl(os.fspath(path)))
    if limit is not None:
        records = records[:limit]
    metrics, preds = evaluate_records(
        model,
        processor,
        records,
        benchmark=format,
        mode=mode,
        batch_size=batch_size,
        num_frames=num_frames,
        progress=progress,
    )
    metrics["file"] = os.fspath(path)
    metrics["benchmark"] = format
    if predictions_file is not None:
        with open(predictions_file, "w", encoding="utf-8") as f:
            for r, p in zip(records, preds):
                f.write(json.dumps({"qid": r.qid, "prediction": p, "answer": r.answer}) + "\n")
    return metrics


__all__ = [
    "BENCHMARK_METRICS",
    "accuracy",
    "all_correct_by_group",
    "evaluate_benchmark_file",
    "evaluate_records",
    "multi_binary_accuracy",
    "paired_accuracy",
    "score_predictions",
]
