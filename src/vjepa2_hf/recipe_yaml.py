"""YAML for recipes and `--set` overrides, with YAML 1.2 booleans and floats.

PyYAML follows YAML 1.1, where `no`, `off`, `yes` and `on` are booleans: `--set optimization.mixed_precision=no`
would reach the recipe as `False` although the recipe files hold the string `"no"`. Here only `true` / `false`
(any case) are booleans, as in YAML 1.2, so a value means the same on the command line and in a file. Likewise
YAML 1.1 reads `1e-4` (no dot) as a string; here it is the float it is in YAML 1.2 (and in Python).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["load_recipe_yaml"]

_BOOL_TAG = "tag:yaml.org,2002:bool"
_FLOAT_TAG = "tag:yaml.org,2002:float"
# YAML 1.2 core-schema numbers with an exponent and no dot: 1e-4, -2E5, +3e+2 (the 1.1 resolver wants a dot)
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$")


class _RecipeLoader(yaml.SafeLoader):
    pass


_RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_RecipeLoader.add_implicit_resolver(_FLOAT_TAG, _EXPONENT_FLOAT, list("-+0123456789"))


def load_recipe_yaml(text: str) -> Any:
    """`yaml.safe_load` with YAML 1.2 booleans (`no` / `yes` / `on` / `off` stay strings) and floats (`1e-4`)."""
    return yaml.load(text, Loader=_RecipeLoader)
