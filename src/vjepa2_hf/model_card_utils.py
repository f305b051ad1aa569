"""Shared model-card writing: the `model_cards/` templates, rendering, and the versions block.

Used by every capability that writes a `README.md` into a saved folder (the probe runner, the VLM trainer), so that
no capability imports another one for it. Templates use `string.Template` placeholders (`${name}`); rendering fails
on a missing value rather than leaving a placeholder in a published card.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from string import Template
from typing import Any, Mapping, Sequence

from ._version import __version__

__all__ = ["card_path", "find_model_card_template", "library_versions", "markdown_table", "render_model_card"]


def find_model_card_template(name: str) -> Path:
    """Path of `model_cards/<name>` (shipped inside the package, or at the repository root of a source checkout)."""
    package = Path(__file__).resolve().parent
    candidates = [package / "model_cards" / name, package.parents[1] / "model_cards" / name]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"model card template {name!r} not found (looked in {[str(p) for p in candidates]})")


def render_model_card(template: str | os.PathLike, values: Mapping[str, Any]) -> str:
    """Fill a template file (name under `model_cards/` or a path) with `values`.

    Raises:
        KeyError: a placeholder has no value.
    """
    path = Path(template)
    if not path.is_file():
        path = find_model_card_template(str(template))
    return Template(path.read_text(encoding="utf-8")).substitute({k: str(v) for k, v in values.items()})


def library_versions(extra: Sequence[str] = ()) -> str:
    """The card's versions block: vjepa2-hf, transformers, the `extra` packages (by import name), torch, python."""
    import importlib

    import torch
    import transformers

    rows = [("vjepa2-hf", __version__), ("transformers", transformers.__version__)]
    rows += [(name, importlib.import_module(name).__version__) for name in extra]
    rows += [("torch", torch.__version__), ("python", platform.python_version())]
    return "\n".join(f"- {name} {version}" for name, version in rows)


def card_path(name: str | os.PathLike, card_folder: str | os.PathLike | None = None) -> str:
    """How a model card names a model: a Hub id or preset name as given; a local path never absolute (cards are
    published): relative to `card_folder` when given (it moves with the folder tree), else relative to the working
    directory when inside it, else the folder's name."""
    name = os.fspath(name)
    if not os.path.exists(name):
        return name
    target = os.path.abspath(name)
    if card_folder is not None:
        return Path(os.path.relpath(target, os.path.abspath(card_folder))).as_posix()
    relative = os.path.relpath(target)
    return Path(relative).as_posix() if not relative.startswith("..") else Path(target).name


def markdown_table(rows: Mapping[str, Any]) -> str:
    """`| key | value |` lines (the header is in the template)."""
    return "\n".join(f"| {k} | {v} |" for k, v in rows.items())
