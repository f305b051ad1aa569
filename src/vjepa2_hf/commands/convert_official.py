"""`vjepa2-hf convert-official`: an official V-JEPA 2 `.pt` checkpoint -> a model folder (safetensors).

With `--probe`, an official probe file (`classifiers`, `module.` prefixes, fused `xattn.kv`, `linear`) is converted
too, on top of the checkpoint's encoder: the folder then holds a `VJEPA2ForVideoClassification` (or a
`VJEPA2ForActionAnticipation` for an EK100 probe) that `pipeline("video-classification")` and `vjepa2-hf probe` load.

With `--world-model`, the checkpoint is the released action-conditioned one (`vjepa2-ac-vitg.pt`: `encoder` and an
AC `predictor`, `module.` prefixes) and the folder holds a `VJEPA2WorldModel` (`--arch vit_giant` for the release).
"""

from __future__ import annotations

import argparse

import torch
from ._options import add_output_dir_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="official .pt file (vitl.pt, vith.pt, vitg.pt, vitg-384.pt, "
                        "vjepa2_1_vitl_dist_vitG_384.pt, ...)")
    parser.add_argument("--arch", required=True,
                        help="vit_large, vit_huge, vit_giant, vit_giant_384, or V-JEPA 2.1's vjepa2_1_vit_base_384, "
                        "vjepa2_1_vit_large_384, vjepa2_1_vit_giant_384, vjepa2_1_vit_gigantic_384")
    parser.add_argument("--config", default=None,
                        help="a config.json (or model folder) to use instead of the --arch preset (custom sizes)")
    add_output_dir_argument(parser, ["--out"], required=True, help="output folder")
    parser.add_argument(
        "--encoder-key",
        choices=["encoder", "target_encoder", "ema_encoder"],
        default=None,
        help="default: the entry torch.hub builds the model from ('encoder' for V-JEPA 2, as the facebook/vjepa2-* "
        "Hub repos; 'ema_encoder' for the distilled 2.1 ViT-B/L; 'target_encoder' for 2.1 ViT-g/G). "
        "'target_encoder' (EMA) is what the official V-JEPA 2 frozen evaluations load",
    )
    parser.add_argument("--no-predictor", action="store_true", help="convert the encoder only")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None)
    parser.add_argument(
        "--format", choices=["ours", "transformers"], default="ours",
        help="'transformers' writes a folder that plain transformers' VJEPA2Model (or, with --probe, "
        "VJEPA2ForVideoClassification) loads",
    )
    parser.add_argument("--world-model", action="store_true",
                        help="the checkpoint is V-JEPA 2-AC (vjepa2-ac-vitg.pt): write a VJEPA2WorldModel folder")
    parser.add_argument("--ac-num-heads", type=int, default=16,
                        help="with --world-model: the AC predictor's attention heads (16 in the release; the "
                        "weights do not record it)")
    parser.add_argument("--probe", default=None,
                        help="an official probe file (e.g. ssv2-vitl-16x2x3.pt) to convert on top of the encoder")
    parser.add_argument("--frames-per-clip", type=int, default=None,
                        help="with --probe: frames the probe was trained on (16 for SSv2 ViT-L, 64 for ViT-g-384)")
    parser.add_argument("--pooler-input-layers", default=None,
                        help="with --probe: comma-separated encoder blocks of a multi-level probe (ViT-L Diving48: "
                        "17,19,21,23); the probe file does not record them")


