"""The probe's training time with the thread defaults before and after `vjepa2_hf.threads`, quiet and under load.

    python scripts/bench_probe_threads.py                 # 512 clips, 20 probe epochs, 3 alternating rounds
    python scripts/bench_probe_threads.py --quick         # a short check that it works (96 clips, 3 epochs, 1 round)

What is timed: `run_probe`'s `train_runtime` (the Trainer's training loop) of the quickstart's probe (attentive probe,
0 self-attention blocks, 4 heads, batch 16, lr 5e-3) on the frozen, cached features of a tiny encoder, on 32-px,
8-frame synthetic clips. The features are computed once beforehand, so every run times the same training.

Settings, each run in a fresh process (OpenMP reads its wait policy when torch loads):

* `old default`: what the package did before: torch's default intra-op threads (the cores), OpenMP's default
  (active) wait policy;
* `1 thread`: `OMP_NUM_THREADS=1`, the best setting reported on a busy machine with the old code;
* `new default`: `vjepa2_hf.threads.configure_threads()` before torch loads: passive wait policy, threads = cores
  divided by the job's processes on this machine.

Conditions: `quiet` (nothing started by the bench), and `loaded`: `--load-processes` busy processes (default: one
per core, pure-Python spin loops) running during the timed runs. The settings alternate within each round; the
table gives the median over rounds and the ratio to the old default in the same condition. The CPU, the core count
and the load average before each condition are printed: a machine shared with other work adds its own load to both
conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_machine import cpu_name  # noqa: E402 - scripts/ is on the path when a script runs

SETTINGS = ("old default", "1 thread", "new default")


def _probe_arguments(work: Path, epochs: int, output: Path):
    from vjepa2_hf.probe.run_video_classification import DataArguments, ModelArguments, default_training_arguments

    model = ModelArguments(model=str(work / "encoder"), cache_features=True, feature_cache_dir=str(work / "cache"),
                           num_pooler_layers=0, probe_num_attention_heads=4)
    data = DataArguments(data=str(work / "data"), frames_per_clip=8, frame_step=1, do_resize=False, crop_size=32)
    training = default_training_arguments(str(output), num_train_epochs=epochs, learning_rate=5e-3,
                                          per_device_train_batch_size=16, use_cpu=True, disable_tqdm=True)
    return model, data, training


def prepare(work: Path, num_videos: int) -> None:
    """Clips, a tiny encoder (32 px, 8 frames) and its cached features (one probe epoch computes them)."""
    import torch

    from vjepa2_hf.encoder import VJEPA2Config, VJEPA2Model
    from vjepa2_hf.probe.run_video_classification import run_probe
    from vjepa2_hf.video.synthetic import generate_motion_dataset

    torch.set_num_threads(1)
    generate_motion_dataset(work / "data", num_videos, num_frames=8, size=32, seed=0, task="direction",
                            overwrite=False)
    torch.manual_seed(0)
    VJEPA2Model(VJEPA2Config.from_preset("tiny", crop_size=32, frames_per_clip=8)).save_pretrained(work / "encoder")
    run_probe(*_probe_arguments(work, 1, work / "warmup"), progress=False)


def worker(setting: str, work: Path, epochs: int) -> None:
    """One timed probe training in this (fresh) process; prints a JSON line."""
    threads = None
    if setting == "new default":
        from vjepa2_hf.threads import configure_threads

        threads = configure_threads()  # before torch loads: the passive policy applies to this process
    import torch

    from vjepa2_hf.probe.run_video_classification import run_probe

    with tempfile.TemporaryDirectory() as out:
        result = run_probe(*_probe_arguments(work, epochs, Path(out)), progress=False)
    print(json.dumps({"setting": setting, "threads": threads or torch.get_num_threads(),
                      "policy": os.environ.get("OMP_WAIT_POLICY", "default (active)"),
                      "train_runtime": result.metrics["train_runtime"],
                      "eval_accuracy": result.metrics["eval_accuracy"]}))


def _environment(setting: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if setting == "1 thread":
        env["OMP_NUM_THREADS"] = "1"
    return env


def _timed_run(setting: str, work: Path, epochs: int) -> dict:
    command = [sys.executable, __file__, "--worker", setting, "--work", str(work), "--epochs", str(epochs)]
    done = subprocess.run(command, env=_environment(setting), capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{setting} run failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def _start_load(count: int) -> list[subprocess.Popen]:
    spin = "x = 0\nwhile True:\n    x += 1\n"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]


def _stop_load(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait()


def measure(work: Path, epochs: int, rounds: int, load_processes: int) -> dict[str, dict[str, list[dict]]]:
    results: dict[str, dict[str, list[dict]]] = {}
    for condition in ("quiet", "loaded"):
        load = _start_load(load_processes) if condition == "loaded" else []
        try:
            time.sleep(1.0 if load else 0.0)
            print(f"{condition}: load average {os.getloadavg()[0]:.1f} (1 min), {len(load)} load processes",
                  flush=True)
            runs: dict[str, list[dict]] = {s: [] for s in SETTINGS}
            for index in range(rounds):
                order = SETTINGS if index % 2 == 0 else tuple(reversed(SETTINGS))
                for setting in order:
                    run = _timed_run(setting, work, epochs)
                    runs[setting].append(run)
                    print(f"  round {index + 1} {setting:<12} threads {run['threads']} {run['policy']:<17} "
                          f"train_runtime {run['train_runtime']:.2f} s", flush=True)
            results[condition] = runs
        finally:
            _stop_load(load)
    return results


def table(results: dict[str, dict[str, list[dict]]]) -> str:
    lines = ["| condition | setting | threads | wait policy | train_runtime (median) | vs old default |",
             "|---|---|---|---|---|---|"]
    for condition, runs in results.items():
        base = statistics.median(r["train_runtime"] for r in runs["old default"])
        for setting, rs in runs.items():
            median = statistics.median(r["train_runtime"] for r in rs)
            lines.append(f"| {condition} | {setting} | {rs[0]['threads']} | {rs[0]['policy']} | {median:.2f} s | "
                         f"{base / median:.2f}x faster |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-videos", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load-processes", type=int, default=None, help="default: one per available core")
    parser.add_argument("--quick", action="store_true", help="96 clips, 3 epochs, 1 round: checks that it works")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--worker", choices=SETTINGS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.work, args.epochs)
        return
    if args.quick:
        args.num_videos, args.epochs, args.rounds = 96, 3, 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load_processes = cores if args.load_processes is None else args.load_processes
    print(f"CPU: {cpu_name()}, {cores} available cores; {args.num_videos} clips, {args.epochs} probe epochs, "
          f"{args.rounds} round(s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        prepare(work, args.num_videos)
        print(table(measure(work, args.epochs, args.rounds, load_processes)))


if __name__ == "__main__":
    main()
