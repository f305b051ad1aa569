"""One spelling for the output folder across the commands: `--output-dir` everywhere; the older spellings
(`--out`, `--output`) still work as deprecated aliases that warn; `--output_dir` is the underscore alias every option
has (see test_option_style.py) and does not warn."""

from __future__ import annotations

import argparse
import importlib
import json

import pytest

from vjepa2_hf.cli import COMMANDS, main


def _parse(command: str, argv: list[str]) -> argparse.Namespace:
    """Parse `argv` with the parser `vjepa2-hf COMMAND` builds (as `vjepa2_hf.cli.main` does)."""
    module_name, help_ = COMMANDS[command]
    module = importlib.import_module(f"vjepa2_hf.commands.{module_name}")
    parser = getattr(module, "make_parser", argparse.ArgumentParser)(prog=f"vjepa2-hf {command}", description=help_)
    module.add_arguments(parser)
    return parser.parse_args(argv)


# command, its other required arguments, the deprecated spellings of --output-dir
CASES = [
    ("convert-official", ["--checkpoint", "x.pt", "--arch", "tiny"], ["--out"]),
    ("export", ["--model", "m", "--format", "transformers"], ["--out"]),
    ("synth", ["--num-videos", "4"], ["--out"]),
    ("plan", [], ["--output"]),
    ("quickstart", [], []),
    ("probe", ["--model", "tiny", "--data", "d"], []),
    ("train-vlm", ["--config", "c.yaml"], ["--out"]),
    ("pretrain", ["--config", "tiny"], []),
    ("train-ac", ["--config", "c.yaml"], []),
    ("feature-map", [], ["--out"]),
    ("embed", [], ["--out"]),
]


@pytest.mark.parametrize("command, required, aliases", CASES, ids=[c[0] for c in CASES])
def test_output_dir_is_one_spelling_and_old_spellings_warn(command, required, aliases, recwarn):
    args = _parse(command, [*required, "--output-dir", "runs/a"])
    assert args.output_dir == "runs/a"
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]
    for alias in aliases:
        with pytest.warns(FutureWarning, match=f"{alias} is deprecated; use --output-dir"):
            args = _parse(command, [*required, alias, "runs/b"])
        assert args.output_dir == "runs/b"


def test_every_command_is_covered():
    assert {c[0] for c in CASES} == set(COMMANDS)


def test_a_deprecated_spelling_still_runs_the_command(tmp_path):
    out = tmp_path / "synth"
    with pytest.warns(FutureWarning, match="--out is deprecated"):
        code = main(["synth", "--out", str(out), "--num-videos", "4", "--frames", "4", "--size", "16"])
    assert code == 0
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["num_train"] + info["num_test"] == 4


def test_a_required_output_dir_is_named_when_missing(capsys):
    with pytest.raises(SystemExit):
        _parse("synth", ["--num-videos", "4"])
    assert "--output-dir" in capsys.readouterr().err


@pytest.mark.parametrize("command, required", [("quickstart", []), ("probe", ["--model", "tiny", "--data", "d"])])
def test_the_underscore_spelling_is_an_alias_not_a_deprecation(command, required, recwarn):
    from vjepa2_hf.cli import build_parser

    assert build_parser(command).parse_args([*required, "--output_dir", "runs/c"]).output_dir == "runs/c"
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]
