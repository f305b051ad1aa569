"""The multi-node launch scripts of `examples/multinode/` (torchrun and SLURM, for pretraining and `embed`): valid
bash (`bash -n`), every torchrun option they pass accepted by this torch's `torchrun --help`, and every option they
give the `vjepa2-hf` command accepted by its parser."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "multinode"
SCRIPTS = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".sh", ".sbatch"))


@lru_cache(maxsize=None)
def _help(*command: str) -> str:
    done = subprocess.run([sys.executable, *command, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _torchrun_call(script: Path) -> list[str]:
    """The tokens of the script's torchrun call (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", script.read_text())
    calls = [line for line in text.splitlines()
             if re.search(r"(^|\s)torchrun\s", line) and not line.lstrip().startswith("#")]
    assert len(calls) == 1, calls
    tokens = shlex.split(calls[0])
    return tokens[tokens.index("torchrun") + 1:]


def _accepts(help_text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text) is not None


def test_the_four_scripts_exist():
    assert [p.name for p in SCRIPTS] == ["slurm_embed.sbatch", "slurm_pretrain.sbatch", "torchrun_embed.sh",
                                         "torchrun_pretrain.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_is_valid_bash(script):
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_torchrun_and_command_options_are_accepted(script):
    tokens = _torchrun_call(script)
    module = tokens.index("-m")
    launcher_options = [t for t in tokens[:module] if t.startswith("-")]
    assert {"--nnodes", "--nproc-per-node", "--rdzv-backend", "--rdzv-endpoint"} <= set(launcher_options)
    torchrun_help = _help("-m", "torch.distributed.run")
    assert [o for o in launcher_options if not _accepts(torchrun_help, o)] == []
    assert tokens[module + 1] == "vjepa2_hf.cli"
    command = tokens[module + 2]
    assert command == ("pretrain" if "pretrain" in script.name else "embed")
    command_options = [t for t in tokens[module + 3:] if t.startswith("--")]
    command_help = _help("-m", "vjepa2_hf.cli", command)
    assert command_options and [o for o in command_options if not _accepts(command_help, o)] == []


@pytest.mark.parametrize("script", [p for p in SCRIPTS if p.suffix == ".sbatch"], ids=lambda p: p.name)
def test_slurm_scripts_request_nodes_and_requeue(script):
    directives = [line.split(None, 1)[1] for line in script.read_text().splitlines() if line.startswith("#SBATCH")]
    assert any(d.startswith("--nodes=") for d in directives) and "--requeue" in directives
    assert "srun" in script.read_text() and "$SLURM_NNODES" in script.read_text()
