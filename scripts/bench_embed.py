"""Benchmark `embed_videos` / `vjepa2-hf embed` against the naive loop the old `embed` ran (decode, preprocess,
forward, one video at a time, one process).

    python scripts/bench_embed.py                                  # 256 clips of 256 px x 16 frames, tiny model
    python scripts/bench_embed.py --num-videos 64 --vitl-videos 4  # reduced counts on a busy machine

Measured (videos/s over the embedding loop; model loading and process start-up excluded, reported separately):
the naive loop; the job with 0 and 2 DataLoader workers in one process; the job with 0 and 2 workers in each of 2
processes (`torchrun --nproc_per_node 2`, gloo on CPU). Then ViT-L in bfloat16 (random weights, a reduced count):
naive loop vs the job with 2 workers. Then the cost of the NaN / Inf input check relative to a forward pass.
Prints one JSON line per measurement, with the load average (a shared machine makes single runs noisy: the naive loop
runs first and last and the ratios use the mean of both), and the ratios to the naive loop.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from vjepa2_hf import VJEPA2Config, VJEPA2VisionModel, embed_videos
from vjepa2_hf.feature_extraction import load_encoder_and_processor
from vjepa2_hf.input_checks import check_finite
from vjepa2_hf.video.encoding import write_video
from vjepa2_hf.video.synthetic import render_motion_clip
from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor

from bench_machine import cpu_name  # noqa: E402 - scripts/ is on the path when a script runs


def make_clips(folder: Path, count: int, size: int, frames: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"clip_{i:04d}.mp4"
        if not path.is_file():
            write_video(path, render_motion_clip(num_frames=frames, size=size, seed=i), fps=8)
        paths.append(str(path))
    return paths


def naive_loop(paths: list[str], encoder, processor, num_frames: int, dtype: torch.dtype) -> float:
    """What `vjepa2-hf embed` did before: one video at a time, in this process. Returns videos/s."""
    start = time.perf_counter()
    for path in paths:
        pixels = processor(path, num_frames=num_frames)["pixel_values_videos"].to(dtype)
        with torch.inference_mode():
            encoder(pixels)
    return len(paths) / (time.perf_counter() - start)


def job_in_process(paths, out: Path, model, workers: int, args, dtype: str) -> float:
    result = embed_videos(paths, out, model=model, dtype=dtype, num_workers=workers, batch_size=args.batch_size,
                          num_frames=args.frames, shard_size=args.shard_size, overwrite=True, progress=False)
    assert result.num_embedded == len(paths), result.summary()
    return result.videos_per_second


def job_two_processes(data: Path, out: Path, workers: int, args) -> tuple[float, float]:
    """`torchrun --nproc_per_node 2 -m vjepa2_hf.cli embed`; returns (videos/s of the loop, wall seconds)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(port), "-m", "vjepa2_hf.cli", "embed", str(data), "--output-dir", str(out),
               "--num-workers", str(workers), "--batch-size", str(args.batch_size), "--num-frames", str(args.frames),
               "--shard-size", str(args.shard_size), "--overwrite", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["last_run"]["processes"] == 2 and manifest["num_embedded"] == manifest["num_rows"]
    return manifest["last_run"]["videos"] / manifest["last_run"]["seconds"], wall


