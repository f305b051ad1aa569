"""Recipes and model configs under hostile input: wrong types, non-mappings, typos, empty files, sizes that make no
model or no model that fits, checkpoints of another model. Each is one line on stderr and exit status 2, raised when
the recipe or config is read (before a model is built or a file written)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from vjepa2_hf.cli import main

FAST = ["--set", "optimization.total_steps=1", "--set", "optimization.warmup_steps=0", "--set",
        "optimization.cooldown_steps=0", "--set", "optimization.global_batch_size=2", "--set", "run.report_to=[]",
        "--no-progress"]


def _one_line_error(capfd, argv: list[str], *needles: str) -> str:
    code = main(argv)
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip() and "Warning" not in line and "warn(" not in line]
    assert code == 2, (code, lines)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"vjepa2-hf {argv[0]}: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# --- pretraining recipes and --set --------------------------------------------------------------------------------


@pytest.mark.parametrize("override, needles", [
    ("optimization.total_steps=2.5", ["`optimization.total_steps` must be int, got float 2.5"]),
    ("data.frames_per_clip=2.5", ["`data.frames_per_clip` must be int, got float 2.5"]),
    ("model=[1]", ["`model` must be a mapping, got list [1]"]),
    ("model=null", ["`model` must be a mapping, got null"]),
    ("data.sources=[null]", ["`data.sources[0]` must be a mapping, got null"]),
    ("masks=[1]", ["`masks[0]` must be a mapping, got int 1"]),
    ("optimization.ema=0.5", ["`optimization.ema` must be tuple[float, float], got float 0.5"]),
    ("model=5", ["`model` must be a mapping, got int 5"]),
    ("model.config_overrides.hidden_size=0", ["`hidden_size` must be an integer >= 1, got 0"]),
    ("model.config_overrides.num_attention_heads=0", ["`num_attention_heads` must be an integer >= 1, got 0"]),
    ("model.config_overrides.num_hidden_layers=-2", ["`num_hidden_layers` must be an integer >= 1, got -2"]),
    ("model.config_overrides.hiden_size=32", ["unknown key 'hiden_size' in `model.config_overrides`",
                                              "did you mean 'hidden_size'?"]),
    ("optimization.total_step=1", ["unknown key(s) ['total_step'] in `optimization`", "did you mean 'total_steps'?"]),
    ("run.progress_bar=maybe", ["`run.progress_bar` must be bool, got str 'maybe'"]),
])
def test_a_bad_recipe_value_is_refused_before_anything_runs(capfd, tmp_path, override, needles):
    out = tmp_path / "run"
    _one_line_error(capfd, ["pretrain", "--config", "tiny", *FAST, "--set", override, "--output-dir", str(out)],
                    *needles)
    assert not out.exists()


def test_overrides_into_a_value_that_is_not_a_section(capfd, tmp_path):
    _one_line_error(capfd, ["pretrain", "--config", "tiny", "--set", "model=5", "--set", "model.preset=tiny",
                            "--output-dir", str(tmp_path / "r")], "`model` is 5, not a section")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n"])
def test_an_empty_recipe_is_refused_not_run_with_the_defaults(capfd, tmp_path, text):
    (tmp_path / "empty.yaml").write_text(text)
    _one_line_error(capfd, ["pretrain", "--config", str(tmp_path / "empty.yaml"), *FAST, "--output-dir",
                            str(tmp_path / "r")], "is empty")
    assert not (tmp_path / "r").exists()


def test_train_ac_sections_are_checked_the_same_way(capfd, tmp_path):
    (tmp_path / "ac.yaml").write_text(json.dumps({"data": {"path": str(tmp_path)}, "model": None}))
    _one_line_error(capfd, ["train-ac", "--config", str(tmp_path / "ac.yaml"), "--output-dir", str(tmp_path / "r")],
                    "`model` must be a mapping, got null")


def test_every_shipped_recipe_still_reads():
    from vjepa2_hf.pretraining import list_pretraining_presets, load_pretraining_config

    for name in list_pretraining_presets():
        assert load_pretraining_config(name).model.preset


# --- config.json files the commands build models from -------------------------------------------------------------


def _with_config(saved_tiny_encoder, tmp_path, **changes):
    folder = tmp_path / "model"
    shutil.copytree(saved_tiny_encoder, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))
    return folder


@pytest.mark.parametrize("layers, needles", [
    (100_000, ["describes 4,998,", "parameters but its weights hold", "num_hidden_layers=100000"]),
    (1_000_000_000, ["parameters but its weights hold", "num_hidden_layers=1000000000"]),
    (1e9, ["`num_hidden_layers` must be an integer >= 1, got 1000000000.0"]),
])
def test_a_config_too_large_for_its_weights_or_memory_is_refused_before_building(capfd, tmp_path, saved_tiny_encoder,
                                                                                 layers, needles):
    import time

    folder = _with_config(saved_tiny_encoder, tmp_path, num_hidden_layers=layers)
    start = time.perf_counter()
    _one_line_error(capfd, ["embed", "--model", str(folder), "--output-dir", str(tmp_path / "e"), "--num-workers",
                            "0"], *needles)
    assert time.perf_counter() - start < 60  # before: minutes building 10^5 blocks, or a MemoryError


def test_the_size_check_counts_what_the_model_holds(saved_tiny_encoder):
    from vjepa2_hf import VJEPA2Config, VJEPA2Model, VJEPA2VisionModel
    from vjepa2_hf.model_size import check_config_fits, meta_parameter_count, stored_parameter_count

    for overrides in ({}, {"num_hidden_layers": 5, "pred_num_hidden_layers": 3}):
        config = VJEPA2Config.from_preset("tiny", **overrides)
        for cls in (VJEPA2Model, VJEPA2VisionModel):
            assert meta_parameter_count(cls, config) == sum(p.numel() for p in cls(config).parameters())
    config = VJEPA2Config.from_preset("tiny")
    assert stored_parameter_count(saved_tiny_encoder) == sum(p.numel() for p in VJEPA2Model(config).parameters())
    count = check_config_fits(VJEPA2Model, config, folder=saved_tiny_encoder)
    with pytest.raises(ValueError, match="more than the 0.0 GiB of memory free"):
        check_config_fits(VJEPA2Model, config, available=count * 4 - 1)
    assert check_config_fits(VJEPA2Model, config, available=count * 4) == count


@pytest.mark.parametrize("command", [
    ["embed", "--model", "{m}", "--output-dir", "{t}/e"],
    ["export", "--model", "{m}", "--format", "official", "--output-dir", "{t}/x.pt"],
    ["convert-official", "--checkpoint", "{t}/x.pt", "--arch", "tiny", "--config", "{m}", "--output-dir", "{t}/c"],
    ["plan", "--model", "{m}", "--output-dir", "{t}/p"],
])
def test_a_config_json_that_is_a_list_is_a_usage_error(capfd, tmp_path, command):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("[1, 2]")
    argv = [a.replace("{m}", str(folder)).replace("{t}", str(tmp_path)) for a in command]
    _one_line_error(capfd, argv, "config.json must hold a JSON object", "got list")


# --- resuming from a checkpoint of another model ------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["pretrain", "--config", "tiny", *FAST, "--set", "run.checkpoint_every=1", "--output-dir",
                 str(out)]) == 0
    return out


@pytest.mark.parametrize("change", [
    ["--set", "model.config_overrides.hidden_size=128"],  # another width
    ["--set", "model.config_overrides.num_hidden_layers=3"],  # another depth
    ["--config", "tiny_vjepa2_1"],  # another recipe
])
def test_resuming_from_a_checkpoint_of_another_model_is_a_usage_error(capfd, one_step_run, change):
    capfd.readouterr()
    argv = ["pretrain", "--config", "tiny", *FAST, "--set", "optimization.total_steps=2", *change, "--output-dir",
            str(one_step_run), "--resume"]
    _one_line_error(capfd, argv, "cannot resume the run in", "differs from this one in")


def test_a_config_without_weights_is_checked_against_free_memory(capfd, tmp_path, saved_tiny_encoder):
    folder = tmp_path / "config_only"
    folder.mkdir()
    config = json.loads((saved_tiny_encoder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 10**9}))
    torch.save({"encoder": {}}, tmp_path / "x.pt")
    _one_line_error(capfd, ["convert-official", "--checkpoint", str(tmp_path / "x.pt"), "--arch", "tiny", "--config",
                            str(folder), "--output-dir", str(tmp_path / "c")], "GiB of memory free")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("name, text, expected", [
    ("p.yaml", "", "is empty"),
    ("p.json", "[1]", "must be a mapping of option names to values, got list"),
    ("p.yaml", "num_train_epoch: 3\n", "did you mean 'num_train_epochs'?"),
])
def test_a_probe_config_file_of_the_wrong_shape_is_a_usage_error(capfd, tmp_path, name, text, expected):
    (tmp_path / name).write_text(text)
    _one_line_error(capfd, ["probe", str(tmp_path / name)], expected)


def test_plan_and_probe_check_the_sizes_of_nested_and_classifier_configs(capfd, tmp_path, saved_tiny_encoder):
    from vjepa2_hf import VJEPA2Config
    from vjepa2_hf.world_model.configuration_vjepa2_ac import VJEPA2ACConfig
    from vjepa2_hf.world_model.world_model import VJEPA2WorldModel

    world = tmp_path / "world"
    VJEPA2WorldModel.from_configs(VJEPA2Config.from_preset("tiny"),
                                  VJEPA2ACConfig.from_preset("tiny", action_dim=3, state_dim=3)).save_pretrained(world)
    capfd.readouterr()
    config = json.loads((world / "config.json").read_text())
    config["encoder_config"]["num_hidden_layers"] = 100_000  # a stack inside a sub-config
    (world / "config.json").write_text(json.dumps(config))
    _one_line_error(capfd, ["plan", "--model", str(world), "--output-dir", str(tmp_path / "p")],
                    "parameters but its weights hold", "encoder_config.num_hidden_layers=100000")
    deep = _with_config(saved_tiny_encoder, tmp_path, num_hidden_layers=100_000)
    assert main(["synth", "--output-dir", str(tmp_path / "d"), "--num-videos", "16", "--frames", "4", "--size", "16",
                 "--quiet"]) == 0
    capfd.readouterr()
    _one_line_error(capfd, ["probe", "--model", str(deep), "--data", str(tmp_path / "d"), "--output-dir",
                            str(tmp_path / "pr")], "parameters but its weights hold")


def test_pretraining_refuses_a_model_that_cannot_fit_before_building_it(capfd, tmp_path):
    import time

    start = time.perf_counter()
    _one_line_error(capfd, ["pretrain", "--config", "tiny", *FAST, "--set", "model.config_overrides.num_hidden_layers="
                            f"{10**7}", "--output-dir", str(tmp_path / "r")], "GiB of memory free",
                    "num_hidden_layers=10000000")
    assert time.perf_counter() - start < 60
