#!/usr/bin/env python
"""Pretrain the tiny V-JEPA 2 on synthetic moving shapes, then check that it learned something.

1. `pretrain("tiny")`: the shipped tiny recipe (official masks, L1 to layer-normed EMA targets, AdamW, warmup /
   constant / cooldown) on clips rendered in memory; writes checkpoints, TensorBoard logs, `metrics.jsonl`,
   `loss_curve.png` and the final `VJEPA2Model` (`save_pretrained`) to `--output-dir`.
2. Frozen-feature attentive probes on held-out clips (seeds disjoint from the pretraining clips): the pretrained
   encoder against a randomly initialised encoder of the same shape, same probe recipe.

    python examples/pretrain_synthetic.py --output-dir runs/tiny
    python examples/pretrain_synthetic.py --output-dir runs/tiny --set optimization.total_steps=200 --threads 1

Writes `report.json` (loss curve summary, feature std, both probe accuracies) next to the run.

Measured on 2 CPU cores (1 thread), default settings: pretraining 140 s, loss 0.78 -> 0.13, target feature std
>= 0.31 throughout; direction probe (2048 / 512 clips) 0.977 pretrained vs 0.930 mean of three random encoders
(0.977 / 0.971 / 0.842), and 0.984 vs 0.986 on a second held-out draw (`data_seed=20000` of
`compare_with_random_encoder`): level with random features, which already carry local motion (each tubelet spans
two frames). Each probe takes ~2 minutes. `scripts/pretraining_ablation.py` explains the tie: a predictor trained on
the frozen random encoder (`--set model.freeze_encoder=true`) reaches the same loss, so these clips leave the encoder
nothing to learn.

A larger run on one NVIDIA H200 (2026-11-28) gave the same answer: a 6-block, 192-wide encoder with a 4-block, 96-wide
predictor, 2500 steps of 64 clips (160,000 clips, 141 s), loss 0.81 -> 0.105, target std >= 0.31; direction probe
(2048 / 512 clips) 0.973 pretrained vs 0.984 and 0.992 for two random encoders:

    python examples/pretrain_synthetic.py --output-dir runs/gpu --probe-train 2048 --probe-eval 512 --random-seeds 0,1 \
        --set "model.config_overrides={hidden_size: 192, num_hidden_layers: 6, num_attention_heads: 3, \
               pred_hidden_size: 96, pred_num_hidden_layers: 4, pred_num_attention_heads: 3}" \
        --set optimization.total_steps=2500 --set optimization.global_batch_size=64 \
        --set optimization.warmup_steps=250 --set optimization.cooldown_steps=416 --set optimization.lr=3e-4 \
        --set data.num_workers=14 --set run.checkpoint_every=0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2Model
from vjepa2_hf.pretraining import pretrain
from vjepa2_hf.workflows.pretraining_evaluation import compare_with_random_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="outputs/vjepa2-pretrain-tiny")
    parser.add_argument("--config", default="tiny", help="recipe file or preset (default: tiny)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 is fastest on busy machines)")
    parser.add_argument("--probe-train", type=int, default=2048,
                        help="labelled clips to fit each probe on (with 512 the comparison swings with the draw)")
    parser.add_argument("--probe-eval", type=int, default=256, help="held-out clips to score each probe on")
    parser.add_argument("--probe-epochs", type=int, default=20)
    parser.add_argument("--task", default="direction", help="probe label: direction, speed, count, anticipation")
    parser.add_argument("--random-seeds", default="0,1,2",
                        help="random encoders to compare with (seed 0 = the pretrained model's own initialisation)")
    args = parser.parse_args()

    overrides = [f"run.output_dir={args.output_dir}", *args.overrides]
    if args.threads:
        overrides.append(f"run.cpu_threads={args.threads}")
    start = time.perf_counter()
    result = pretrain(args.config, overrides=overrides)
    train_seconds = time.perf_counter() - start
    history = result.history
    model = VJEPA2Model.from_pretrained(result.final_model_dir)
    if torch.cuda.is_available():
        model = model.cuda()  # the probes then run on the GPU too
    recipe = _recipe(args.output_dir)
    comparison = compare_with_random_encoder(
        model.encoder,
        model.config,
        num_train=args.probe_train,
        num_eval=args.probe_eval,
        num_frames=int(recipe["data"]["frames_per_clip"]),
        size=int(recipe["data"]["crop_size"]),
        task=args.task,
        random_seeds=tuple(int(v) for v in args.random_seeds.split(",")),
        probe_epochs=args.probe_epochs,
        progress=True,
    )
    report = {
        "train_seconds": train_seconds,
        "steps": result.step,
        "loss_first": history[0]["loss"],
        "loss_min": min(h["loss"] for h in history),
        "loss_last": history[-1]["loss"],
        "loss_every_50_steps": {h["step"]: round(h["loss"], 4) for h in history if h["step"] % 50 == 0},
        "target_std_min": min(h["target_std"] for h in history),
        "target_std_last": history[-1]["target_std"],
        "prediction_std_last": history[-1]["prediction_std"],
        "probe": {
            "task": comparison.task,
            "pretrained_accuracy": comparison.pretrained_accuracy,
            "random_accuracy_mean": comparison.random_accuracy,
            "random_accuracies": dict(zip(map(str, comparison.random_seeds), comparison.random_accuracies)),
            "chance": comparison.chance,
            "num_train": comparison.num_train,
            "num_eval": comparison.num_eval,
        },
        "torch_threads": torch.get_num_threads(),
    }
    out = Path(args.output_dir) / "report.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(comparison)


def _recipe(output_dir: str) -> dict:
    import yaml

    return yaml.safe_load((Path(output_dir) / "pretraining_config.yaml").read_text())


if __name__ == "__main__":
    main()
