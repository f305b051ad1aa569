"""Lazy attributes for package `__init__` modules (PEP 562 module `__getattr__`), the way transformers defers its
imports: `import vjepa2_hf` and `import vjepa2_hf.<capability>` import no submodule until one of its names is
used."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def attach(package: str, submodules: dict[str, list[str]]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for `package` exporting `names` from each submodule (a path relative to it; a
    leading dot climbs like a relative import: `"..training.loop"` from `vjepa2_hf.pretraining`).

    Usage in a package `__init__`: ``__getattr__, __dir__ = attach(__name__, {"modeling_x": ["XModel"]})``.
    """
    where = {name: module for module, names in submodules.items() for name in names}

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = where[name] if where[name].startswith(".") else f".{where[name]}"
        value = getattr(importlib.import_module(module, package), name)
        setattr(importlib.import_module(package), name, value)  # cache: later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(where) | set(importlib.import_module(package).__dict__))

    return __getattr__, __dir__
