"""Options shared by the subcommands: one spelling for the output folder (`--output-dir`), with the older spellings
kept as deprecated aliases that warn."""

from __future__ import annotations

import argparse
import warnings
from typing import Any, Sequence

from transformers.utils import logging

logger = logging.get_logger(__name__)

__all__ = ["DeprecatedAlias", "add_output_dir_argument", "warn_deprecated_spellings"]


def _warn(old: str, new: str) -> None:
    message = f"{old} is deprecated; use {new}"
    warnings.warn(message, FutureWarning, stacklevel=3)
    logger.warning(message)


class DeprecatedAlias(argparse.Action):
    """Stores like `store` and warns that the option string used is a deprecated spelling of `preferred`."""

    def __init__(self, option_strings, dest, preferred: str = "--output-dir", **kwargs: Any) -> None:
        self.preferred = preferred
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        _warn(option_string, self.preferred)
        setattr(namespace, self.dest, values)


def add_output_dir_argument(
    parser: argparse.ArgumentParser, aliases: Sequence[str] = (), *, required: bool = False, **kwargs: Any
) -> None:
    """`--output-dir` (dest `output_dir`) and each of `aliases` as a hidden deprecated spelling of it.

    With `required`, the parser checks that one of the spellings is given (argparse cannot mark a set of options as
    required together otherwise)."""
    if required:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--output-dir", dest="output_dir", **kwargs)
        for alias in aliases:
            group.add_argument(alias, dest="output_dir", action=DeprecatedAlias, help=argparse.SUPPRESS)
        return
    parser.add_argument("--output-dir", dest="output_dir", **kwargs)
    for alias in aliases:
        parser.add_argument(alias, dest="output_dir", action=DeprecatedAlias, help=argparse.SUPPRESS)


def warn_deprecated_spellings(argv: Sequence[str], aliases: Sequence[str], preferred: str = "--output-dir") -> None:
    """Warn for each deprecated spelling in `argv` (for parsers, like `HfArgumentParser`, that register the old and
    the new spelling as one option)."""
    for token in argv:
        name = token.split("=", 1)[0]
        if name in aliases:
            _warn(name, preferred)


# --- value types: a bad value is argparse's one-line error naming the option, before anything runs ---------------


def _number(kind, value: str, low: float, low_inclusive: bool, what: str):
    try:
        number = kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from None
    if number != number or number < low or (number == low and not low_inclusive):  # NaN, below the range
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
    return number


def positive_int(value: str) -> int:
    """argparse type: an integer >= 1."""
    return _number(int, value, 1, True, "an integer >= 1")


def non_negative_int(value: str) -> int:
    """argparse type: an integer >= 0."""
    return _number(int, value, 0, True, "an integer >= 0")


def positive_float(value: str) -> float:
    """argparse type: a finite number > 0."""
    number = _number(float, value, 0.0, False, "a number > 0")
    if number == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {value!r}")
    return number


def open_fraction(value: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    number = _number(float, value, 0.0, False, "a number in (0, 1)")
    if number >= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {value!r}")
    return number


def torch_device(value: str) -> str:
    """argparse type: a device torch knows and this machine has (`cpu`, `cuda`, `cuda:1`, `mps`, ...)."""
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a torch device such as cpu, cuda or cuda:1, got {value!r}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index is not None and device.index >= count):
            raise argparse.ArgumentTypeError(f"{value!r} is not available on this machine ({count} CUDA devices)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{value!r} is not available on this machine")
    return value


def add_runtime_options(parser: argparse.ArgumentParser, exported: str, folder: str, compiled: str,
                        int8_note: str) -> None:
    """`--backend torch|onnxruntime|openvino`, `--compile` and `--int8` of the commands that run exported graphs
    (`embed`, `plan`): `exported` names what is exported, `folder` the job folder (`OUT`, `OUTPUT`), `compiled` what
    `--compile` compiles and when it pays, `int8_note` what the int8 path gives."""
    parser.add_argument("--backend", choices=["torch", "onnxruntime", "openvino"], default="torch",
                        help=f"run {exported} in PyTorch, or exported (float32, into {folder}/export-BACKEND) and run "
                             "by ONNX Runtime / OpenVINO")
    parser.add_argument("--compile", action="store_true", help=f"torch.compile {compiled} backend torch only")
    parser.add_argument("--int8", action="store_true",
                        help=f"with --backend onnxruntime: {int8_note}; accuracy cost in the README; exported into "
                             f"{folder}/export-onnxruntime-int8")


# --- what every command shares: option style, quiet mode, threads, one-line parse errors -------------------------


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """`--no-progress` (alias `--quiet`) and `--num-threads` on every command, unless the command has its own."""
    known = parser._option_string_actions
    if "--no-progress" not in known:
        parser.add_argument("--no-progress", "--quiet", dest="no_progress", action="store_true",
                            help="no progress bars and no per-step / per-epoch logs: only the final summary")
    elif "--quiet" not in known:
        known["--quiet"] = known["--no-progress"]
    if "--num-threads" not in known:
        parser.add_argument("--num-threads", dest="num_threads", type=positive_int, default=None,
                            help="torch CPU threads (torch.set_num_threads) for this command (default: the library's)")


def add_underscore_aliases(parser: argparse.ArgumentParser) -> None:
    """Make every long option hyphenated (`--output-dir`) and accept its underscore spelling (`--output_dir`) as a
    hidden alias; an option declared only with underscores (HfArgumentParser's dataclass fields) shows hyphenated."""
    for action in list(parser._actions):
        longs = [s for s in action.option_strings if s.startswith("--")]
        if not longs:
            continue
        shown = []
        for option in action.option_strings:
            hyphenated = "--" + option[2:].replace("_", "-") if option.startswith("--") else option
            if hyphenated not in shown:
                shown.append(hyphenated)
            parser._option_string_actions.setdefault(hyphenated, action)
            if option.startswith("--"):
                parser._option_string_actions.setdefault("--" + option[2:].replace("-", "_"), action)
        action.option_strings = shown
    find_prefixes = parser._get_option_tuples

    def one_match_per_action(option_string: str):  # `--pretrain` matches both spellings of one option: not ambiguous
        matches, seen = [], set()
        for match in find_prefixes(option_string):
            if id(match[0]) not in seen:
                seen.add(id(match[0]))
                matches.append(match)
        return matches

    parser._get_option_tuples = one_match_per_action


def one_line_errors(parser: argparse.ArgumentParser) -> None:
    """argparse errors as one line and a hint to `--help` (exit 2), instead of the usage text first."""
    import sys

    def error(message: str):
        print(f"{parser.prog}: error: {message} (see '{parser.prog} --help')", file=sys.stderr)
        raise SystemExit(2)

    parser.error = error


def apply_common_options(args: argparse.Namespace) -> None:
    """Apply `--num-threads` and `--no-progress` process-wide, before the command imports or builds anything."""
    import os

    from ..threads import configure_threads

    configure_threads(getattr(args, "num_threads", None))  # default: the cores divided by the job's local processes
    if getattr(args, "no_progress", False):
        # the commands turn off their own bars and the Trainer's; these are the libraries' (read at their import,
        # or by child processes such as DataLoader workers)
        for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS"):
            os.environ[name] = "1"
        logging.disable_progress_bar()  # transformers' "Loading weights" / "Writing model shards"
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
