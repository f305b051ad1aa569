"""`vjepa2-hf pretrain --compile` (`run.compile`): regional `torch.compile` of the transformer blocks gives the eager
run's numbers, compiles once although the masks' token counts change every step, keeps the parameter names of the
eager model in checkpoints and in `final/`, resumes, is no part of the run identity, and fails in one line where
inductor cannot build code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch._dynamo.utils import counters

from vjepa2_hf import cli
from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2Model
from vjepa2_hf.pretraining import VJEPA2ForPretraining, pretrain
from vjepa2_hf.training.checkpointing import find_last_checkpoint

from .conftest import tiny_run_config

# fp32 on CPU: inductor fuses and reorders the blocks' float arithmetic, so equality is not guaranteed (measured on
# this AMD EPYC: the 6 losses equal, weights after 6 AdamW steps within 6e-7)
LOSS_RTOL = 1e-4
WEIGHT_ATOL = 1e-4


def _config(output_dir, compile_: bool) -> dict:
    return tiny_run_config(output_dir, run={"compile": compile_, "checkpoint_every": 2, "keep_last_checkpoints": 3})


def _losses(output_dir) -> np.ndarray:
    return np.array([json.loads(line)["loss"] for line in (output_dir / "metrics.jsonl").read_text().splitlines()])


def _files_naming_orig_mod(folder) -> list[str]:
    """Files of a run folder (checkpoints: weights, optimizer, manifests; `final/`) that mention `_orig_mod`, the
    prefix `torch.compile(module)` would add to every parameter name."""
    return [str(path) for path in folder.rglob("*") if path.is_file() and b"_orig_mod" in path.read_bytes()]


def test_compiled_run_equals_eager_compiles_once_and_resumes(tmp_path, monkeypatch):
    eager = pretrain(_config(tmp_path / "eager", False))

    context_tokens = []  # per step, the context token count of each mask configuration
    forward = VJEPA2ForPretraining.forward

    def recording_forward(self, pixel_values_videos, context_mask, target_mask, *args, **kwargs):
        context_tokens.append(tuple(m.shape[1] for m in context_mask))
        return forward(self, pixel_values_videos, context_mask, target_mask, *args, **kwargs)

    monkeypatch.setattr(VJEPA2ForPretraining, "forward", recording_forward)
    graphs = {}

    def crash(step, metrics, model):
        graphs[step] = counters["stats"]["unique_graphs"]
        if step == 5:
            raise KeyboardInterrupt("simulated kill")

    counters.clear()
    with pytest.raises(KeyboardInterrupt):
        pretrain(_config(tmp_path / "compiled", True), callbacks=[crash])
    assert find_last_checkpoint(tmp_path / "compiled").name == "step_00000004"
    # every graph is built in the first step; the later steps, with other token counts, reuse them
    assert 1 <= graphs[1] <= 4 and graphs[5] == graphs[1], graphs
    assert len(set(context_tokens)) > 1, context_tokens

    config_file = tmp_path / "compiled.yaml"
    config_file.write_text(yaml.safe_dump(_config(tmp_path / "compiled", False)))
    assert cli.main(["pretrain", "--config", str(config_file), "--compile", "--resume", "--no-progress"]) == 0

    compiled_dir = tmp_path / "compiled"
    np.testing.assert_allclose(_losses(compiled_dir), _losses(eager.output_dir), rtol=LOSS_RTOL, atol=0)
    assert len(_losses(compiled_dir)) == 6
    a = load_file(str(find_last_checkpoint(eager.output_dir) / "model.safetensors"))
    b = load_file(str(find_last_checkpoint(compiled_dir) / "model.safetensors"))
    assert a.keys() == b.keys()  # encoder, predictor and EMA target, under the eager names
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < WEIGHT_ATOL

    final = VJEPA2Model.from_pretrained(compiled_dir / "final")
    reference = VJEPA2Model.from_pretrained(eager.final_model_dir)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(final.state_dict()[name], value, rtol=0, atol=WEIGHT_ATOL)
    assert list(compiled_dir.rglob("*.safetensors")) and not _files_naming_orig_mod(compiled_dir)
    # not part of the run identity: the same run.json as the eager run
    assert json.loads((compiled_dir / "run.json").read_text()) == json.loads((eager.output_dir / "run.json").read_text())


def test_help_lists_the_switch(capsys):
    assert cli.main(["pretrain", "--help"]) == 0
    assert "--compile" in capsys.readouterr().out


def test_no_compiler_is_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    from torch._inductor import cpp_builder

    def missing():
        raise RuntimeError("No working C++ compiler found in torch._inductor.config.cpp.cxx: (None, 'g++')")

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", missing)
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(_config(tmp_path / "run", False)))
    assert cli.main(["pretrain", "--config", str(config_file), "--compile", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vjepa2-hf pretrain: error: run.compile"), err
    assert "C++ compiler" in err[0]
    assert not (tmp_path / "run").exists()  # nothing written


def test_two_compiled_processes_equal_one_eager_process(tmp_path):
    """DDP over gloo (torchrun, 2 processes) wraps the compiled blocks: the same losses as one eager process."""
    from .test_multiprocess import TOLERANCE, WORKER, _free_port

    optimization = {"total_steps": 3, "warmup_steps": 1}
    config = tiny_run_config(tmp_path / "ddp", optimization=optimization, run={"checkpoint_every": 0, "compile": True})
    config_file = tmp_path / "ddp.yaml"
    config_file.write_text(yaml.safe_dump(config))
    result_file = tmp_path / "ddp.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), str(WORKER), str(config_file), str(result_file)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    distributed = json.loads(result_file.read_text())
    assert distributed["world_size"] == 2 and distributed["backend"] == "gloo"
    single = pretrain(tiny_run_config(tmp_path / "single", optimization=optimization, run={"checkpoint_every": 0}))
    np.testing.assert_allclose(distributed["losses"], [h["loss"] for h in single.history], rtol=0, atol=TOLERANCE)
    assert (tmp_path / "ddp" / "final").is_dir() and not _files_naming_orig_mod(tmp_path / "ddp")