def run(args: argparse.Namespace) -> int:
    from ..encoder.convert_vjepa2_checkpoint import convert_official_checkpoint, export_to_transformers
    from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor

    dtype = getattr(torch, args.dtype) if args.dtype else None
    if args.world_model:
        if args.probe is not None or args.format != "ours" or args.no_predictor:
            raise ValueError(
                "--world-model converts the AC checkpoint alone: drop --probe, --format and --no-predictor"
            )
        return _convert_world_model(args, dtype)
    if args.probe is not None:
        return _convert_probe(args, dtype)
    if args.frames_per_clip is not None or args.pooler_input_layers is not None:
        raise ValueError("--frames-per-clip and --pooler-input-layers describe a probe: pass --probe too")
    from ..encoder.configuration_vjepa2 import VJEPA2Config
    from ..encoder.convert_vjepa2_checkpoint import default_encoder_key

    config = None
    if args.config:
        from ..encoder import VJEPA2Model
        from ..model_size import load_checked_config
        from .errors import require_local_or_hub

        require_local_or_hub(args.config, "--config")
        config = load_checked_config(VJEPA2Config, VJEPA2Model, args.config, what=f"--config {args.config}")
    model = convert_official_checkpoint(
        args.checkpoint,
        arch=args.arch,
        encoder_key=args.encoder_key,
        include_predictor=not args.no_predictor,
        config=config,
        dtype=dtype,
    )
    args.encoder_key = args.encoder_key or default_encoder_key(model.config)
    if args.format == "transformers":
        if args.no_predictor:
            raise ValueError("--format transformers needs the predictor (transformers' VJEPA2Model holds both)")
        export_to_transformers(model, args.output_dir)
    else:
        model.save_pretrained(args.output_dir)
    VJEPA2VideoProcessor(crop_size=model.config.crop_size).save_pretrained(args.output_dir)
    params = sum(p.numel() for p in model.parameters())
    print(f"converted {args.checkpoint} ({args.arch}, {args.encoder_key}, {params / 1e6:.1f}M parameters) -> {args.output_dir}")
    return 0


def _convert_probe(args: argparse.Namespace, dtype: torch.dtype | None) -> int:
    from ..encoder.configuration_vjepa2 import VJEPA2Config
    from ..probe import VJEPA2ForVideoClassification, convert_official_probe
    from ..probe.export import export_classifier_to_transformers
    from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor

    layers = None
    if args.pooler_input_layers:
        try:
            layers = [int(v) for v in args.pooler_input_layers.split(",")]
        except ValueError:
            raise ValueError(
                f"--pooler-input-layers must be comma-separated block indices such as 17,19,21,23, got "
                f"{args.pooler_input_layers!r}"
            ) from None
    model = convert_official_probe(
        args.probe,
        args.checkpoint,
        backbone_config=VJEPA2Config.from_preset(args.arch),
        encoder_key=args.encoder_key,
        frames_per_clip=args.frames_per_clip,
        pooler_input_layers=layers,
        dtype=dtype,
    )
    processor = VJEPA2VideoProcessor(crop_size=model.config.crop_size)
    if args.format == "transformers":
        if not isinstance(model, VJEPA2ForVideoClassification):
            raise ValueError(f"--format transformers: transformers has no {type(model).__name__}; use --format ours")
        export_classifier_to_transformers(model, args.output_dir, processor=processor)
    else:
        model.save_pretrained(args.output_dir)
        processor.save_pretrained(args.output_dir)
    heads = model.config.num_labels if isinstance(model, VJEPA2ForVideoClassification) else "verb/noun/action"
    print(f"converted {args.probe} on {args.checkpoint} ({args.arch}, {args.encoder_key}) -> {args.output_dir}: "
          f"{type(model).__name__}, {heads} classes")
    return 0


def _convert_world_model(args: argparse.Namespace, dtype: torch.dtype | None) -> int:
    from ..encoder.configuration_vjepa2 import VJEPA2Config
    from ..world_model.convert_vjepa2_ac_checkpoint import convert_vjepa2_ac_checkpoint

    encoder_config = VJEPA2Config.from_preset(args.arch)
    model = convert_vjepa2_ac_checkpoint(
        args.checkpoint,
        encoder_config=encoder_config,
        encoder_key=args.encoder_key or "encoder",
        dtype=dtype,
        predictor_overrides=dict(
            pred_num_attention_heads=args.ac_num_heads,
            crop_size=encoder_config.crop_size,
            patch_size=encoder_config.patch_size,
        ),
    )
    model.save_pretrained(args.output_dir)
    params = sum(p.numel() for p in model.predictor.parameters())
    print(f"converted {args.checkpoint} ({args.arch} encoder, AC predictor {params / 1e6:.1f}M parameters) -> "
          f"{args.output_dir}")
    return 0
