"""Start-up cost: `import vjepa2_hf` and `vjepa2-hf --help` import no capability (nor torch), and the Auto classes
still load our saved folders in a fresh process. Run in subprocesses so that this session's imports don't count.
Bounds are generous (a shared CPU); the measured figures are in the README."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
HEAVY = ["torch", "vjepa2_hf.vlm", "vjepa2_hf.world_model", "vjepa2_hf.encoder", "vjepa2_hf.pretraining", "peft"]


def _python(code: str, timeout: float = 300) -> dict:
    env = {**os.environ, "PYTHONPATH": SRC, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _import_seconds(statement: str) -> float:
    return _python(
        f"import json, time; t = time.perf_counter(); {statement}; print(json.dumps(time.perf_counter() - t))"
    )


def test_import_is_lazy_and_fast():
    loaded = _python(f"import json, sys, vjepa2_hf; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert loaded == [], f"`import vjepa2_hf` imported {loaded}"
    baseline = _import_seconds("import torch, transformers")
    ours = _import_seconds("import vjepa2_hf")
    print(f"import torch, transformers: {baseline:.2f} s; import vjepa2_hf: {ours:.2f} s")
    assert ours < baseline + 2.0
    # names still resolve (on first use)
    names = _python(
        "import json, vjepa2_hf; print(json.dumps([vjepa2_hf.VJEPA2WorldModel.__name__, vjepa2_hf.cem.__name__, "
        "vjepa2_hf.VJEPA2Config.model_type, sorted(set(vjepa2_hf.__all__) - set(dir(vjepa2_hf)))]))"
    )
    assert names == ["VJEPA2WorldModel", "cem", "vjepa2_hf", []]


def test_cli_help_does_not_import_torch():
    code = (
        "import contextlib, io, json, sys, time; t = time.perf_counter()\n"
        "from vjepa2_hf.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as buf: rc = main(['--help'])\n"
        "print(json.dumps([rc, 'plan' in buf.getvalue(), 'torch' in sys.modules, time.perf_counter() - t]))"
    )
    rc, lists_commands, torch_loaded, seconds = _python(code)
    print(f"vjepa2-hf --help: {seconds:.2f} s in-process")
    assert rc == 0 and lists_commands and not torch_loaded
    assert seconds < 2.0


def test_auto_classes_load_saved_folders_in_a_fresh_process(tmp_path):
    from vjepa2_hf.encoder import VJEPA2Config, VJEPA2Model
    from vjepa2_hf.world_model import VJEPA2ACConfig, VJEPA2ACPredictor

    VJEPA2Model(VJEPA2Config.from_preset("tiny")).save_pretrained(tmp_path / "enc")
    VJEPA2ACPredictor(VJEPA2ACConfig.from_preset("tiny")).save_pretrained(tmp_path / "ac")
    from vjepa2_hf.world_model import VJEPA2WorldModel

    VJEPA2WorldModel.from_configs(
        VJEPA2Config.from_preset("tiny", crop_size=64), VJEPA2ACConfig.from_preset("tiny", crop_size=64)
    ).save_pretrained(tmp_path / "wm")
    code = (
        "import json, sys, vjepa2_hf\n"
        "from transformers import AutoConfig, AutoModel\n"
        f"enc = AutoModel.from_pretrained({str(tmp_path / 'enc')!r})\n"
        f"ac = AutoModel.from_pretrained({str(tmp_path / 'ac')!r})\n"
        f"cfg = AutoConfig.from_pretrained({str(tmp_path / 'ac')!r})\n"
        f"wm = AutoModel.from_pretrained({str(tmp_path / 'wm')!r})\n"
        "print(json.dumps([type(enc).__module__ + '.' + type(enc).__name__, type(ac).__name__, type(cfg).__name__, "
        "isinstance(enc, vjepa2_hf.VJEPA2Model), 'vjepa2_hf.vlm.modeling_vjepa2_vlm' in sys.modules, "
        "type(wm).__name__]))"
    )
    enc, ac, cfg, is_ours, vlm_loaded, wm = _python(code)
    assert enc == "vjepa2_hf.encoder.modeling_vjepa2.VJEPA2Model"
    assert (ac, cfg, is_ours, vlm_loaded, wm) == ("VJEPA2ACPredictor", "VJEPA2ACConfig", True, False, "VJEPA2WorldModel")
