"""`dtype="auto"`: the decision with mocked hardware capabilities, names, errors, and the log-once behaviour."""

from __future__ import annotations

import pytest
import torch

from vjepa2_hf import auto_dtype as ad


@pytest.fixture
def cpu(monkeypatch):
    """Set the CPU flags /proc/cpuinfo reports (None: no /proc/cpuinfo) and torch's capability string."""

    def set_cpu(flags, capability="AVX2"):
        ad.cpu_has_native_bf16.cache_clear()
        monkeypatch.setattr(ad, "_cpuinfo_flags", lambda path="/proc/cpuinfo": set(flags or ()))
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)

    yield set_cpu
    ad.cpu_has_native_bf16.cache_clear()


@pytest.mark.parametrize(
    "flags,capability,expected",
    [
        (["fma", "avx2"], "AVX2", torch.float32),  # AVX2 only: bf16 emulated
        (["avx2", "avx512f", "avx512_bf16"], "AVX512", torch.bfloat16),  # Zen 4+, Cooper Lake+
        (["avx2", "avx512f", "amx_bf16", "amx_tile"], "AVX512", torch.bfloat16),  # Sapphire Rapids+
        (["avx2", "avx512f"], "AVX512", torch.float32),  # AVX512 without BF16
        (None, "AVX2", torch.float32),  # no /proc/cpuinfo: torch's capability decides
        (None, "AMX", torch.bfloat16),
    ],
)
def test_auto_on_cpu(cpu, flags, capability, expected):
    cpu(flags, capability)
    assert ad.auto_dtype("cpu") == expected
    assert ad.resolve_dtype("auto", "cpu") == expected


def test_auto_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert ad.auto_dtype("cuda") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # e.g. a V100
    assert ad.auto_dtype("cuda:0") == torch.float32


def test_names_and_errors():
    assert ad.resolve_dtype(None) is None
    assert ad.resolve_dtype("bf16") == ad.resolve_dtype("torch.bfloat16") == torch.bfloat16
    assert ad.resolve_dtype(torch.float16) == torch.float16
    with pytest.raises(ValueError, match="`dtype` must be 'auto' or one of .* got 'int8'"):
        ad.resolve_dtype("int8")
    with pytest.raises(ValueError, match="floating"):
        ad.resolve_dtype(torch.int64)


def test_choice_logged_once(cpu, monkeypatch):
    cpu(["avx2"])
    messages = []
    monkeypatch.setattr(ad.logger, "warning", messages.append)
    monkeypatch.setattr(ad, "_logged", set())
    for _ in range(3):
        ad.resolve_dtype("auto", "cpu")
    assert messages == ["dtype='auto': using torch.float32 on cpu (no native bf16)"]


def test_world_model_from_pretrained_auto(cpu, tmp_path):
    from tests.world_model.helpers import tiny_world_model
    from vjepa2_hf.world_model import VJEPA2WorldModel

    tiny_world_model().save_pretrained(tmp_path)
    for flags, expected in ((["avx2"], torch.float32), (["avx2", "avx512_bf16"], torch.bfloat16)):
        cpu(flags)
        assert VJEPA2WorldModel.from_pretrained(tmp_path, dtype="auto", device="cpu").dtype == expected
