"""Weak scaling of the multi-process jobs: throughput with 1 and N processes, the same work per process.

    python scripts/bench_scaling.py                       # CPU: 1 and 2 processes (gloo)
    python scripts/bench_scaling.py --processes 1 2 4 8   # a GPU node: one process per GPU (NCCL)

Two workloads, each launched as a user would (`torchrun --nproc_per_node N -m vjepa2_hf.cli ...`):

- pretraining: `vjepa2-hf pretrain --config tiny` (2-block ViT, 8 frames at 64 px) with `--per-process-batch` clips
  per process (global batch = N x that), `--steps` steps; clips/s is the median of the per-step rate the job logs
  (`clips_per_second` in `metrics.jsonl`: global batch / step time) after `--warmup` steps;
- embedding: `vjepa2-hf embed` of `--videos-per-process` x N generated mp4 clips with the tiny model; videos/s is the
  job's own figure for its loop (`manifest.json`: videos / seconds), model loading and process start-up excluded.

Weak-scaling efficiency = throughput(N) / (N x throughput(1)). The process counts alternate for `--repeats` rounds
(1, N, 1, N, ...) so that a load change on a shared machine hits both; every run is reported, then the medians.
On CUDA the same commands run one process per GPU (a count above the number of GPUs is skipped); on CPU each
process gets `--threads` torch threads. Prints one JSON line per run and a summary naming the CPU / GPU and the load
average; `--json FILE` writes everything.

Measured (2026-12-07, 2-core AMD EPYC shared with about eight other jobs, load average 8.8 to 10.9, `--steps 10
--videos-per-process 16`, medians of 2 rounds): pretraining 12.5 clips/s (1 process) and 20.9 (2), efficiency 0.84;
embed 7.4 and 16.2 videos/s, efficiency 1.10. Above 1 means the load decided: on an oversubscribed CPU two processes
get a larger share of the cores. Not yet run on GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench_machine import cpu_name  # noqa: E402 - scripts/ is on the path when a script runs


def _device() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU: {cpu_name()} ({os.cpu_count()} cores)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(processes: int, command: list[str], threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    full = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_addr",
            "127.0.0.1", "--master_port", str(_free_port()), "-m", "vjepa2_hf.cli", *command]
    done = subprocess.run(full, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(full)} failed:\n{done.stderr[-3000:]}")


def pretrain_rate(processes: int, args, work: Path) -> float:
    """Median clips/s of the tiny pretraining recipe after the warm-up steps."""
    out = work / f"pretrain_{processes}_{time.monotonic_ns()}"
    sets = {"optimization.total_steps": args.steps,
            "optimization.global_batch_size": args.per_process_batch * processes,
            "optimization.micro_batch_size": args.per_process_batch, "optimization.warmup_steps": 1,
            "optimization.cooldown_steps": 0, "run.log_every": 1, "run.checkpoint_every": 0, "run.report_to": "[]",
            "run.progress_bar": "false"}
    command = ["pretrain", "--config", "tiny", "--output-dir", str(out)]
    for key, value in sets.items():
        command += ["--set", f"{key}={value}"]
    _launch(processes, command, args.threads)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return statistics.median(r["clips_per_second"] for r in rows if r["step"] > args.warmup)


def embed_rate(processes: int, args, clips: Path, work: Path) -> float:
    """videos/s of the embedding loop over `videos_per_process x processes` clips."""
    from vjepa2_hf.video.encoding import write_video
    from vjepa2_hf.video.synthetic import render_motion_clip

    folder = clips / f"n{processes}"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        for i in range(args.videos_per_process * processes):
            write_video(folder / f"clip_{i:04d}.mp4", render_motion_clip(num_frames=16, size=64, seed=i), fps=8)
    out = work / f"embed_{processes}_{time.monotonic_ns()}"
    _launch(processes, ["embed", str(folder), "--model", "tiny", "--num-frames", "8", "--batch-size", "4",
                        "--shard-size", "8", "--output-dir", str(out), "--no-progress"], args.threads)
    last_run = json.loads((out / "manifest.json").read_text())["last_run"]
    assert last_run["processes"] == processes, last_run
    return last_run["videos"] / last_run["seconds"]


def _summary(runs: list[dict], counts: list[int]) -> dict:
    summary = {}
    for workload in ("pretrain_clips_per_s", "embed_videos_per_s"):
        medians = {n: statistics.median(r[workload] for r in runs if r["processes"] == n) for n in counts}
        base = medians[counts[0]] / counts[0]
        summary[workload] = {str(n): round(v, 2) for n, v in medians.items()}
        name = workload.split("_")[0] + "_weak_scaling_efficiency"
        summary[name] = {str(n): round(v / (n * base), 3) for n, v in medians.items()}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2, help="rounds over the process counts (alternating)")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2, help="pretraining steps left out of the median")
    parser.add_argument("--per-process-batch", type=int, default=4)
    parser.add_argument("--videos-per-process", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (CPU)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    counts = sorted(set(args.processes))
    if torch.cuda.is_available():
        skipped = [n for n in counts if n > torch.cuda.device_count()]
        counts = [n for n in counts if n <= torch.cuda.device_count()]
        if skipped:
            print(f"skipped {skipped} processes: {torch.cuda.device_count()} GPU(s)", flush=True)
    header = {"device": _device(), "torch": torch.__version__, "processes": counts, "threads": args.threads,
              "load_average_before": os.getloadavg()}
    print(json.dumps(header), flush=True)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for round_ in range(args.repeats):
            for n in counts:
                run = {"round": round_, "processes": n, "pretrain_clips_per_s": pretrain_rate(n, args, work),
                       "embed_videos_per_s": embed_rate(n, args, work / "clips", work),
                       "load_average": os.getloadavg()[0]}
                runs.append(run)
                print(json.dumps(run), flush=True)
    report = {**header, "runs": runs, "summary": _summary(runs, counts), "load_average_after": os.getloadavg()}
    print(json.dumps(report["summary"], indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
