"""`vjepa2-hf train-ac --config FILE`: train the V-JEPA 2-AC predictor on trajectories (Accelerate).

The config file (YAML or JSON) is documented in `vjepa2_hf.world_model.training_vjepa2_ac`. Launch several
processes with `accelerate launch -m vjepa2_hf.cli train-ac --config FILE`. A run resumes from the latest complete
checkpoint of its `run.output_dir` unless `run.resume: none`, and only when that folder's run has the same identity
(`run.json`: recipe, seed, data, package version); `--overwrite` deletes the folder's run state and starts again.

Example (the in-package reaching environment)::

    vjepa2-hf train-ac --config ac.yaml --set run.output_dir=runs/ac --set optimization.total_steps=500
"""

from __future__ import annotations

import argparse
import json
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML/JSON file with model/data/optimization/run sections")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override a config value (repeatable), e.g. --set optimization.total_steps=100",
    )
    parser.add_argument("--output-dir", default=None, help="shortcut for --set run.output_dir=DIR")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the run state in run.output_dir (checkpoints, final model, logs) and start there")


def run(args: argparse.Namespace) -> int:
    from ..world_model.training_vjepa2_ac import load_train_ac_config, train_ac

    overrides = ["run.progress_bar=false"] if args.no_progress else []  # an explicit --set of the same key wins
    overrides += args.overrides
    if args.output_dir:
        overrides.append(f"run.output_dir={args.output_dir}")
    cfg = load_train_ac_config(args.config, overrides)
    summary = train_ac(cfg, overwrite=args.overwrite)
    if int(os.environ.get("RANK", "0")) == 0:  # one summary per run, not per process
        print(json.dumps(summary, indent=2, default=str))
    return 0
