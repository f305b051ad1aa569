"""Accuracy cost of int8 (ONNX Runtime dynamic quantization of the exported graphs), at a small size.

1. Frozen-feature protocols of the main job (`vjepa2_hf.probe.frozen_features.PROTOCOLS`: kNN, linear on mean /
   mean+std pooled features, attentive probe, low-shot) on natural-motion clips of held-out photographs
   (`NaturalMotionClips`, tasks object_direction and camera), each protocol run on the features of the same encoder in
   PyTorch fp32, in ONNX Runtime fp32 and in ONNX Runtime int8 (a random tiny encoder, or `--encoder DIR`, e.g. the
   main job's pretrained encoder `quickstart_out/pretrain/final`).
2. Planning success in the reaching environment (`vjepa2_hf.workflows.reaching`): a small world model trained as in
   the end-to-end test, then the same seeded episodes planned with the PyTorch fp32 model and with its encoder and
   rollout step exported in ONNX Runtime fp32 and int8.

    python scripts/int8_accuracy.py --output int8_accuracy.json
    python scripts/int8_accuracy.py --encoder quickstart_out/pretrain/final --skip-planning
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch


def frozen_features(args, work: Path) -> dict:
    from vjepa2_hf.encoder import VJEPA2Config, VJEPA2VisionModel
    from vjepa2_hf.encoder.exporting import ExportedVJEPA2Encoder, export_encoder
    from vjepa2_hf.pretraining.data import NaturalMotionClips
    from vjepa2_hf.probe.frozen_features import PROTOCOLS, evaluate_frozen_features
    from vjepa2_hf.workflows.pretraining_evaluation import encode_clips

    torch.manual_seed(0)
    if args.encoder:  # e.g. the main job's pretrained encoder, quickstart_out/pretrain/final
        encoder = VJEPA2VisionModel.from_pretrained(args.encoder).eval()
    else:
        encoder = VJEPA2VisionModel(VJEPA2Config.from_preset("tiny", crop_size=args.size)).eval()
    variants = {"torch_fp32": encoder}
    for name, int8 in (("onnxruntime_fp32", False), ("onnxruntime_int8", True)):
        export_encoder(encoder, work / name, "onnx", int8=int8)
        variants[name] = ExportedVJEPA2Encoder.from_pretrained(work / name, "onnxruntime")
    results = {}
    for task in ("object_direction", "camera"):
        train = NaturalMotionClips(args.num_clips, 8, args.size, seed=30_000, task=task, split="heldout")
        evals = NaturalMotionClips(args.num_clips, 8, args.size, seed=30_001, task=task, split="heldout")
        for name, model in variants.items():
            with torch.no_grad():
                train_x, eval_x = encode_clips(model, train), encode_clips(model, evals)
            summary = evaluate_frozen_features(train_x, train.labels, eval_x, evals.labels, protocols=PROTOCOLS,
                                               seeds=(0,))
            results.setdefault(task, {})[name] = {p: s.accuracy for p, s in summary.items()}
            print(task, name, {p: round(s.accuracy, 4) for p, s in summary.items()})
    return results


def planning(args, work: Path) -> dict:
    from vjepa2_hf.world_model.exporting import with_backend
    from vjepa2_hf.world_model.world_model import VJEPA2WorldModel
    from vjepa2_hf.workflows.reaching import ReachingExperimentConfig, evaluate_in_reach_env, run_reaching_experiment

    cfg = ReachingExperimentConfig(output_dir=str(work / "reach"), image_size=32, episodes=120, episode_length=8,
                                   train_steps=args.train_steps, batch_size=16, eval_episodes=args.episodes,
                                   samples=100, iterations=4, topk=10, max_steps=20, seed=0, progress_bar=False)
    report = run_reaching_experiment(cfg)
    results = {"torch_fp32": report["planning"]["success_rate"]["vjepa2_ac_cem"],
               "random": report["planning"]["success_rate"]["random"]}
    for name, int8 in (("onnxruntime_fp32", False), ("onnxruntime_int8", True)):
        model = VJEPA2WorldModel.from_pretrained(work / "reach" / "train" / "final")
        model = with_backend(model, "onnxruntime", work / f"wm-{name}", int8=int8)
        results[name] = evaluate_in_reach_env(model, cfg)["success_rate"]["vjepa2_ac_cem"]
    print("planning success", results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--num-clips", type=int, default=256, help="train and eval clips per task")
    parser.add_argument("--train-steps", type=int, default=150, help="world-model training steps")
    parser.add_argument("--episodes", type=int, default=12, help="planning episodes")
    parser.add_argument("--output", default=None)
    parser.add_argument("--encoder", default=None, help="an encoder folder (default: a random tiny encoder)")
    parser.add_argument("--skip-planning", action="store_true", help="the frozen-feature protocols only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {"frozen_features": frozen_features(args, Path(tmp))}
        if not args.skip_planning:
            results["planning_success"] = planning(args, Path(tmp))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
