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
