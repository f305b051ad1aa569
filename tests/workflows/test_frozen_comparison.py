"""Pretrained-vs-random comparison on natural clips (issue 13): rows, means and SEs over encoders."""

from __future__ import annotations

import pytest
import torch

from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
from vjepa2_hf.video.natural_synthetic import natural_content_available
from vjepa2_hf.workflows.frozen_comparison import random_encoder, compare_frozen_encoders, format_table

pytestmark = pytest.mark.skipif(not natural_content_available(), reason="needs pip install 'vjepa2-hf[natural]'")


def test_comparison_rows_and_identical_encoders_give_zero_gain():
    config = VJEPA2Config.from_preset("tiny", frames_per_clip=4, crop_size=32)
    # the "pretrained" encoders are the random encoders themselves: every gain must be exactly 0
    encoders = [random_encoder(config, s) for s in (100, 101)]
    rows = compare_frozen_encoders(encoders, config, tasks=("camera",), random_seeds=(100, 101), num_train=48,
                                   num_eval=24, size=32, num_frames=4, protocols=("knn", "linear_mean"), k=5)
    assert [(r.task, r.protocol) for r in rows] == [("camera", "knn"), ("camera", "linear_mean")]
    for r in rows:
        assert r.gain == pytest.approx(0.0) and r.pretrained_se == pytest.approx(r.random_se)
        assert r.chance == pytest.approx(1 / 12)
        assert 0.0 <= r.pretrained <= 1.0
    assert "| camera | knn |" in format_table(rows)


def test_random_encoders_differ_by_seed_and_repeat():
    config = VJEPA2Config.from_preset("tiny", frames_per_clip=4, crop_size=32)
    a, b, a2 = random_encoder(config, 0), random_encoder(config, 1), random_encoder(config, 0)
    pa, pb, pa2 = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, a2))
    assert torch.equal(pa, pa2) and not torch.equal(pa, pb)


def test_natural_recipe_beats_random_encoders(tmp_path):
    """The measured recipe, shortened to 2000 steps (seeded): the pretrained EMA encoder's kNN and mean-pooled linear
    accuracy on held-out-photograph clips (camera motion, 12 classes, 192 + 192 clips) beat the best of three random
    encoders. Measured (AMD EPYC): kNN 0.250 against 0.078 / 0.099 / 0.094, linear 0.203 against 0.109 / 0.115 /
    0.115. Margins required: 8 points on kNN, 5 on linear (the curve is still rising at 2000 steps; 1.7-2.5 SE of
    192 clips)."""
    from vjepa2_hf.workflows.frozen_comparison import pretrain_natural

    torch.set_num_threads(1)
    result, tracker = pretrain_natural(tmp_path / "run", seed=0, steps=2000, track_every=2000, progress=False)
    assert result.step == 2000 and [h["step"] for h in tracker.history] == [1, 2000]
    final = tracker.history[-1]
    randoms = [tracker.evaluate(random_encoder(tracker.last_model.config, s)) for s in (100, 101, 102)]
    for protocol, margin in (("knn", 0.08), ("linear_mean", 0.05)):
        best_random = max(r[protocol] for r in randoms)
        assert final[protocol] >= best_random + margin, (protocol, final, randoms)
