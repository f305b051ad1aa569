"""Recipe loading of the training engine: a YAML / JSON file (or a packaged preset), dotted ``key=value``
overrides (values read as YAML 1.2, so `no` stays a string), and dataclass validation of each section.

One implementation serves every Accelerate job (pretraining, V-JEPA 2-AC training): a job declares its sections as
dataclasses and builds them with `dataclass_from_mapping`, which names the offending section on an unknown key.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..recipe_yaml import load_recipe_yaml

__all__ = ["apply_overrides", "dataclass_from_mapping", "load_recipe_tree", "parse_override"]


def dataclass_from_mapping(cls, values: Mapping[str, Any] | None, where: str):
    """`cls(**values)` for a config-section dataclass, with a `ValueError` naming `where` for unknown keys."""
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in `{where}`; expected a subset of {sorted(names)}")
    return cls(**values)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.key=value`` -> (``["section", "key"]``, the value read as YAML 1.2)."""
    if "=" not in text:
        raise ValueError(f"an override must look like `section.key=value`, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip().split("."), load_recipe_yaml(value)


def _apply_override(tree: dict[str, Any], path: list[str], value: Any, text: str) -> None:
    node: Any = tree
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(f"override {text!r}: {'.'.join(path[: i + 1])} is not an index of a list of {len(node)}")
            node = node[int(part)]
        else:
            if part not in node:
                node[part] = {}
            node = node[part]
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ValueError(f"override {text!r}: {last} is not an index of a list of {len(node)}")
        node[int(last)] = value
    else:
        node[last] = value


def apply_overrides(tree: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply dotted ``section.key=value`` overrides in place (list items by index: ``data.sources.0.path=...``)."""
    for text in overrides:
        keys, value = parse_override(text)
        _apply_override(tree, keys, value, text)
    return tree


def load_recipe_tree(
    source: str | os.PathLike | Mapping[str, Any],
    overrides: Sequence[str] = (),
    presets: Any = None,
    what: str = "config",
) -> dict[str, Any]:
    """The mapping of a recipe, overrides applied.

    Args:
        source: a YAML / JSON file, a mapping, or (with `presets`) the name of a packaged preset.
        overrides: dotted ``section.key=value`` strings.
        presets: an `importlib.resources` folder of ``<name>.yaml`` presets (None: files only).
        what: how error messages name the recipe.

    Raises:
        FileNotFoundError: neither a file nor a preset of that name exists.
        ValueError: the file does not hold a mapping, or an override is malformed.
    """
    if isinstance(source, Mapping):
        tree = dict(source)
    else:
        path = Path(source)
        if path.is_file():
            text = path.read_text()
        elif presets is not None and (presets / f"{source}.yaml").is_file():
            text = (presets / f"{source}.yaml").read_text()
        elif presets is not None:
            names = sorted(p.name[: -len(".yaml")] for p in presets.iterdir() if p.name.endswith(".yaml"))
            raise FileNotFoundError(f"{what} {str(source)!r} is neither a file nor a preset; presets: {names}")
        else:
            raise FileNotFoundError(f"{what} not found: {path}")
        tree = load_recipe_yaml(text) or {}
        if not isinstance(tree, dict):
            raise ValueError(f"{what} {str(source)!r} must be a YAML mapping, got {type(tree).__name__}")
    return apply_overrides(tree, overrides)
