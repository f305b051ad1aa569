"""Action anticipation: the official target positions, the focal loss, and training on synthetic clips whose next
action is known (the object turns by a rule that depends on its shape)."""

from __future__ import annotations

import pytest
import torch

from vjepa2_hf.probe import VJEPA2ForActionAnticipation, sigmoid_focal_loss
from vjepa2_hf.probe.anticipation_training import anticipation_data_from_synthetic, train_anticipation_probe
from vjepa2_hf.probe.modeling_anticipation import anticipation_steps_from_seconds, anticipation_target_indices
from vjepa2_hf.probe.run_video_classification import default_training_arguments
from vjepa2_hf.video import VJEPA2VideoProcessor
from vjepa2_hf.video.synthetic import generate_motion_dataset

from .conftest import randomize_parameters, tiny_config


def test_target_positions_follow_the_official_formula():
    # official: context 0..N-1, target N + g^2 * steps + arange(g^2); 1 s at 8 fps with tubelets of 2 -> 4 steps
    assert anticipation_steps_from_seconds(1.0, 8, 2) == 4
    context, target, grid = anticipation_target_indices((4, 8, 8), torch.tensor([0, 4]))
    assert context.shape == (2, 256) and torch.equal(context[1], torch.arange(256))
    assert torch.equal(target[0], 256 + torch.arange(64))
    assert torch.equal(target[1], 256 + 64 * 4 + torch.arange(64))
    assert grid == (4 + 4 + 1, 8, 8)


def test_forecast_is_the_predictor_at_the_future_slice():
    torch.manual_seed(0)
    config = tiny_config(num_verbs=4, num_nouns=3, num_actions=5)
    model = randomize_parameters(VJEPA2ForActionAnticipation(config)).eval()
    clips = torch.randn(2, 8, 3, 64, 64)
    with torch.no_grad():
        context, predicted = model.forecast(clips, torch.tensor([0, 2]))
        tokens = model.vjepa2.encoder(clips).last_hidden_state
        for row, steps in enumerate((0, 2)):
            target = [256 + 64 * steps + torch.arange(64).unsqueeze(0)]
            manual = model.vjepa2.predictor(
                tokens[row : row + 1], [torch.arange(256).unsqueeze(0)], target, (4 + steps + 1, 8, 8), mask_index=1
            ).last_hidden_state
            assert (predicted[row : row + 1] - manual).abs().max() < 1e-5
    assert torch.equal(context, tokens)
    out = model(clips, anticipation_steps=1)
    assert out.verb_logits.shape == (2, 4) and out.noun_logits.shape == (2, 3) and out.action_logits.shape == (2, 5)
    with pytest.raises(ValueError, match="anticipation_steps"):
        model(clips, anticipation_steps=torch.tensor([1, -1]))


def test_sigmoid_focal_loss_matches_its_definition():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    labels = torch.tensor([0])
    p = torch.sigmoid(logits)[0]
    targets = torch.tensor([1.0, 0.0, 0.0])
    expected = 0.0
    for c in range(3):
        p_t = p[c] if targets[c] else 1 - p[c]
        alpha = 0.25 if targets[c] else 0.75
        expected += -alpha * (1 - p_t) ** 2 * torch.log(p_t)
    assert abs(sigmoid_focal_loss(logits, labels).item() - expected.item()) < 1e-6


def test_anticipation_probe_learns_the_next_action(tmp_path):
    """Frozen (random) encoder and predictor; the probe sees the first half of each clip only. The noun (shape) and
    the action (next direction x shape) are predicted well above chance on held-out clips."""
    path = generate_motion_dataset(tmp_path / "anticipation", 288, num_frames=16, size=64, seed=1, task="anticipation")
    data = anticipation_data_from_synthetic(path)
    assert data.dropped_eval == 0 and len(data.action_pairs) == 24  # 8 directions x 3 shapes
    assert all(r["context_frames"] == 8 for r in data.train)
    config = tiny_config(num_pooler_layers=0, pooler_num_attention_heads=4, **data.config_fields())
    torch.manual_seed(0)
    model = VJEPA2ForActionAnticipation(config)
    args = default_training_arguments(
        str(tmp_path / "out"), num_train_epochs=60, learning_rate=1e-2, eval_strategy="no", use_cpu=True
    )
    metrics, history = train_anticipation_probe(
        model, data, VJEPA2VideoProcessor(crop_size=64, do_resize=False), args, progress=False
    )
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[-1] < 0.6 * losses[0], losses
    assert metrics["eval_noun_accuracy"] >= 0.5, metrics  # chance 1/3
    assert metrics["eval_action_class_mean_recall@5"] >= 0.3, metrics  # chance 5/24
    model.save_pretrained(tmp_path / "saved")
    reloaded = VJEPA2ForActionAnticipation.from_pretrained(tmp_path / "saved")
    assert reloaded.config.num_actions == 24 and all(not p.requires_grad for p in reloaded.vjepa2.parameters())
