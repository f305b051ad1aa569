"""`vjepa2-hf export`: a model folder -> transformers' own layout, or the official `.pt` layout."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a V-JEPA 2 model folder of this package (or a Hub repo)")
    parser.add_argument("--format", choices=["transformers", "official"], required=True)
    parser.add_argument("--out", required=True, help="output folder (transformers) or .pt file (official)")


def run(args: argparse.Namespace) -> int:
    from ..encoder import VJEPA2Model
    from ..encoder.convert_vjepa2_checkpoint import export_to_official, export_to_transformers

    model = VJEPA2Model.from_pretrained(args.model)
    if args.format == "transformers":
        export_to_transformers(model, args.out)
        print(f"wrote {args.out}: loads with transformers.VJEPA2Model.from_pretrained({args.out!r})")
    else:
        export_to_official(model, args.out)
        print(f"wrote {args.out}: official layout (encoder, target_encoder, predictor; module.backbone. prefixes)")
    return 0
