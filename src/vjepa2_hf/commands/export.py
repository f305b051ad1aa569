"""`vjepa2-hf export`: a model folder -> transformers' own layout, or the official `.pt` layout.

The folder's `config.json` decides what is exported: a `VJEPA2Model` (encoder and predictor; both formats) or a
`VJEPA2ForVideoClassification` (backbone and attentive probe; transformers' format). The export carries the folder's
video processor (or one at the crop size and frame count its config records).
"""

from __future__ import annotations

import argparse
import os

from ._options import add_output_dir_argument

CLASSIFIER = "VJEPA2ForVideoClassification"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="a V-JEPA 2 model or video-classifier folder of this package (or a Hub repo)")
    parser.add_argument("--format", choices=["transformers", "official"], required=True)
    add_output_dir_argument(parser, ["--out"], required=True,
                            help="output folder (transformers) or .pt file (official)")


def _architecture(model: str) -> str:
    from transformers import PretrainedConfig

    from ..model_size import check_config_json

    check_config_json(model)
    config, _ = PretrainedConfig.get_config_dict(model)
    architectures = config.get("architectures") or ["VJEPA2Model"]
    return architectures[0]


def run(args: argparse.Namespace) -> int:
    from ..encoder import VJEPA2Model
    from ..encoder.convert_vjepa2_checkpoint import export_to_official, export_to_transformers
    from .errors import require_local_or_hub

    require_local_or_hub(args.model, "--model")
    if args.format == "official" and os.path.isdir(args.output_dir):  # checked before the model is loaded
        raise IsADirectoryError(f"--output-dir: --format official writes one .pt file; {args.output_dir} is a folder")
    if _architecture(args.model) == CLASSIFIER:
        return _export_classifier(args)
    from ..encoder import VJEPA2Config
    from ..model_size import load_checked_config

    config = load_checked_config(VJEPA2Config, VJEPA2Model, args.model, what=f"--model {args.model}")
    model = VJEPA2Model.from_pretrained(args.model, config=config)
    if args.format == "transformers":
        from ..encoder.configuration_vjepa2 import clip_num_frames
        from ..video.video_processing_vjepa2 import load_video_processor

        export_to_transformers(model, args.output_dir)
        load_video_processor(args.model, model.config, clip_num_frames(model.config)).save_pretrained(args.output_dir)
        print(f"wrote {args.output_dir}: loads with transformers.VJEPA2Model.from_pretrained({args.output_dir!r})")
    else:
        export_to_official(model, args.output_dir)
        print(f"wrote {args.output_dir}: official layout (encoder, target_encoder, predictor; module.backbone. prefixes)")
    return 0


def _export_classifier(args: argparse.Namespace) -> int:
    from ..probe import VJEPA2ForVideoClassification
    from ..probe.export import export_classifier_to_transformers
    from ..encoder.configuration_vjepa2 import clip_num_frames
    from ..video.video_processing_vjepa2 import load_video_processor

    if args.format != "transformers":
        raise ValueError(
            f"--format {args.format}: a {CLASSIFIER} folder exports to transformers' format only (official probe "
            "files hold the probe alone; export the backbone folder for an official .pt)"
        )
    model = VJEPA2ForVideoClassification.from_pretrained(args.model)
    processor = load_video_processor(args.model, model.config, clip_num_frames(model.config))
    export_classifier_to_transformers(model, args.output_dir, processor=processor)
    print(f"wrote {args.output_dir}: loads with transformers.AutoModelForVideoClassification.from_pretrained({args.output_dir!r})")
    return 0
