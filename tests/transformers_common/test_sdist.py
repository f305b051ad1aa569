"""The set-up that fetches transformers' common tests: cached per version, and a clear skip reason without network."""

from __future__ import annotations

import subprocess

import pytest
import transformers

from . import sdist


def test_cache_is_per_installed_version(monkeypatch, tmp_path):
    monkeypatch.setenv("VJEPA2_HF_CACHE", str(tmp_path))
    assert sdist.cache_root() == tmp_path / f"transformers-tests-{transformers.__version__}"


def test_failed_fetch_says_why(monkeypatch, tmp_path):
    """No network and no cache: `CommonTestsUnavailable` naming pip's last line (the common tests then skip with it)."""
    monkeypatch.setenv("VJEPA2_HF_CACHE", str(tmp_path))

    def offline(command, **kwargs):
        assert command[1:4] == ["-m", "pip", "download"] and f"transformers=={transformers.__version__}" in command
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found (network down)")

    monkeypatch.setattr(sdist.subprocess, "run", offline)
    with pytest.raises(sdist.CommonTestsUnavailable, match="network down"):
        sdist.ensure_extracted()
    assert not (tmp_path / f"transformers-tests-{transformers.__version__}" / sdist.PACKAGE).exists()


def test_extracts_top_level_tests_and_stand_ins(tmp_path):
    import io
    import tarfile

    archive = tmp_path / "transformers-0.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in (("transformers-0.0/tests/test_modeling_common.py", b"X = 1\n"),
                           ("transformers-0.0/tests/models/bert/test_modeling_bert.py", b""),
                           ("transformers-0.0/src/transformers/__init__.py", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    target = tmp_path / "pkg"
    sdist._extract(archive, target)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*.py"))
    assert files == ["__init__.py", "exporters/__init__.py", "exporters/test_export.py", "generation/__init__.py",
                     "generation/test_utils.py", "test_modeling_common.py"]
    assert "class GenerationTesterMixin" in (target / "generation" / "test_utils.py").read_text()
