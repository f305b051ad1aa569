"""Run by `test_multiprocess_probe.py`, alone or under `torchrun`: the `vjepa2-hf probe` command (`vjepa2_hf.cli.main`)
with `run_probe` wrapped so that every rank also writes what it trained to `<RESULTS>/rank<R>.pt`: the world size of
its process group, its log history, its final metrics and its classifier's probe weights.

    python multiprocess_probe_worker.py RESULTS probe-options...
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist

import vjepa2_hf.probe.run_video_classification as probe_job
from vjepa2_hf.cli import main

results, argv = sys.argv[1], sys.argv[2:]
run_probe = probe_job.run_probe


def recording_run_probe(*args, **kwargs):
    result = run_probe(*args, **kwargs)
    rank = int(os.environ.get("RANK", "0"))
    torch.save({
        "world_size": dist.get_world_size() if dist.is_initialized() else 1,
        "backend": dist.get_backend() if dist.is_initialized() else None,
        "log_history": result.log_history,
        "metrics": result.metrics,
        "probe": {k: v.clone() for k, v in result.model.probe_state_dict().items()},
    }, os.path.join(results, f"rank{rank}.pt"))
    return result


probe_job.run_probe = recording_run_probe
sys.exit(main(["probe", *argv]))
