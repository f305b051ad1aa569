"""`vjepa2-hf synth`: write a synthetic moving-shapes video dataset (real H.264 MP4 files) with a train / test split.

Example:
    vjepa2-hf synth --output-dir data/direction --num-videos 400 --task direction --frames 16 --size 64 --fps 8 --seed 0
"""

from __future__ import annotations

import argparse
import json
import time

from ..video.synthetic import TASKS, generate_motion_dataset, load_dataset_info
from ._options import add_output_dir_argument, non_negative_int, open_fraction, positive_float, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_dir_argument(parser, ["--out"], required=True, help="output folder")
    parser.add_argument("--num-videos", type=positive_int, required=True, help="number of clips (train + test)")
    parser.add_argument("--task", choices=TASKS, default="direction", help="label to balance and store as `label`")
    parser.add_argument("--frames", type=positive_int, default=16, help="frames per clip")
    parser.add_argument("--size", type=positive_int, default=64, help="frame height and width (even)")
    parser.add_argument("--fps", type=positive_float, default=8, help="frame rate written in the files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--held-out-fraction", type=open_fraction, default=0.25, help="fraction of each class in `test`")
    parser.add_argument("--crf", type=non_negative_int, default=18, help="H.264 quality (lower is better)")
    parser.add_argument("--skip-existing", action="store_true", help="do nothing if the same dataset is already there")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    out = generate_motion_dataset(
        args.output_dir,
        args.num_videos,
        num_frames=args.frames,
        size=args.size,
        fps=args.fps,
        seed=args.seed,
        task=args.task,
        held_out_fraction=args.held_out_fraction,
        crf=args.crf,
        overwrite=not args.skip_existing,
    )
    info = load_dataset_info(out)
    summary = {k: info[k] for k in ("task", "num_classes", "num_train", "num_test", "num_frames", "size", "fps")}
    print(f"wrote {out} in {time.perf_counter() - t0:.1f}s: {json.dumps(summary)}")
    print(f"  train list: {out}/train.csv   test list: {out}/test.csv   metadata: {out}/metadata.jsonl")
    return 0
