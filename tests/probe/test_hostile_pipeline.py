"""Hostile inputs to `pipeline("video-classification")` with a V-JEPA 2 classifier (issue 21): frame steps below 1,
a decompression-bomb image in a batch. Each test failed on the code before its fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import pipeline

from vjepa2_hf.probe import VJEPA2ForVideoClassification
from vjepa2_hf.video import VJEPA2VideoProcessor

from ..video.hostile_files import write_png_bomb
from .conftest import randomize_parameters, tiny_config


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    torch.manual_seed(0)
    config = tiny_config(num_labels=3, id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
    path = tmp_path_factory.mktemp("classifier")
    randomize_parameters(VJEPA2ForVideoClassification(config), seed=3).save_pretrained(path)
    VJEPA2VideoProcessor(crop_size=64, do_resize=False).save_pretrained(path)
    return pipeline("video-classification", model=str(path))


def _video(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(16, 64, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("rate", [0, -3, 1.5, True])
def test_frame_sampling_rate_below_one_is_refused(classifier, rate):
    with pytest.raises(ValueError, match=r"`frame_sampling_rate` must be an integer >= 1, got "):
        classifier(_video(), frame_sampling_rate=rate)


def test_a_valid_frame_sampling_rate_reads_those_frames(classifier):
    """The check refuses nothing valid: rate 2 gives the result of the frames 0, 2, 4, ... passed directly."""
    video = _video(1)
    strided = classifier(video, frame_sampling_rate=2, num_frames=8, top_k=3)
    direct = classifier(video[0:16:2], num_frames=8, top_k=3)
    assert [r["label"] for r in strided] == [r["label"] for r in direct]
    np.testing.assert_allclose([r["score"] for r in strided], [r["score"] for r in direct], atol=1e-6)


def test_a_decompression_bomb_in_a_batch_is_reported_not_raised(classifier, tmp_path):
    bomb = write_png_bomb(tmp_path / "bomb.png")
    good, bad = classifier([_video(2), str(bomb)], top_k=2)
    assert [set(r) for r in good] == [{"label", "score"}] * 2 and good[0]["score"] > 0
    assert bad == [{"label": None, "score": None, "error": bad[0]["error"]}]
    assert "decompression bomb" in bad[0]["error"] and "bomb.png" in bad[0]["error"]
    with pytest.raises(ValueError, match="decompression bomb"):  # one input: raised, as a one-line ValueError
        classifier(str(bomb))
