"""Downstream models take a V-JEPA 2.1 encoder unchanged: the probe classifier (built from a saved 2.1 model,
trained a step, saved and reloaded) and the video-classification pipeline."""

from __future__ import annotations

import numpy as np
import torch
from transformers import pipeline

from vjepa2_hf import VJEPA2Config, VJEPA2Model
from vjepa2_hf.probe import VJEPA2ForVideoClassification
from vjepa2_hf.video import VJEPA2VideoProcessor

from .conftest import randomize_parameters


def saved_v21_model(path) -> VJEPA2Model:
    torch.manual_seed(0)
    model = randomize_parameters(VJEPA2Model(VJEPA2Config.from_preset("vjepa2_1_tiny")), seed=3).eval()
    model.save_pretrained(path)
    return model


def test_probe_on_a_v21_encoder_trains_saves_and_reloads(tmp_path):
    base = saved_v21_model(tmp_path / "base")
    probe = VJEPA2ForVideoClassification.from_pretrained(tmp_path / "base", num_labels=3).eval()
    video = torch.randn(2, 8, 3, 64, 64)
    with torch.no_grad():
        expected = base(video, skip_predictor=True).last_hidden_state
        features = probe.get_video_features(video)
    features = features.last_hidden_state  # the probe input tokens
    assert torch.allclose(features, expected, atol=1e-6)  # the 2.1 encoder (norms_block[-1] output) is loaded
    probe.train()
    out = probe(pixel_values_videos=video, labels=torch.tensor([0, 2]))
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in probe.parameters())
    probe.eval().save_pretrained(tmp_path / "probe")
    reloaded = VJEPA2ForVideoClassification.from_pretrained(tmp_path / "probe").eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(pixel_values_videos=video).logits, probe(pixel_values_videos=video).logits,
                              atol=1e-6)
        image_logits = reloaded(pixel_values_videos=video[:, :1]).logits  # one frame: the image tokenizer
    assert image_logits.shape == (2, 3) and torch.isfinite(image_logits).all()


def test_pipeline_runs_a_v21_classifier(tmp_path):
    saved_v21_model(tmp_path / "base")
    labels = ["a", "b", "c"]
    probe = VJEPA2ForVideoClassification.from_pretrained(
        tmp_path / "base", num_labels=3, id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)}
    )
    probe.save_pretrained(tmp_path / "clf")
    VJEPA2VideoProcessor(crop_size=64, do_resize=False).save_pretrained(tmp_path / "clf")
    classifier = pipeline("video-classification", model=str(tmp_path / "clf"))
    frames = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    result = classifier(frames, top_k=3)
    assert sorted(r["label"] for r in result) == labels
    assert abs(sum(r["score"] for r in result) - 1) < 1e-5


def test_trainer_probing_on_a_v21_encoder(direction_data, tmp_path):
    """`run_probe` (the Trainer route) takes a saved 2.1 model folder as its backbone."""
    from vjepa2_hf.probe.run_video_classification import (
        DataArguments,
        ModelArguments,
        default_training_arguments,
        run_probe,
    )

    saved_v21_model(tmp_path / "base")
    model_args = ModelArguments(model=str(tmp_path / "base"), cache_features=True, num_pooler_layers=0,
                                probe_num_attention_heads=4)
    data_args = DataArguments(data=str(direction_data), frame_step=1, do_resize=False)
    training = default_training_arguments(str(tmp_path / "out"), num_train_epochs=1, learning_rate=5e-3, use_cpu=True)
    run_probe(model_args, data_args, training, progress=False)
    probe = VJEPA2ForVideoClassification.from_pretrained(tmp_path / "out").eval()
    assert probe.config.is_vjepa2_1 and probe.config.num_labels == 8
    base = VJEPA2Model.from_pretrained(tmp_path / "base").eval()
    for name, value in base.encoder.state_dict().items():  # frozen backbone: the 2.1 encoder is kept as loaded
        assert torch.equal(probe.vjepa2.encoder.state_dict()[name], value), name
