"""pipeline("video-classification") with our classifier, decoding mp4 files with the package's PyAV decoder."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import torch
import transformers
from transformers import pipeline

from vjepa2_hf.probe import VJEPA2ForVideoClassification, VJEPA2VideoClassificationPipeline
from vjepa2_hf.video import VJEPA2VideoProcessor, read_video

from .conftest import randomize_parameters, tiny_config

LABELS = ["right", "up-right", "up", "up-left", "left", "down-left", "down", "down-right"]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = tiny_config(num_labels=8, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    model = randomize_parameters(VJEPA2ForVideoClassification(config), seed=11)
    path = tmp_path_factory.mktemp("classifier")
    model.save_pretrained(path)
    VJEPA2VideoProcessor(crop_size=64, do_resize=False).save_pretrained(path)
    return path


def _clip(direction_data) -> str:
    return sorted(glob.glob(os.path.join(direction_data, "test", "*", "*.mp4")))[0]


def test_pipeline_labels_an_mp4_and_an_array(classifier_dir, direction_data):
    classifier = pipeline("video-classification", model=str(classifier_dir))
    assert isinstance(classifier, VJEPA2VideoClassificationPipeline)
    video = _clip(direction_data)
    result = classifier(video, top_k=3)
    assert [set(r) for r in result] == [{"label", "score"}] * 3
    assert all(r["label"] in LABELS for r in result)
    assert result[0]["score"] >= result[1]["score"] >= result[2]["score"] > 0
    # the same frames as an array give the same answer
    frames = read_video(video)
    from_array = classifier(frames, top_k=3)
    assert [r["label"] for r in from_array] == [r["label"] for r in result]
    assert abs(from_array[0]["score"] - result[0]["score"]) < 1e-5
    # and equal the model's own softmax on the processor's output
    model = VJEPA2ForVideoClassification.from_pretrained(classifier_dir).eval()
    processor = VJEPA2VideoProcessor.from_pretrained(classifier_dir)
    with torch.no_grad():
        probs = model(**processor(frames)).logits.softmax(-1)[0]
    assert abs(probs.max().item() - result[0]["score"]) < 1e-5
    assert model.config.id2label[int(probs.argmax())] == result[0]["label"]


def test_pipeline_multiview_and_batches(classifier_dir, direction_data):
    classifier = pipeline("video-classification", model=str(classifier_dir))
    videos = sorted(glob.glob(os.path.join(direction_data, "test", "*", "*.mp4")))[:2]
    batch = classifier(videos, top_k=1)
    assert len(batch) == 2 and all(len(r) == 1 for r in batch)
    multiview = classifier(videos[0], num_frames=4, num_segments=2, num_views=3, top_k=8)
    assert abs(sum(r["score"] for r in multiview) - 1.0) < 1e-4  # mean of per-view softmax sums to 1
    with pytest.raises(ValueError, match="frames, height, width, channels"):
        classifier(np.zeros((8, 64, 64), dtype=np.uint8))


def test_pipeline_runs_transformers_format_classifiers(tmp_path, direction_data):
    """A classifier saved by transformers (model type `vjepa2`, no `num_frames`) runs with our decoder/processor when
    asked for (the task itself gives transformers' models transformers' own pipeline: test_pipeline_registration)."""
    config = transformers.VJEPA2Config(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, patch_size=8, crop_size=64, frames_per_clip=8,
        pred_hidden_size=32, pred_num_hidden_layers=1, pred_num_attention_heads=4, pred_num_mask_tokens=2, num_labels=8,
    )
    transformers.VJEPA2ForVideoClassification(config).save_pretrained(tmp_path / "hf")
    classifier = pipeline(
        "video-classification", model=str(tmp_path / "hf"), pipeline_class=VJEPA2VideoClassificationPipeline
    )
    assert type(classifier.model) is transformers.VJEPA2ForVideoClassification
    result = classifier(_clip(direction_data), top_k=2)
    assert len(result) == 2 and result[0]["label"].startswith("LABEL_")


def test_pipeline_list_with_bad_files_keeps_the_good_results(classifier_dir, direction_data, tmp_path):
    classifier = pipeline("video-classification", model=str(classifier_dir))
    good = sorted(glob.glob(os.path.join(direction_data, "test", "*", "*.mp4")))[:2]
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video")
    inputs = [good[0], str(tmp_path / "empty.mp4"), good[1], str(tmp_path / "text.mp4"), str(tmp_path / "gone.mp4")]
    results = classifier(inputs, top_k=2)
    assert len(results) == 5
    for i in (0, 2):
        assert results[i] == classifier(inputs[i], top_k=2)  # the good items are untouched
    for i, reason in ((1, "empty file"), (3, "cannot open as a video"), (4, "not found")):
        assert len(results[i]) == 1 and results[i][0]["label"] is None and reason in results[i][0]["error"], results[i]
    with pytest.raises(ValueError, match="empty file"):  # one input: raises, as before
        classifier(str(tmp_path / "empty.mp4"))
    with pytest.raises(ValueError, match="empty file"):  # a list with on_error="raise"
        classifier(inputs, on_error="raise")
