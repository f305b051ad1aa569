"""Run by the scale-out tests under a launcher (`accelerate launch` / `torchrun`): `vjepa2-hf pretrain` through the
command line, with a callback that records, on every process, how the run is laid out (world size, distributed type,
the local rows of a block weight, the FSDP units' gradient-reduction dtype) and, after the last step, the whole
model (FSDP shards gathered) in `RESULT_DIR/rank{r}.pt`. `STEP_SLEEP` seconds after each step let a test kill the run
mid-way."""

from __future__ import annotations

import os
import sys
import time

import torch
import torch.distributed as dist

from vjepa2_hf.cli import main as cli_main
from vjepa2_hf.pretraining import train_vjepa2


def layout(model: torch.nn.Module) -> dict:
    weight = model.encoder.layer[0].mlp.fc1.weight
    local = weight.to_local() if hasattr(weight, "to_local") else weight
    units = [m for m in model.modules() if hasattr(m, "_get_fsdp_state")]
    return {
        "world_size": dist.get_world_size() if dist.is_initialized() else 1,
        "backend": dist.get_backend() if dist.is_initialized() else None,
        "block_rows": int(weight.shape[0]),
        "local_block_rows": int(local.shape[0]),
        "fsdp_units": len(units),
        "no_split_blocks": sum(any(c.__name__ in model._no_split_modules for c in type(m).__mro__)
                               for m in model.modules()),
        "reduce_dtypes": sorted({str(m._get_fsdp_state()._mp_policy.reduce_dtype) for m in units}),
        "target_dtype": str(model.target_encoder.layer[0].mlp.fc1.weight.dtype),
    }


def main(result_dir: str, argv: list[str]) -> int:
    torch.set_num_threads(1)
    total = [None]
    sleep = float(os.environ.get("STEP_SLEEP", "0"))
    seen: dict = {}
    original = train_vjepa2._train

    def record(step, metrics, model):
        if not seen:
            seen.update(layout(model))
        if step == total[0]:
            rank = dist.get_rank() if dist.is_initialized() else 0
            state = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone()
                     for k, v in model.state_dict().items()}
            torch.save({**seen, "state": state}, os.path.join(result_dir, f"rank{rank}.pt"))
        time.sleep(sleep)

    def train(run, callbacks, metrics_log, progress):
        total[0] = run.config.optimization.total_steps
        return original(run, [*callbacks, record], metrics_log, progress)

    train_vjepa2._train = train
    return cli_main(["pretrain", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
