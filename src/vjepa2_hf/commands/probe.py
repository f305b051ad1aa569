"""`vjepa2-hf probe --model PATH_OR_REPO --data DIR_OR_DATASET ...`: attentive probing (or LoRA / fine-tuning) with the
Trainer. Every `ModelArguments`, `DataArguments` and `TrainingArguments` field is an option (see
`vjepa2_hf.probe.run_video_classification`); `vjepa2-hf probe config.json` reads them from a file."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..probe.run_video_classification import add_probe_arguments

    parser.add_argument("config_file", nargs="?", default=None,
                        help="a .json / .yaml file with the arguments (instead of options)")
    add_probe_arguments(parser)
    # with a config file, --model / --data come from the file
    for action in parser._actions:
        if action.dest in ("model", "data"):
            action.required = False


def run(args: argparse.Namespace) -> int:
    from ..probe.run_video_classification import (
        format_metrics,
        namespace_to_arguments,
        parse_probe_arguments,
        run_probe,
    )

    values = dict(vars(args))
    config_file = values.pop("config_file", None)
    if config_file is not None:
        model_args, data_args, training_args = parse_probe_arguments([config_file])
    else:
        missing = [f"--{name}" for name in ("model", "data") if not values.get(name)]
        if missing:
            raise ValueError(f"vjepa2-hf probe needs {' and '.join(missing)} (or a config file)")
        model_args, data_args, training_args = namespace_to_arguments(argparse.Namespace(**values))
    result = run_probe(model_args, data_args, training_args)
    print(f"saved {result.output_dir}\n{format_metrics(result.metrics)}")
    return 0
