"""`vjepa2-hf feature-map`: PCA-coloured maps of an encoder's patch features, one PNG per token frame.

With no video given, it renders a synthetic moving-shapes clip with the package's generator. With a V-JEPA 2.1
model, `--features hierarchical` uses all levels (`hierarchical_hidden_state`), `last` the plain output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ._options import add_output_dir_argument, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", nargs="?", default=None, help="a video or image file (default: a synthetic clip)")
    parser.add_argument("--model", default="tiny", help="'tiny' (random, for a dry run), a model folder or a Hub repo")
    parser.add_argument("--num-frames", type=positive_int, default=None,
                        help="frames sampled evenly over the video (1: image; default: the frame count the model's "
                             "processor records, else 16)")
    parser.add_argument("--features", choices=["last", "hierarchical"], default="last",
                        help="'hierarchical': all levels of a V-JEPA 2.1 model")
    add_output_dir_argument(parser, ["--out"], default="feature_maps", help="output folder for frame_XXX.png")
    parser.add_argument("--no-frames", action="store_true", help="write the maps alone, without the input frames")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--seed", type=int, default=0)


def _synthetic_frames(num_frames: int, seed: int) -> torch.Tensor:
    from ..video.synthetic import render_motion_clip, sample_motion_spec

    clip = render_motion_clip(sample_motion_spec(seed, num_frames=num_frames))  # (T, H, W, 3) uint8
    return torch.as_tensor(clip)


def run(args: argparse.Namespace) -> int:
    from ..encoder.feature_maps import feature_map_images, pca_feature_maps, save_feature_maps
    from ..feature_extraction.encoder_loading import load_encoder_and_processor

    from .errors import require_local_or_hub

    if args.video is not None and not Path(args.video).is_file():  # before the model is loaded
        raise FileNotFoundError(f"video not found: {args.video}")
    require_local_or_hub(args.model, "--model")
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)
    encoder, processor = load_encoder_and_processor(args.model, dtype, seed=args.seed)
    if args.features == "hierarchical" and not encoder.config.is_vjepa2_1:
        raise ValueError(f"--features hierarchical needs a V-JEPA 2.1 model; {args.model} is V-JEPA 2")
    num_frames = args.num_frames or processor.num_frames or 16
    source = args.video if args.video is not None else _synthetic_frames(max(num_frames, 1), args.seed)
    if args.video is None:
        pixels = processor(source)["pixel_values_videos"]
    else:
        pixels = processor(str(source), num_frames=num_frames)["pixel_values_videos"]
    with torch.inference_mode():
        out = encoder(pixels.to(dtype), output_hierarchical=args.features == "hierarchical")
    features = out.hierarchical_hidden_state if args.features == "hierarchical" else out.last_hidden_state
    maps = pca_feature_maps(features[0], out.grid)
    frames = None
    if not args.no_frames:
        mean = torch.tensor(processor.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(processor.image_std).view(1, 3, 1, 1)
        frames = (pixels[0].float() * std + mean).permute(0, 2, 3, 1)  # (T, H, W, 3) in [0, 1]
    paths = save_feature_maps(feature_map_images(maps, encoder.config.patch_size, frames), args.output_dir)
    print(f"wrote {len(paths)} feature map(s) of grid {tuple(out.grid)} to {Path(args.output_dir)}")
    return 0
