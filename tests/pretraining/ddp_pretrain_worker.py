"""Run by `test_multiprocess.py` under `torchrun --nproc_per_node 2`: a tiny pretraining run; rank 0 writes the
world size and the per-step global losses to a JSON file."""

from __future__ import annotations

import json
import sys

import torch
import torch.distributed as dist

from vjepa2_hf.pretraining import pretrain


def main(config_path: str, result_path: str) -> None:
    torch.set_num_threads(1)
    seen = {}

    def record(step, metrics, model):
        seen["world_size"] = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        seen["backend"] = dist.get_backend() if dist.is_initialized() else None

    result = pretrain(config_path, callbacks=[record])
    if not dist.is_initialized() or dist.get_rank() == 0:
        with open(result_path, "w") as f:
            json.dump({**seen, "losses": [h["loss"] for h in result.history]}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
