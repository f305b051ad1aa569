"""Recipe loading of the training engine: a YAML / JSON file (or a packaged preset), dotted ``key=value``
overrides (values read as YAML 1.2, so `no` stays a string), and dataclass validation of each section.

One implementation serves every Accelerate job (pretraining, V-JEPA 2-AC training): a job declares its sections as
dataclasses and builds them with `dataclass_from_mapping`, which names the offending section on an unknown key.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..recipe_yaml import load_recipe_yaml

__all__ = [
    "apply_overrides",
    "check_value_type",
    "dataclass_from_mapping",
    "did_you_mean",
    "load_recipe_tree",
    "parse_override",
]


def dataclass_from_mapping(cls, values: Mapping[str, Any] | None, where: str):
    """`cls(**values)` for a config-section dataclass, after checking `values`: a mapping (not a list, a number or
    null), no unknown key (with a "did you mean" for a near miss), each value of its field's annotated type.

    Raises:
        ValueError: naming `where`, the key, what was expected and what was given.
    """
    if values is None:
        raise ValueError(f"`{where}` must be a mapping, got null (write `{where}: {{}}` for its defaults)")
    if not isinstance(values, Mapping):
        raise ValueError(f"`{where}` must be a mapping, got {type(values).__name__} {values!r}")
    values = dict(values)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names), key=str)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in `{where}`{did_you_mean(unknown[0], names)}; expected a subset "
                         f"of {sorted(names)}")
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        check_value_type(value, hints[key], f"{where}.{key}")
    return cls(**values)


def did_you_mean(key: str, names: Sequence[str]) -> str:
    """`" (did you mean 'name'?)"` for the closest of `names`, or `""` when none is close."""
    close = difflib.get_close_matches(str(key), [str(n) for n in names], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is None and hasattr(annotation, "__name__"):
        return annotation.__name__
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", str(annotation))  # typing.Any -> Any, pkg.mod.Section -> Section


def check_value_type(value: Any, annotation: Any, where: str) -> None:
    """Raise a `ValueError` naming `where` when `value` does not fit `annotation` (int, float, str, bool, None, and
    tuples / lists / dicts / unions of them; other annotations are left to the dataclass). A float is no int (`2.5`
    steps), a bool is no number, an int is a float."""
    if not _fits(value, annotation):
        raise ValueError(f"`{where}` must be {_type_name(annotation)}, got {type(value).__name__} {value!r}")


def _fits(value: Any, annotation: Any) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or annotation is object:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
    if origin is list:
        return isinstance(value, (list, tuple)) and (not args or all(_fits(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, Mapping)
    return True  # a dataclass section or another type: its own checks apply


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.key=value`` -> (``["section", "key"]``, the value read as YAML 1.2)."""
    if "=" not in text:
        raise ValueError(f"an override must look like `section.key=value`, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip().split("."), load_recipe_yaml(value)


def _apply_override(tree: dict[str, Any], path: list[str], value: Any, text: str) -> None:
    node: Any = tree
    for i, part in enumerate(path[:-1]):
        if not isinstance(node, (dict, list)):
            raise ValueError(f"override {text!r}: `{'.'.join(path[:i])}` is {node!r}, not a section to set keys in")
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(f"override {text!r}: {'.'.join(path[: i + 1])} is not an index of a list of {len(node)}")
            node = node[int(part)]
        else:
            if part not in node:
                node[part] = {}
            node = node[part]
    last = path[-1]
    if not isinstance(node, (dict, list)):
        raise ValueError(f"override {text!r}: `{'.'.join(path[:-1])}` is {node!r}, not a section to set keys in")
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
        tree = load_recipe_yaml(text)
        if tree is None or tree == {}:  # not the defaults (a 256-px run nobody asked for): say so
            raise ValueError(f"{what} {str(source)!r} is empty; a recipe needs its sections (see the presets)")
        if not isinstance(tree, dict):
            raise ValueError(f"{what} {str(source)!r} must be a YAML mapping, got {type(tree).__name__}")
    return apply_overrides(tree, overrides)