def nan_check_cost(encoder, batch: int, frames: int, crop: int, dtype: torch.dtype, repeats: int) -> dict:
    x = torch.randn(batch, frames, 3, crop, crop)
    encoder.config.check_finite_inputs = False
    with torch.inference_mode():
        encoder(x.to(dtype))
        start = time.perf_counter()
        for _ in range(repeats):
            encoder(x.to(dtype))
        forward = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    for _ in range(repeats * 10):
        check_finite(x)
    check = (time.perf_counter() - start) / (repeats * 10)
    encoder.config.check_finite_inputs = True
    return {"forward_s": round(forward, 5), "check_s": round(check, 6), "check_over_forward": round(check / forward, 5)}


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def bench_tiny(args, paths, data: Path, work: Path) -> float:
    """The naive loop runs first and last (the machine may be shared): ratios use the mean of both."""
    encoder, processor = load_encoder_and_processor("tiny")
    naive_first = naive_loop(paths, encoder, processor, args.frames, torch.float32)
    emit({"model": "tiny", "mode": "naive loop (first)", "processes": 1, "workers": 0,
          "videos_per_s": round(naive_first, 2), "load_avg": _load()})
    records = []
    for workers in args.workers:
        vps = job_in_process(paths, work / f"tiny_w{workers}", "tiny", workers, args, "float32")
        records.append({"model": "tiny", "mode": "embed_videos", "processes": 1, "workers": workers, "videos_per_s": vps,
                        "load_avg": _load()})
    if not args.skip_multiprocess:
        for workers in args.workers:
            vps, wall = job_two_processes(data, work / f"tiny_p2_w{workers}", workers, args)
            records.append({"model": "tiny", "mode": "torchrun embed", "processes": 2, "workers": workers,
                            "videos_per_s": vps, "wall_s_with_startup": round(wall, 1), "load_avg": _load()})
    naive_last = naive_loop(paths, encoder, processor, args.frames, torch.float32)
    emit({"model": "tiny", "mode": "naive loop (last)", "processes": 1, "workers": 0,
          "videos_per_s": round(naive_last, 2), "load_avg": _load()})
    naive = (naive_first + naive_last) / 2
    for record in records:
        emit({**record, "videos_per_s": round(record["videos_per_s"], 2),
              "vs_naive": round(record["videos_per_s"] / naive, 2)})
    emit({"model": "tiny", "nan_check": nan_check_cost(encoder, args.batch_size, args.frames, 64, torch.float32, 5)})
    return naive


def bench_vitl(args, paths, work: Path) -> None:
    with torch.device("meta"):
        VJEPA2VisionModel(VJEPA2Config())  # the full-size config builds on the meta device first
    torch.manual_seed(0)
    start = time.perf_counter()
    encoder = VJEPA2VisionModel(VJEPA2Config()).to(torch.bfloat16).eval()
    emit({"model": "vit_large", "build_s": round(time.perf_counter() - start, 1)})
    processor = VJEPA2VideoProcessor(crop_size=256)
    naive = naive_loop(paths, encoder, processor, args.frames, torch.bfloat16)
    emit({"model": "vit_large bf16", "mode": "naive loop", "videos": len(paths), "videos_per_s": round(naive, 3)})
    result = embed_videos(paths, work / "vitl", model=encoder, processor=processor, dtype="bfloat16",
                          num_workers=2, batch_size=min(args.batch_size, len(paths)), num_frames=args.frames,
                          overwrite=True, progress=False)
    vps = result.videos_per_second
    emit({"model": "vit_large bf16", "mode": "embed_videos", "workers": 2, "videos": len(paths),
          "videos_per_s": round(vps, 3), "vs_naive": round(vps / naive, 2)})
    emit({"model": "vit_large bf16", "nan_check": nan_check_cost(encoder, 1, args.frames, 256, torch.bfloat16, 1)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-videos", type=int, default=256)
    parser.add_argument("--size", type=int, default=256, help="frame size of the generated clips")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip (and per video)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--vitl-videos", type=int, default=8, help="videos for ViT-L bf16 (0 = skip)")
    parser.add_argument("--skip-multiprocess", action="store_true")
    parser.add_argument("--data-dir", default=None, help="generate / reuse the clips here")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of the in-process runs (torchrun's processes get OMP_NUM_THREADS=1 each); "
                        "1 by default so that every mode runs with the same setting")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    root = Path(args.data_dir or Path(tempfile.gettempdir()) / "vjepa2_bench_embed")
    data = root / f"clips_{args.size}px_{args.frames}f_{args.num_videos}"
    start = time.perf_counter()
    paths = make_clips(data, args.num_videos, args.size, args.frames)
    emit({"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
          "videos": len(paths), "size": args.size, "frames": args.frames, "generate_s": round(time.perf_counter() - start, 1)})
    work = Path(tempfile.mkdtemp(prefix="bench_embed_"))
    bench_tiny(args, paths, data, work)
    if args.vitl_videos:
        bench_vitl(args, paths[: args.vitl_videos], work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
