"""`vjepa2-hf pretrain --config FILE_OR_PRESET [--resume [CHECKPOINT]] [--set section.key=value ...]`.

Runs `vjepa2_hf.pretraining.pretrain`. Under several processes launch it with Accelerate, e.g.
`accelerate launch --multi_gpu --num_processes 8 -m vjepa2_hf.cli pretrain --config vit_large_pretrain`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..pretraining.train_vjepa2 import add_arguments as _add

    _add(parser)


def run(args: argparse.Namespace) -> int:
    from ..pretraining.train_vjepa2 import run_from_args

    return run_from_args(args)
