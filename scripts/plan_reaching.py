"""V-JEPA 2-AC end to end in the in-package reaching environment (CPU, a few minutes).

Collects random-action trajectories in `ReachEnv`, trains a small AC predictor on a frozen tiny V-JEPA 2 encoder
(`vjepa2-hf train-ac` machinery), validates it offline, then plans toward goal images with CEM + MPC and reports
the success rate against random actions and the oracle controller, with the planning time per action
(`vjepa2_hf.workflows.reaching`).

Usage::

    python scripts/plan_reaching.py --output runs/plan_reaching          # full setting (the reported numbers)
    python scripts/plan_reaching.py --image-size 32 --episodes 120 --train-steps 150 --eval-episodes 10   # quick
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import torch


def main(argv: list[str] | None = None) -> dict:
    from vjepa2_hf.workflows.reaching import ReachingExperimentConfig, run_reaching_experiment

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for field in dataclasses.fields(ReachingExperimentConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.name == "output_dir":
            flag = "--output"
        if field.type in ("bool",) or isinstance(field.default, bool):
            parser.add_argument(flag, dest=field.name, type=lambda s: s.lower() in ("1", "true", "yes"),
                                default=field.default)
        elif field.name == "model":
            parser.add_argument(flag, dest=field.name, default=None, help="skip training: a world-model folder")
        else:
            parser.add_argument(flag, dest=field.name, type=type(field.default), default=field.default)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = vars(parser.parse_args(argv))
    threads = args.pop("threads")
    if threads:
        torch.set_num_threads(threads)
    report = run_reaching_experiment(ReachingExperimentConfig(**args))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
