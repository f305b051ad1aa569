"""`vjepa2-hf pretrain --config FILE_OR_PRESET [--resume [CHECKPOINT] | --overwrite] [--compile] [--set section.key=value ...]`.

Runs `vjepa2_hf.pretraining.pretrain`. Under several processes launch it with Accelerate, e.g.
`accelerate launch --multi_gpu --num_processes 8 -m vjepa2_hf.cli pretrain --config vit_large_pretrain`.
"""

from __future__ import annotations

import argparse
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None,
                        help="YAML recipe file or preset name (tiny, vit_large_pretrain, vit_large_cooldown, ...)")
    parser.add_argument("--resume", nargs="?", const="auto", default=None,
                        help="continue from the latest checkpoint of run.output_dir, or from the given checkpoint")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the run state in run.output_dir (checkpoints, final model, logs) and start there")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value (repeatable), e.g. --set optimization.total_steps=50")
    parser.add_argument("--output-dir", default=None, help="shortcut for --set run.output_dir=...")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the transformer blocks (shortcut for --set run.compile=true; the first "
                             "step pays the compile time)")
    parser.add_argument("--list-presets", action="store_true", help="print the shipped recipes and exit")


def run(args: argparse.Namespace) -> int:
    from ..pretraining import list_pretraining_presets, pretrain
    from ..training import CorruptCheckpointError, NonFiniteLossError

    if args.list_presets:
        print("\n".join(list_pretraining_presets()))
        return 0
    if not args.config:
        print("vjepa2-hf pretrain: error: --config FILE_OR_PRESET is required (see --list-presets)", file=sys.stderr)
        return 2
    overrides = ["run.progress_bar=false"] if args.no_progress else []  # an explicit --set of the same key wins
    if args.num_threads:
        overrides.append(f"run.cpu_threads={args.num_threads}")
    overrides += args.overrides
    if args.output_dir:
        overrides.append(f"run.output_dir={args.output_dir}")
    if args.compile:
        overrides.append("run.compile=true")
    try:  # a bad config or input is the command line's one-line error (exit 2); a failed run exits 1
        result = pretrain(args.config, resume=args.resume, overrides=overrides, overwrite=args.overwrite)
    except (NonFiniteLossError, CorruptCheckpointError) as error:
        print(f"vjepa2-hf pretrain: error: {error}", file=sys.stderr)
        return 1
    if result.stopped:
        print(f"stopped early ({result.stopped}) at step {result.step}; last checkpoint {result.last_checkpoint}")
        return 2
    if int(os.environ.get("RANK", "0")) != 0:  # one summary line per run, not per process
        return 0
    last = result.history[-1] if result.history else {}
    print(
        f"done: {result.step} steps, final loss {last.get('loss', float('nan')):.4f}, target std "
        f"{last.get('target_std', float('nan')):.3f}; model in {result.final_model_dir}"
    )
    return 0
