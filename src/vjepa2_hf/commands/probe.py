"""`vjepa2-hf probe --model PATH_OR_REPO --data DIR_OR_DATASET ...`: attentive probing (or LoRA / fine-tuning) with the
Trainer. Every `ModelArguments`, `DataArguments` and `TrainingArguments` field is an option (see
`vjepa2_hf.probe.run_video_classification`), parsed by `HfArgumentParser`; `vjepa2-hf probe config.json` (or
`.yaml`) reads them from a file. The output folder is `--output-dir`; every option also accepts its underscore spelling (`--output_dir`, `--num_train_epochs`)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any, Sequence

from transformers import HfArgumentParser, TrainingArguments

from ._options import warn_deprecated_spellings

OUTPUT_DIR_ALIASES = ()  # `--output_dir` is the underscore alias every option has, not a deprecated spelling
NOT_GIVEN = object()  # the default of every training option: absent ones are dropped before building the arguments


def _optional(cls, name: str):
    """`cls` with its required field `name` made optional: with a config file, `--model` / `--data` come from it
    (checked in `run`)."""
    metadata = dict({f.name: f for f in dataclasses.fields(cls)}[name].metadata)
    return dataclasses.make_dataclass(
        f"CommandLine{cls.__name__}", [(name, "str | None", dataclasses.field(default=None, metadata=metadata))],
        bases=(cls,),
    )


class ProbeArgumentParser(HfArgumentParser):
    """The three dataclasses as options; training options not given stay absent (so that the probe recipe of
    `default_training_arguments`, not the Trainer's defaults, fills them)."""

    def __init__(self, **kwargs: Any) -> None:
        from ..probe.run_video_classification import DataArguments, ModelArguments

        super().__init__(
            (_optional(ModelArguments, "model"), _optional(DataArguments, "data"), TrainingArguments), **kwargs
        )
        training_fields = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
        self.set_defaults(**{name: NOT_GIVEN for name in training_fields})

    def parse_known_args(self, args: Sequence[str] | None = None, namespace=None):
        import sys

        warn_deprecated_spellings(list(sys.argv[1:] if args is None else args), OUTPUT_DIR_ALIASES)
        return super().parse_known_args(args, namespace)


def make_parser(**kwargs: Any) -> ProbeArgumentParser:
    return ProbeArgumentParser(**kwargs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config_file", nargs="?", default=None,
                        help="a .json / .yaml file with the arguments (instead of options)")


def format_metrics(metrics: dict[str, float]) -> str:
    keys = ["eval_accuracy", "eval_top5_accuracy", "eval_class_mean_recall@5", "eval_loss", "train_loss",
            "chance_accuracy", "train_runtime", "feature_seconds"]
    return "\n".join(f"  {k:<28}{metrics[k]:.4f}" for k in keys if k in metrics and not math.isnan(metrics[k]))


def run(args: argparse.Namespace) -> int:
    from ..probe.run_video_classification import load_probe_arguments, probe_arguments_from_values, run_probe
    from ..training.launch_environment import is_main_process

    values = {k: v for k, v in vars(args).items() if v is not NOT_GIVEN}
    values.pop("num_threads", None)  # the command line's shared options (applied in vjepa2_hf.cli)
    quiet = values.pop("no_progress", False)
    config_file = values.pop("config_file", None)
    if config_file is not None:
        model_args, data_args, training_args = load_probe_arguments(config_file)
    else:
        missing = [f"--{name}" for name in ("model", "data") if not values.get(name)]
        if missing:
            raise ValueError(f"vjepa2-hf probe needs {' and '.join(missing)} (or a config file)")
        model_args, data_args, training_args = probe_arguments_from_values(values)
    result = run_probe(model_args, data_args, training_args, progress=not (quiet or training_args.disable_tqdm))
    if is_main_process():  # under torchrun / accelerate launch: printed once
        print(f"saved {result.output_dir}\n{format_metrics(result.metrics)}")
    return 0
