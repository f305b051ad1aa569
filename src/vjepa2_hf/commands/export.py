"""`vjepa2-hf export`: a model folder -> transformers' own layout, the official `.pt` layout, or a deployable graph.

The folder's `config.json` decides what is exported: a `VJEPA2Model` (encoder and predictor; both formats) or a
`VJEPA2ForVideoClassification` (backbone and attentive probe; transformers' format). The export carries the folder's
video processor (or one at the crop size and frame count its config records).

`--format onnx | openvino | torch-export` writes graphs with transformers' exporters (`vjepa2_hf.encoder.exporting`):
the encoder (video graph, plus the single-frame graph in `image/`), the classifier, or a `VJEPA2WorldModel`'s frame
encoder (`encoder/`) and rollout step (`rollout_step/`); `--int8` quantizes ONNX graphs (ONNX Runtime, dynamic).
"""

from __future__ import annotations

import argparse
import os

from ._options import add_output_dir_argument

CLASSIFIER = "VJEPA2ForVideoClassification"
WORLD_MODEL = "VJEPA2WorldModel"
GRAPH_FORMATS = {"onnx": "onnx", "openvino": "openvino", "torch-export": "dynamo"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="a V-JEPA 2 model or video-classifier folder of this package (or a Hub repo)")
    parser.add_argument("--format", choices=["transformers", "official", *GRAPH_FORMATS], required=True)
    parser.add_argument("--int8", action="store_true",
                        help="with --format onnx: int8 (ONNX Runtime; dynamic, or static with --calibration)")
    parser.add_argument("--calibration", nargs="+", default=None, metavar="VIDEO",
                        help="with --int8: video / image files whose activation ranges fix a static int8 graph")
    parser.add_argument("--calibration-frames", type=int, default=16, help="frames per calibration clip")
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
    if args.int8 and args.format != "onnx":
        raise ValueError(f"--int8 quantizes ONNX graphs: use it with --format onnx, got --format {args.format}")
    if args.calibration and not args.int8:
        raise ValueError("--calibration fixes the ranges of a static int8 graph: add --int8")
    if args.format in GRAPH_FORMATS:
        return _export_graph(args)
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


def _export_graph(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..encoder import VJEPA2VisionModel
    from ..encoder.exporting import export_encoder

    export_format, out = GRAPH_FORMATS[args.format], Path(args.output_dir)
    architecture = _architecture(args.model)
    if architecture == WORLD_MODEL:
        from ..world_model.exporting import export_world_model
        from ..world_model.world_model import VJEPA2WorldModel

        export_world_model(VJEPA2WorldModel.from_pretrained(args.model, dtype="float32"), out, export_format, args.int8)
        print(f"wrote {out}/encoder and {out}/rollout_step ({args.format}): frame encoding and one rollout step")
        return 0
    if architecture == CLASSIFIER:
        from ..probe import VJEPA2ForVideoClassification
        from ..probe.exporting import export_classifier

        if args.calibration:
            raise ValueError("--calibration (static int8) is for encoders; classifiers take dynamic --int8")
        classifier = VJEPA2ForVideoClassification.from_pretrained(args.model, dtype=torch.float32)
        export_classifier(classifier, out, export_format, args.int8)
    else:
        encoder = VJEPA2VisionModel.from_pretrained(args.model, dtype=torch.float32)
        export_encoder(encoder, out, export_format, int8=args.int8, calibration=_calibration(args, encoder))
        export_encoder(encoder, out / "image", export_format, image=True, int8=args.int8)
    print(f"wrote {out} ({args.format}): loads with transformers.exporters.ExportedModel.from_pretrained({str(out)!r})")
    return 0


def _calibration(args: argparse.Namespace, encoder) -> list[dict] | None:
    """Processed clips of the `--calibration` files (the model folder's video processor), one input dict each."""
    if not args.calibration:
        return None
    from pathlib import Path

    from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor

    try:
        processor = VJEPA2VideoProcessor.from_pretrained(args.model)
    except OSError:
        processor = VJEPA2VideoProcessor(crop_size=encoder.config.crop_size)
    clips = []
    for path in args.calibration:
        if not Path(path).is_file():
            raise FileNotFoundError(f"--calibration: file not found: {path}")
        clips.append(dict(processor(str(path), num_frames=args.calibration_frames)))
    return clips
