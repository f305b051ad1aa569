"""`vjepa2-hf convert-official`: an official V-JEPA 2 `.pt` checkpoint -> a model folder (safetensors)."""

from __future__ import annotations

import argparse

import torch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="official .pt file (vitl.pt, vith.pt, vitg.pt, vitg-384.pt)")
    parser.add_argument("--arch", required=True, help="vit_large, vit_huge, vit_giant or vit_giant_384")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--encoder-key",
        choices=["encoder", "target_encoder"],
        default="encoder",
        help="'encoder' (default) gives the weights of the facebook/vjepa2-* Hub repos and torch.hub; "
        "'target_encoder' (EMA) is what the official frozen evaluations load",
    )
    parser.add_argument("--no-predictor", action="store_true", help="convert the encoder only")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None)
    parser.add_argument(
        "--format", choices=["ours", "transformers"], default="ours",
        help="'transformers' writes a folder that plain transformers' VJEPA2Model loads",
    )


def run(args: argparse.Namespace) -> int:
    from ..encoder.convert_vjepa2_checkpoint import convert_official_checkpoint, export_to_transformers
    from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor

    model = convert_official_checkpoint(
        args.checkpoint,
        arch=args.arch,
        encoder_key=args.encoder_key,
        include_predictor=not args.no_predictor,
        dtype=getattr(torch, args.dtype) if args.dtype else None,
    )
    if args.format == "transformers":
        if args.no_predictor:
            raise ValueError("--format transformers needs the predictor (transformers' VJEPA2Model holds both)")
        export_to_transformers(model, args.out)
    else:
        model.save_pretrained(args.out)
    VJEPA2VideoProcessor(crop_size=model.config.crop_size).save_pretrained(args.out)
    params = sum(p.numel() for p in model.parameters())
    print(f"converted {args.checkpoint} ({args.arch}, {args.encoder_key}, {params / 1e6:.1f}M parameters) -> {args.out}")
    return 0
