#!/usr/bin/env python
"""Evaluate a V-JEPA 2 VLM on multiple-choice video-QA benchmark files, each with its own scoring rule.

    python scripts/eval_video_qa.py --model runs/vlm/merged \
        --benchmark perceptiontest=data/perception_test/mc_question_valid.json:data/perception_test/videos \
        --benchmark tempcompass=data/tempcompass/multi-choice.json:data/tempcompass/videos \
        --benchmark mvbench=data/mvbench/action_sequence.json:data/mvbench/videos \
        --benchmark mvp=data/mvp/mvp.jsonl --benchmark temporalbench=data/temporalbench/short_qa.jsonl \
        --mode letter --num-frames 32 --output results.json

Each `--benchmark FORMAT=FILE[:VIDEO_ROOT]` names the annotation format (`auto`, `json`, `jsonl`, `perceptiontest`,
`tempcompass`, `mvbench`, `mvp`, `temporalbench`), the file and optionally the folder of its videos. Rules:
accuracy for PerceptionTest / TempCompass multi-choice / MVBench / plain files, paired accuracy for MVP (both videos
of a minimal-change pair right), multi-binary accuracy for TemporalBench (every binary question of a group right).
A stage folder of `train-vlm` (trained parts only) is accepted too and rebuilt with `load_trained_vlm`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch


def parse_benchmark(spec: str) -> tuple[str, str, str | None]:
    if "=" not in spec:
        raise argparse.ArgumentTypeError(f"--benchmark must be FORMAT=FILE[:VIDEO_ROOT], got {spec!r}")
    fmt, rest = spec.split("=", 1)
    path, _, root = rest.partition(":")
    return fmt, path, root or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a saved VLM folder (or a train-vlm stage folder)")
    parser.add_argument(
        "--benchmark", action="append", type=parse_benchmark, required=True, help="FORMAT=FILE[:VIDEO_ROOT], repeatable"
    )
    parser.add_argument("--mode", default="letter", choices=["letter", "option", "generate"])
    parser.add_argument("--num-frames", type=int, default=None, help="frames per video (default: the processor's)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None, help="first N questions of each file")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", default=None, help="write all metrics to this JSON file")
    parser.add_argument("--predictions-dir", default=None, help="write per-question predictions (JSONL) here")
    args = parser.parse_args(argv)

    import vjepa2_hf.vlm  # noqa: F401  (registers the auto classes)
    from vjepa2_hf.vlm import VJEPA2VLMForConditionalGeneration, VJEPA2VLMProcessor, evaluate_benchmark_file
    from vjepa2_hf.vlm.training import TRAINED_PARTS_FILE, load_trained_vlm

    dtype = getattr(torch, args.dtype)
    if os.path.isfile(os.path.join(args.model, TRAINED_PARTS_FILE)):
        model, processor = load_trained_vlm(args.model)
        model = model.to(dtype)
    else:
        model = VJEPA2VLMForConditionalGeneration.from_pretrained(args.model, dtype=dtype)
        processor = VJEPA2VLMProcessor.from_pretrained(args.model)
    model.to(args.device).eval()

    all_metrics = []
    for fmt, path, root in args.benchmark:
        pred_file = None
        if args.predictions_dir:
            os.makedirs(args.predictions_dir, exist_ok=True)
            pred_file = os.path.join(args.predictions_dir, os.path.splitext(os.path.basename(path))[0] + ".jsonl")
        m = evaluate_benchmark_file(
            model,
            processor,
            path,
            format=fmt,
            video_root=root,
            mode=args.mode,
            batch_size=args.batch_size,
            num_frames=args.num_frames,
            limit=args.limit,
            predictions_file=pred_file,
        )
        all_metrics.append(m)
        print(
            f"{os.path.basename(path)} [{m['benchmark']}]: {m['metric']} = {m['score']:.4f} "
            f"(accuracy {m['accuracy']:.4f}, chance {m['chance']:.4f}, {m['num_questions']} questions, "
            f"{m['num_unparsed']} unparsed)"
        )
        for dim, acc in (m.get("by_dimension") or {}).items():
            print(f"    {dim}: {acc:.4f}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(all_metrics, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
