"""The command line's top-level handler: a missing path (or any expected error) is one line and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vjepa2_hf.cli import COMMANDS, main

MISSING = "/nonexistent/vjepa2_hf_test/missing"

# one command line per subcommand, each naming a path that does not exist
MISSING_PATH_ARGS = {
    "quickstart": ["--data", MISSING, "--small"],
    "embed": [f"{MISSING}.mp4", "--output-dir", "{tmp}/emb"],
    "feature-map": [f"{MISSING}.mp4", "--output-dir", "{tmp}/maps"],
    "convert-official": ["--checkpoint", f"{MISSING}.pt", "--arch", "vit_large", "--output-dir", "{tmp}/c"],
    "export": ["--model", MISSING, "--format", "official", "--output-dir", "{tmp}/e.pt"],
    "synth": ["--output-dir", "{tmp}/a_file/out", "--num-videos", "2"],  # a parent that is a file, not a folder
    "pretrain": ["--config", f"{MISSING}.yaml"],
    "probe": [f"{MISSING}.json"],
    "train-ac": ["--config", f"{MISSING}.yaml"],
    "plan": ["--model", MISSING],
    "train-vlm": ["--config", f"{MISSING}.yaml"],
}


def test_every_subcommand_has_a_missing_path_case():
    assert sorted(MISSING_PATH_ARGS) == sorted(COMMANDS)


@pytest.mark.parametrize("command", sorted(MISSING_PATH_ARGS))
def test_missing_path_is_one_line_and_exit_2(command, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    args = [a.replace("{tmp}", str(tmp_path)) for a in MISSING_PATH_ARGS[command]]
    assert main([command, *args]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"vjepa2-hf {command}: error: "), lines[0]
    assert "Traceback" not in captured.err + captured.out
    path_named = MISSING in lines[0] or "a_file" in lines[0]
    assert path_named, lines[0]


def test_debug_flag_and_environment_variable_show_the_traceback(tmp_path, monkeypatch):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "HF_HUB_OFFLINE": "1"}
    env.pop("VJEPA2_HF_DEBUG", None)
    command = [sys.executable, "-m", "vjepa2_hf.cli", "convert-official", "--checkpoint", f"{MISSING}.pt", "--arch",
               "vit_large", "--output-dir", str(tmp_path / "c")]
    plain = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().count("\n") == 0
    debug = subprocess.run([*command, "--debug"], env=env, capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "FileNotFoundError" in debug.stderr
    monkeypatch.setenv("VJEPA2_HF_DEBUG", "1")  # the variable: the exception propagates (here, in-process)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        main(command[3:])


def test_unexpected_errors_are_one_line_with_a_hint(capsys):
    from vjepa2_hf.commands.errors import run_command

    def broken():
        raise RuntimeError("boom\nsecond line")

    assert run_command("embed", broken) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("vjepa2-hf embed: internal error: RuntimeError: boom | second line (run again with --debug or "
                   "VJEPA2_HF_DEBUG=1 for the traceback)")
