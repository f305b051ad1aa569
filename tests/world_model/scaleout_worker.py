"""Run by the scale-out tests under a launcher (`torchrun` / `accelerate launch`): `vjepa2-hf train-ac` through the
command line; every process writes to `RESULT_DIR/rank{r}.pt` its world size, distributed type, the local rows of a
predictor block weight, the FSDP units' gradient-reduction dtype (also at its first update, in `layout{r}.pt`), the
losses it saw and its whole trained predictor (FSDP shards gathered). `STEP_SLEEP` seconds after each update let a test kill the run mid-way."""

from __future__ import annotations

import os
import sys
import time

import torch
import torch.distributed as dist

from vjepa2_hf.cli import main as cli_main
from vjepa2_hf.world_model import training_vjepa2_ac as job


def layout(accelerator, module) -> dict:
    weight = accelerator.unwrap_model(module).predictor.layer[0].mlp.fc1.weight
    local = weight.to_local() if hasattr(weight, "to_local") else weight
    units = [m for m in module.modules() if hasattr(m, "_get_fsdp_state")]
    return {
        "world_size": dist.get_world_size() if dist.is_initialized() else 1,
        "backend": dist.get_backend() if dist.is_initialized() else None,
        "distributed_type": str(accelerator.distributed_type),
        "block_rows": int(weight.shape[0]),
        "local_block_rows": int(local.shape[0]),
        "fsdp_units": len(units),
        "reduce_dtypes": sorted({str(m._get_fsdp_state()._mp_policy.reduce_dtype) for m in units}),
    }


def main(result_dir: str, argv: list[str]) -> int:
    torch.set_num_threads(1)
    sleep = float(os.environ.get("STEP_SLEEP", "0"))
    histories, seen = [], []
    run_steps, step, trained = job.run_steps, job._ac_step, getattr(job, "_trained_predictor", None)

    def spy_run_steps(*args, history, **kwargs):
        histories.append(history)
        return run_steps(*args, history=history, **kwargs)

    def slow_step(accelerator, module, *args, **kwargs):
        if not seen:
            seen.append(True)
            rank = dist.get_rank() if dist.is_initialized() else 0
            torch.save(layout(accelerator, module), os.path.join(result_dir, f"layout{rank}.pt"))
        metrics = step(accelerator, module, *args, **kwargs)
        time.sleep(sleep)
        return metrics

    def spy_trained(accelerator, module):
        predictor = accelerator.unwrap_model(module).predictor
        state = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone()
                 for k, v in predictor.state_dict().items()}
        result = {**layout(accelerator, module), "losses": [dict(h) for h in histories[0]], "state": state}
        torch.save(result, os.path.join(result_dir, f"rank{accelerator.process_index}.pt"))
        return trained(accelerator, module)

    job.run_steps, job._ac_step, job._trained_predictor = spy_run_steps, slow_step, spy_trained
    return cli_main(["train-ac", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
