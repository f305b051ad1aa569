"""Streaming tar shards across processes (ranks) and DataLoader workers: every sample exactly once."""

from __future__ import annotations

import collections
import os

import pytest
import torch

from vjepa2_hf.video.sampling import ClipSampler
from vjepa2_hf.video.streaming import VideoShardStream, iter_tar_samples, write_video_shards
from vjepa2_hf.video.video_datasets import dataset_from_synthetic
from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor

SAMPLER = ClipSampler(frames_per_clip=4, frame_step=2)


@pytest.fixture(scope="module")
def shards(synth_direction, tmp_path_factory):
    ds = dataset_from_synthetic(synth_direction, "train")  # 48 clips
    out = tmp_path_factory.mktemp("shards")
    paths = write_video_shards(zip(ds["video"], ds["label"]), out, samples_per_shard=6)
    return paths, dict(zip([f"{i:08d}" for i in range(len(ds))], ds["label"]))


def _collect(stream, num_workers):
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=num_workers)
    return list(loader)


def test_shards_are_webdataset_style(shards):
    paths, labels = shards
    assert len(paths) == 8
    samples = list(iter_tar_samples(paths[0]))
    assert [s["__key__"] for s in samples] == [f"{i:08d}" for i in range(6)]
    assert set(samples[0]) >= {"mp4", "cls", "json"} and int(samples[0]["cls"]) == labels["00000000"]


@pytest.mark.parametrize("split", ["shard", "sample"])
def test_two_ranks_two_workers_exactly_once(shards, split):
    paths, labels = shards
    keys = []
    per_rank = []
    for rank in range(2):
        stream = VideoShardStream(paths, decode=False, rank=rank, world_size=2, split=split, seed=5)
        got = [s["__key__"] for s in _collect(stream, num_workers=2)]
        per_rank.append(len(got))
        keys.extend(got)
    counts = collections.Counter(keys)
    assert set(counts) == set(labels) and max(counts.values()) == 1  # no drops, no duplicates
    assert per_rank == [24, 24]


def test_decoded_stream_with_workers_and_epochs(shards):
    paths, labels = shards
    stream = VideoShardStream(paths, VJEPA2VideoProcessor(crop_size=16), SAMPLER, rank=0, world_size=1, seed=0)
    items = _collect(stream, num_workers=2)
    assert len(items) == 48
    for it in items[:5]:
        assert it["pixel_values_videos"].shape == (4, 3, 16, 16) and it["labels"] == labels[it["__key__"]]
    assert sorted(it["__key__"] for it in items) == sorted(labels)
    raw = VideoShardStream(paths, decode=False, rank=0, world_size=1, seed=0)
    order_e0 = [s["__key__"] for s in raw]
    raw.set_epoch(1)
    order_e1 = [s["__key__"] for s in raw]
    assert sorted(order_e1) == sorted(order_e0) and order_e1 != order_e0  # reshuffled shard order, same samples


def test_rank_from_environment(shards, monkeypatch):
    from accelerate.state import PartialState

    paths, _ = shards
    monkeypatch.setattr(PartialState, "_shared_state", {})  # no Accelerate state (another test may have made one)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    stream = VideoShardStream(paths, decode=False, seed=0)
    assert stream.consumer() == (1, 4)
    assert len(list(stream)) == 12  # 2 of 8 shards


def test_bad_samples_and_broken_shards_are_skipped_and_counted(shards, tmp_path, caplog):
    paths, _ = shards
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(2000))
    good = [s for s in iter_tar_samples(paths[0])][:2]
    for i, s in enumerate(good):
        (tmp_path / f"g{i}.mp4").write_bytes(s["mp4"])
    [bad_shard] = write_video_shards(
        [(str(tmp_path / "g0.mp4"), 1), (str(corrupt), 2), (str(tmp_path / "g1.mp4"), 3)], tmp_path / "bad"
    )
    broken = tmp_path / "broken.tar"
    broken.write_bytes(open(paths[1], "rb").read()[:5000])  # truncated tar
    stream = VideoShardStream([bad_shard, str(broken)], None, SAMPLER, rank=0, world_size=1, shuffle_shards=False)
    items = list(stream)
    assert [it["labels"] for it in items[:2]] == [1, 3]
    assert stream.bad_files.count == 2  # the corrupt video and the truncated shard
    assert all(it["pixel_values_videos"].shape == (4, 3, 32, 32) for it in items)
    assert "bad files so far" in caplog.text
    strict = VideoShardStream([bad_shard], None, SAMPLER, rank=0, world_size=1, on_error="raise")
    with pytest.raises(ValueError, match="00000001"):
        list(strict)


def test_validation(shards, tmp_path):
    paths, _ = shards
    with pytest.raises(FileNotFoundError, match="no tar shards"):
        VideoShardStream(str(tmp_path / "none-*.tar"))
    with pytest.raises(ValueError, match="split"):
        VideoShardStream(paths, split="row")
    with pytest.raises(ValueError, match="rank"):
        VideoShardStream(paths, rank=2, world_size=2)
