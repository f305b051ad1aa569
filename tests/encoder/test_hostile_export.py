"""`vjepa2-hf export --format official` given a folder (issue 21): one line, exit 2, nothing left behind. Failed on the
code before the fix, which wrote `<dir>.tmp` beside the folder and left it there."""

from __future__ import annotations

import pytest
import torch

from vjepa2_hf.cli import main
from vjepa2_hf.encoder.convert_vjepa2_checkpoint import export_to_official

from .conftest import random_model


def test_export_official_into_an_existing_folder_leaves_nothing(tmp_path, capsys):
    model = random_model(seed=3)
    model.save_pretrained(tmp_path / "model")
    target = tmp_path / "exports"
    target.mkdir()
    command = ["export", "--model", str(tmp_path / "model"), "--format", "official", "--output-dir", str(target)]
    assert main(command) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "vjepa2-hf export:" in line]
    assert len(err) == 1 and err[0].startswith("vjepa2-hf export: error: --output-dir") and "is a folder" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "model"] and not list(target.iterdir())


def test_a_failed_official_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    model = random_model(seed=3)

    def full_disk(obj, f, *args, **kwargs):
        with open(f, "wb") as out:
            out.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        export_to_official(model, tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []
