"""Accuracy cost of int8 (ONNX Runtime dynamic quantization of the exported graphs) and of OpenVINO's bf16.

1. Frozen-feature protocols (`vjepa2_hf.probe.frozen_features.PROTOCOLS`: kNN, linear on mean / mean+std pooled
   features, attentive probe, low-shot; 3 seeds) on natural-motion clips of held-out photographs
   (`NaturalMotionClips`, tasks camera and object_direction, 1024 train + 1024 eval clips by default), each protocol
   run on the features of the same encoder in PyTorch fp32, ONNX Runtime fp32, ONNX Runtime int8 (weights per output
   channel, the package's default), int8 with one weight scale per matrix (`per_channel=False`) and OpenVINO in its
   bf16 inference precision (where OpenVINO is installed). The encoder is a
   random tiny one, or `--encoder DIR` (e.g. the main job's pretrained encoder `quickstart_out/pretrain/final`).
2. `--quickstart-dir DIR`: the main job's own protocols on its own data: the clips of `DIR/data` through the probe's
   input pipeline (features of PyTorch fp32 checked equal to the job's feature cache), the encoder `DIR/pretrain/final`,
   kNN / linear / low-shot with the job's seeds and the attentive protocol, fp32 against int8.
3. Planning success in the reaching environment (`vjepa2_hf.workflows.reaching`): a small world model trained as in
   the end-to-end test, then the same seeded episodes planned with the PyTorch fp32 model and with its encoder and
   rollout step exported in ONNX Runtime fp32 and int8.

Differences are printed in accuracy points against PyTorch fp32 (the goal: int8 within 1 point on every protocol).

    python scripts/int8_accuracy.py --output int8_accuracy.json
    python scripts/int8_accuracy.py --encoder quickstart_out/pretrain/final --skip-planning
    python scripts/int8_accuracy.py --quickstart-dir quickstart_out --skip-planning
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

SEEDS = (0, 1, 2)
INT8_VARIANTS = {"onnxruntime_fp32": (False, True), "onnxruntime_int8": (True, True),
                 "onnxruntime_int8_per_matrix": (True, False)}  # name: (int8, per_channel)


def exported_variants(encoder, work: Path, only: list[str] | None = None) -> dict:
    """The encoder itself, its exports run by ONNX Runtime (fp32, int8 per channel, int8 per matrix) and, where
    OpenVINO is installed, its OpenVINO graph in bf16 inference precision (`embed --backend openvino --dtype
    bfloat16`)."""
    import importlib.util

    from vjepa2_hf.encoder.exporting import ExportedVJEPA2Encoder, export_encoder

    variants = {"torch_fp32": encoder}
    for name, (int8, per_channel) in INT8_VARIANTS.items():
        if only and name not in only:
            continue
        export_encoder(encoder, work / name, "onnx", int8=int8, per_channel=per_channel)
        variants[name] = ExportedVJEPA2Encoder.from_pretrained(work / name, "onnxruntime")
    if importlib.util.find_spec("openvino") is not None and (not only or "openvino_bf16" in only):
        export_encoder(encoder, work / "openvino", "openvino")
        variants["openvino_bf16"] = ExportedVJEPA2Encoder.from_pretrained(work / "openvino", "openvino", "bf16")
    return variants


def protocols(train_x, train_y, eval_x, eval_y, names=None) -> dict[str, float]:
    from vjepa2_hf.probe.frozen_features import PROTOCOLS, evaluate_frozen_features

    train_y, eval_y = torch.as_tensor(train_y), torch.as_tensor(eval_y)
    shots = max(1, min(5, int(torch.bincount(train_y).min())))
    summary = evaluate_frozen_features(train_x.float(), train_y, eval_x.float(), eval_y, protocols=names or PROTOCOLS,
                                       seeds=SEEDS, k=min(20, len(train_y)), shots=shots)
    return {p: s.accuracy for p, s in summary.items()}


def print_differences(title: str, table: dict[str, dict[str, float]]) -> dict:
    """Accuracy of each variant and its difference to PyTorch fp32 in points; returns the differences."""
    base = table["torch_fp32"]
    print(f"\n{title}: accuracy (difference to torch fp32 in points)")
    differences = {}
    for name, row in table.items():
        differences[name] = {p: 100 * (row[p] - base[p]) for p in base}
        cells = ", ".join(f"{p} {row[p]:.4f} ({differences[name][p]:+.2f})" for p in base)
        worst = max(abs(d) for d in differences[name].values())
        print(f"  {name:<28} {cells}; worst {worst:.2f}")
    return differences


def frozen_features(args, work: Path) -> dict:
    from vjepa2_hf.encoder import VJEPA2Config, VJEPA2VisionModel
    from vjepa2_hf.pretraining.data import NaturalMotionClips
    from vjepa2_hf.workflows.pretraining_evaluation import encode_clips

    torch.manual_seed(0)
    if args.encoder:  # e.g. the main job's pretrained encoder, quickstart_out/pretrain/final
        encoder = VJEPA2VisionModel.from_pretrained(args.encoder).eval()
    else:
        encoder = VJEPA2VisionModel(VJEPA2Config.from_preset("tiny", crop_size=args.size)).eval()
    variants = exported_variants(encoder, work, args.variants)
    size = encoder.config.crop_size
    results = {}
    for task in ("camera", "object_direction"):
        train = NaturalMotionClips(args.num_clips, 8, size, seed=30_000, task=task, split="heldout")
        evals = NaturalMotionClips(args.num_clips, 8, size, seed=30_001, task=task, split="heldout")
        table = {}
        for name, model in variants.items():
            with torch.no_grad():
                train_x, eval_x = encode_clips(model, train), encode_clips(model, evals)
            table[name] = protocols(train_x, train.labels, eval_x, evals.labels)
        results[task] = {"accuracy": table, "points_vs_torch_fp32": print_differences(task, table)}
    return results


def _main_job_clips(job: Path, config):
    """The main job's train / held-out clips through the probe's input pipeline (as its feature cache was made)."""
    from vjepa2_hf.probe.run_video_classification import DataArguments, load_video_splits
    from vjepa2_hf.video.sampling import ClipSampler
    from vjepa2_hf.video.video_datasets import VideoClipDataset
    from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor

    train, evals, _ = load_video_splits(DataArguments(data=str(job / "data")))
    processor = VJEPA2VideoProcessor(crop_size=config.crop_size, do_resize=False, num_frames=config.num_frames)
    sampler = ClipSampler(random_clip_sampling=False, frames_per_clip=config.num_frames, frame_step=1, num_clips=1,
                          allow_clip_overlap=True)
    return (VideoClipDataset(train, processor, sampler, seed=0, on_error="raise"),
            VideoClipDataset(evals, processor.view_transform(1), sampler, seed=0, on_error="raise"))


class _AsClassifier(torch.nn.Module):
    """An encoder (PyTorch or exported) where `encode_dataset` expects a classifier (`get_video_features`)."""

    def __init__(self, encoder) -> None:
        super().__init__()
        self.encoder, self.anchor = encoder, torch.nn.Parameter(torch.empty(0))

    def get_video_features(self, pixel_values_videos):
        return self.encoder(pixel_values_videos)


def main_job(args, work: Path) -> dict:
    """fp32 against int8 on the main job's own data and protocols (`--quickstart-dir`)."""
    from safetensors.torch import load_file

    from vjepa2_hf.encoder import VJEPA2VisionModel
    from vjepa2_hf.probe.modeling_probe import VJEPA2ForVideoClassification
    from vjepa2_hf.probe.run_video_classification import encode_dataset

    job = Path(args.quickstart_dir)
    config = VJEPA2ForVideoClassification.config_class.from_pretrained(job / "models" / "pretrained-probe")
    train, evals = _main_job_clips(job, config)
    variants = exported_variants(VJEPA2VisionModel.from_pretrained(job / "pretrain" / "final").eval(), work,
                                 args.variants)
    cache = job / "feature_cache" / "pretrained-probe"
    table = {}
    for name, encoder in variants.items():
        model = _AsClassifier(encoder)
        (train_x, train_y), (eval_x, eval_y) = (encode_dataset(model, d, 32, progress=False) for d in (train, evals))
        if name == "torch_fp32" and cache.is_dir():  # the same clips and encoder as the job's probe
            for split, x in (("train", train_x), ("eval", eval_x)):
                cached = load_file(str(next(cache.glob(f"{split}-*.safetensors"))))["features"]
                difference = float((cached.float() - x.float()).abs().max())
                print(f"main job {split} features vs the job's feature cache: max abs diff {difference:.2e}")
        table[name] = protocols(train_x, train_y, eval_x, eval_y)
    return {"accuracy": table, "points_vs_torch_fp32": print_differences("main job", table),
            "eval_clips": len(evals)}


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
    parser.add_argument("--num-clips", type=int, default=1024, help="train and eval clips per task")
    parser.add_argument("--train-steps", type=int, default=150, help="world-model training steps")
    parser.add_argument("--episodes", type=int, default=12, help="planning episodes")
    parser.add_argument("--output", default=None)
    parser.add_argument("--encoder", default=None, help="an encoder folder (default: a random tiny encoder)")
    parser.add_argument("--skip-planning", action="store_true", help="the frozen-feature protocols only")
    parser.add_argument("--quickstart-dir", default=None,
                        help="the main job's output folder: also its own protocols on its own data")
    parser.add_argument("--variants", type=lambda v: v.split(","), default=None,
                        help="comma-separated subset of onnxruntime_fp32, onnxruntime_int8, onnxruntime_int8_per_matrix, "
                             "openvino_bf16 (default: all; PyTorch fp32 always runs)")
    args = parser.parse_args()
    if args.quickstart_dir and not args.encoder:
        args.encoder = str(Path(args.quickstart_dir) / "pretrain" / "final")
    with tempfile.TemporaryDirectory() as tmp:
        results = {"frozen_features": frozen_features(args, Path(tmp))}
        if args.quickstart_dir:
            results["main_job"] = main_job(args, Path(tmp) / "main_job")
        if not args.skip_planning:
            results["planning_success"] = planning(args, Path(tmp))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
