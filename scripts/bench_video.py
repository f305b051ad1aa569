"""Benchmark the video input pipeline: clips per second for decode + clip sampling + transform, with 0, 1 and 2
DataLoader workers, on the package's synthetic videos.

    python scripts/bench_video.py                                   # 64-px clips, training transform at 64
    python scripts/bench_video.py --size 256 --crop 224 --num-videos 64
    python scripts/bench_video.py --transform eval                  # VJEPA2VideoProcessor instead

Prints one JSON line per worker count: clips/s over a full pass (worker start-up included) and in steady state
(after the first batch).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import torch

from vjepa2_hf.video.sampling import ClipSampler
from vjepa2_hf.video.synthetic import generate_motion_dataset
from vjepa2_hf.video.transforms import VideoTrainTransform
from vjepa2_hf.video.video_datasets import VideoClipDataset, VideoCollator, dataset_from_synthetic
from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-videos", type=int, default=256)
    parser.add_argument("--size", type=int, default=64, help="frame size of the synthetic videos")
    parser.add_argument("--frames", type=int, default=16, help="frames per video and per clip")
    parser.add_argument("--crop", type=int, default=64, help="output crop size")
    parser.add_argument("--transform", choices=["train", "eval"], default="train")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-dir", default=None, help="reuse/generate the synthetic videos here")
    args = parser.parse_args()

    torch.set_num_threads(1)
    data_dir = args.data_dir or os.path.join(tempfile.gettempdir(), f"vjepa2_bench_{args.size}_{args.frames}")
    t0 = time.perf_counter()
    generate_motion_dataset(
        data_dir, args.num_videos, num_frames=args.frames, size=args.size, held_out_fraction=0.0, overwrite=False
    )
    gen_s = time.perf_counter() - t0
    ds = dataset_from_synthetic(data_dir, "train")
    transform = (
        VideoTrainTransform(crop_size=args.crop) if args.transform == "train" else VJEPA2VideoProcessor(crop_size=args.crop)
    )
    sampler = ClipSampler(frames_per_clip=args.frames, frame_step=1)
    clip_ds = VideoClipDataset(ds, transform, sampler, seed=0)
    print(json.dumps({"setup": dict(vars(args), num_clips=len(clip_ds), generation_s=round(gen_s, 2),
                                    torch_threads=torch.get_num_threads(), cpus=os.cpu_count())}))
    for w in args.workers:
        loader = torch.utils.data.DataLoader(
            clip_ds, batch_size=args.batch_size, num_workers=w, collate_fn=VideoCollator(), shuffle=False
        )
        start = time.perf_counter()
        first = None
        n = 0
        for batch in loader:
            if first is None:
                first = time.perf_counter()
                n_first = batch["pixel_values_videos"].shape[0]
            n += batch["pixel_values_videos"].shape[0]
        end = time.perf_counter()
        steady = (n - n_first) / (end - first) if end > first else float("nan")
        print(json.dumps({"workers": w, "clips": n, "clips_per_s": round(n / (end - start), 1),
                          "steady_clips_per_s": round(steady, 1), "seconds": round(end - start, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
