"""`--set key=no` reaches a recipe as the string a recipe file gives (YAML 1.2 booleans for recipes and overrides)."""

from __future__ import annotations

import pytest

from vjepa2_hf.pretraining import load_pretraining_config
from vjepa2_hf.recipe_yaml import load_recipe_yaml


@pytest.mark.parametrize("value", ["no", "yes", "on", "off", "No", "OFF"])
def test_yaml_11_words_stay_strings(value):
    assert load_recipe_yaml(value) == value
    assert load_recipe_yaml(f"key: {value}") == {"key": value}


@pytest.mark.parametrize("value,expected", [("true", True), ("False", False), ("TRUE", True), ("3", 3),
                                            ("1e-4", 1e-4), ("1.0e-4", 1e-4), ("null", None), ("[1, 2]", [1, 2])])
def test_other_scalars_keep_their_yaml_types(value, expected):
    assert load_recipe_yaml(value) == expected


def test_pretrain_override_no_equals_the_recipe_file():
    from_file = load_pretraining_config("tiny").optimization.mixed_precision
    assert from_file == "no"
    overridden = load_pretraining_config("tiny", ["optimization.mixed_precision=no"])
    assert overridden.optimization.mixed_precision == from_file
    assert load_pretraining_config("tiny", ["optimization.mixed_precision=bf16"]).optimization.mixed_precision == "bf16"


def test_train_ac_override_no_reaches_the_recipe_as_a_string(tmp_path):
    from vjepa2_hf.world_model.training_vjepa2_ac import load_train_ac_config

    path = tmp_path / "ac.yaml"
    path.write_text('data:\n  path: episodes.npz\noptimization:\n  mixed_precision: no\n')
    assert load_train_ac_config(path).optimization.mixed_precision == "no"  # unquoted in the file
    config = load_train_ac_config(path, ["optimization.mixed_precision=no"])
    assert config.optimization.mixed_precision == "no"


@pytest.mark.parametrize("text, expected", [("1e-4", 1e-4), ("-2E5", -2e5), ("+3e+2", 300.0), ("7.5e-5", 7.5e-5)])
def test_exponent_floats_without_a_dot_are_floats(text, expected):
    # YAML 1.1 (PyYAML) reads "1e-4" as a string, which the recipe's type check then refuses
    assert load_recipe_yaml(text) == expected and isinstance(load_recipe_yaml(text), float)


def test_an_exponent_override_passes_the_recipe_type_check():
    from vjepa2_hf.training.recipes import parse_override

    assert parse_override("optimization.start_lr=1e-4") == (["optimization", "start_lr"], 1e-4)
