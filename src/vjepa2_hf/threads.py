"""CPU thread defaults of every command: OpenMP's wait policy and torch's intra-op threads.

Why (measured with `scripts/bench_probe_threads.py`, 2-core AMD EPYC shared with other jobs, load average 8-9): the
probe's training on cached features took 21-41 s with torch's default 2 OpenMP threads against 1.6-2.8 s with one
thread, and 0.75 s with 2 threads when OpenMP threads sleep instead of spinning while they wait
(`OMP_WAIT_POLICY=PASSIVE`). With the default (active) policy, a thread that reaches a barrier spins for its whole
time slice; on a busy machine the thread it waits for is descheduled, so every small parallel operation costs
time slices instead of microseconds. A passive policy removes that cost; large operations (a ViT-L forward) are
unaffected. OpenMP reads the policy once, when torch loads its runtime, so it must be set before `import torch`:
the command line does so first thing (`prefer_passive_openmp`), and library users can call `configure_threads()`
before importing torch, or export `OMP_WAIT_POLICY=PASSIVE` themselves.

Intra-op threads: the cores this process may use, divided by the processes of the job on this machine
(`LOCAL_WORLD_SIZE` under `torchrun` / `accelerate launch`), so N processes do not start N x cores threads.
An explicit `OMP_NUM_THREADS` (torchrun sets 1 for several processes) is respected. DataLoader workers run one
intra-op thread each (PyTorch sets it; our video decoder uses one FFmpeg thread inside a worker).
"""

from __future__ import annotations

import os
import sys

__all__ = ["available_cores", "configure_threads", "default_num_threads", "prefer_passive_openmp"]


def _logger():
    from transformers.utils import logging  # not at import: the command line calls this module before torch loads

    return logging.get_logger(__name__)


def prefer_passive_openmp() -> bool:
    """Set `OMP_WAIT_POLICY=PASSIVE` unless the environment already chooses a policy. Returns True when the policy
    in the environment is in effect for this process (torch not imported yet, or imported after the policy was set
    by the environment); child processes (DataLoader workers, torchrun ranks) inherit it either way."""
    chosen = "OMP_WAIT_POLICY" in os.environ
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return chosen or "torch" not in sys.modules


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; `os.cpu_count()` where there is none)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_num_threads() -> int:
    """Intra-op threads of one process: `OMP_NUM_THREADS` when set, else the available cores divided by the
    processes of this job on the machine (`LOCAL_WORLD_SIZE`, 1 when not launched by torchrun / accelerate)."""
    explicit = os.environ.get("OMP_NUM_THREADS", "").strip()
    if explicit:
        try:
            return max(1, int(explicit))
        except ValueError:
            _logger().warning(f"OMP_NUM_THREADS={explicit!r} is not an integer; ignoring it")
    local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(1, available_cores() // local_processes)


def configure_threads(num_threads: int | None = None) -> int:
    """Thread defaults of a command (or a script): a passive OpenMP wait policy (effective when torch is not yet
    imported) and `torch.set_num_threads(num_threads or default_num_threads())`. Returns the thread count.

    Raises:
        ValueError: `num_threads` is not a positive integer.
    """
    if num_threads is not None and (isinstance(num_threads, bool) or int(num_threads) != num_threads
                                    or int(num_threads) < 1):
        raise ValueError(f"num_threads: expected a positive integer, got {num_threads!r}")
    if not prefer_passive_openmp():
        _logger().info("torch was imported before OMP_WAIT_POLICY was set: OpenMP threads of this process keep the "
                    "active wait policy (export OMP_WAIT_POLICY=PASSIVE to change it)")
    import torch

    threads = int(num_threads) if num_threads is not None else default_num_threads()
    torch.set_num_threads(threads)
    return threads
