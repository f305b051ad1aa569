"""Loading a Hub repo id when the Hub cannot be reached: one line at once, or the cached files (issue 23).

The Hub endpoint is pointed at a name that cannot resolve (`.invalid`), with offline mode off. Before, each load
retried five times (about a minute here) before transformers' generic connection error, even for a cached repo.
"""

from __future__ import annotations

import time

import pytest
import torch

from vjepa2_hf import hub_access


@pytest.fixture
def unreachable_hub(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.vjepa2-hf-test.invalid")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_access, "_REACHABLE", {})
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return tmp_path / "hub_cache"


def _cache_repo(cache, repo_id: str, folder) -> None:
    """Lay `folder`'s files out as the Hub cache does for `repo_id` (refs/main -> snapshots/<commit>/...)."""
    commit = "0" * 40
    root = cache / f"models--{repo_id.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for path in folder.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())


def test_uncached_repo_fails_at_once_with_one_line(unreachable_hub):
    from vjepa2_hf import VJEPA2Model
    from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor

    start = time.perf_counter()
    with pytest.raises(OSError) as error:
        VJEPA2Model.from_pretrained("facebook/vjepa2-vitl-fpc64-256", cache_dir=str(unreachable_hub))
    message = str(error.value)
    assert "\n" not in message and "'facebook/vjepa2-vitl-fpc64-256'" in message and "cannot be reached" in message
    assert "HF_HUB_OFFLINE=1" in message and "not in the local cache" in message
    with pytest.raises(OSError, match="processor 'facebook/vjepa2-vitl-fpc64-256': the Hugging Face Hub"):
        VJEPA2VideoProcessor.from_pretrained("facebook/vjepa2-vitl-fpc64-256", cache_dir=str(unreachable_hub))
    print(f"two failed loads took {time.perf_counter() - start:.2f} s")


def test_cached_repo_loads_without_the_network(unreachable_hub, tmp_path, monkeypatch):
    import huggingface_hub.file_download

    from vjepa2_hf import VJEPA2Model

    def metadata_request(*args, **kwargs):  # the request that retries when the Hub cannot be reached
        raise AssertionError("a cached repo was requested from the unreachable Hub")

    monkeypatch.setattr(huggingface_hub.file_download, "get_hf_file_metadata", metadata_request)
    from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor

    from .conftest import randomize_parameters, tiny_config

    model = randomize_parameters(VJEPA2Model(tiny_config()))
    model.save_pretrained(tmp_path / "saved")
    VJEPA2VideoProcessor(crop_size=64, num_frames=8).save_pretrained(tmp_path / "saved")
    _cache_repo(unreachable_hub, "someone/tiny-vjepa2", tmp_path / "saved")
    loaded = VJEPA2Model.from_pretrained("someone/tiny-vjepa2", cache_dir=str(unreachable_hub))
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    processor = VJEPA2VideoProcessor.from_pretrained("someone/tiny-vjepa2", cache_dir=str(unreachable_hub))
    assert processor.num_frames == 8


def test_local_folders_and_offline_mode_skip_the_check(monkeypatch, tmp_path):
    from huggingface_hub import constants

    def no_network(*args, **kwargs):
        raise AssertionError("the Hub was contacted")

    monkeypatch.setattr(hub_access, "hub_reachable", no_network)
    assert hub_access.prepare_hub_load(str(tmp_path)) is False  # an existing folder
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub_access.prepare_hub_load("facebook/vjepa2-vitl-fpc64-256") is False  # huggingface_hub handles it
