"""`vjepa2-hf embed`: per-token and pooled clip embeddings of video files.

With no video given, it writes a synthetic moving-shapes clip with the package's own generator and embeds that,
with a tiny random model unless `--model` names a saved model folder or a Hub repo.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm
from transformers.utils import logging

logger = logging.get_logger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="*", help="video or image files (default: a synthetic clip written here)")
    parser.add_argument("--model", default="tiny", help="'tiny' (random, for a dry run), a model folder or a Hub repo")
    parser.add_argument("--num-frames", type=int, default=16, help="frames sampled evenly over each video")
    parser.add_argument("--out", default="embeddings.safetensors", help="output file (safetensors)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--seed", type=int, default=0)


def load_encoder_and_processor(model: str, dtype: torch.dtype = torch.float32):
    """A `VJEPA2VisionModel` and its `VJEPA2VideoProcessor` from 'tiny', a folder or a Hub repo."""
    from ..encoder import VJEPA2Config, VJEPA2VisionModel
    from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor

    if model == "tiny":
        config = VJEPA2Config.from_preset("tiny")
        return VJEPA2VisionModel(config).to(dtype).eval(), VJEPA2VideoProcessor(crop_size=config.crop_size)
    encoder = VJEPA2VisionModel.from_pretrained(model, dtype=dtype).eval()
    try:
        processor = VJEPA2VideoProcessor.from_pretrained(model)
    except (OSError, ValueError):
        logger.warning(f"{model} has no video processor config; using crop {encoder.config.crop_size}")
        processor = VJEPA2VideoProcessor(crop_size=encoder.config.crop_size)
    return encoder, processor


def run(args: argparse.Namespace) -> int:
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)
    videos = [str(v) for v in args.videos]
    if not videos:
        from ..video.synthetic import render_motion_clip, sample_motion_spec
        from ..video.encoding import write_video

        folder = Path(tempfile.mkdtemp(prefix="vjepa2_embed_"))
        spec = sample_motion_spec(args.seed, num_frames=args.num_frames)
        path = folder / "synthetic_clip.mp4"
        write_video(path, render_motion_clip(spec), fps=8)
        videos = [str(path)]
        print(f"no video given: wrote a synthetic clip to {path}")
    encoder, processor = load_encoder_and_processor(args.model, dtype)
    tokens, pooled = [], []
    grid = None
    for video in tqdm(videos, desc="embedding", unit="video"):
        pixels = processor(video, num_frames=args.num_frames)["pixel_values_videos"].to(dtype)
        with torch.inference_mode():
            out = encoder(pixels)
        tokens.append(out.last_hidden_state[0].float())
        pooled.append(out.pooler_output[0].float())
        grid = out.grid
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {"tokens": torch.stack(tokens), "pooled": torch.stack(pooled)},
        out_path,
        metadata={"videos": json.dumps(videos), "grid": json.dumps(list(grid)), "model": args.model},
    )
    print(f"wrote {out_path}: tokens {tuple(torch.stack(tokens).shape)} (grid {grid}), pooled "
          f"{tuple(torch.stack(pooled).shape)}")
    return 0
