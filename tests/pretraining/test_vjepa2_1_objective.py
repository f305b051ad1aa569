"""The V-JEPA 2.1 training step against the official `train_step` (same weights, clip, masks, lambda), fp32:
loss and gradients <= 1e-5, from references stored by `scripts/make_vjepa2_1_reference.py`."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from vjepa2_hf import VJEPA2Config
from vjepa2_hf.encoder.convert_vjepa2_checkpoint import (
    convert_official_checkpoint,
    official_encoder_to_internal,
    official_predictor_to_internal,
)
from vjepa2_hf.pretraining import VJEPA2ForPretraining
from vjepa2_hf.pretraining.mask_distances import context_distances
from vjepa2_hf.pretraining.objective_vjepa2_1 import VJEPA21Objective, mixed_modality_forward

from tests.encoder import vjepa2_1_reference as ref
from tests.encoder.test_vjepa2_1_parity import tiny_v21_config

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def reference():
    with safe_open(str(ref.TRAIN_DATA), "pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = handle.metadata()
    return tensors, json.loads(metadata["shapes"]), json.loads(metadata["train_step"])


def pretraining_model(shapes) -> VJEPA2ForPretraining:
    """Encoder, EMA target and predictor from an official-layout checkpoint, through the converter."""
    config = tiny_v21_config("levels4", ref.TRAIN_ENCODER, ref.TRAIN_PREDICTOR)
    checkpoint = {
        "encoder": ref.seeded_state_dict(shapes["encoder"], 11),
        "target_encoder": ref.seeded_state_dict(shapes["encoder"], 12),
        "predictor": ref.seeded_state_dict(shapes["predictor"], 13),
    }
    model = convert_official_checkpoint(checkpoint, config=config, encoder_key="encoder")
    target = convert_official_checkpoint(checkpoint, config=config, encoder_key="target_encoder")
    pretraining = VJEPA2ForPretraining.from_vjepa2_model(model, target_encoder_state=target.encoder.state_dict())
    return pretraining.train()


def batches(tensors, step):
    out = []
    for frames, modality in ((4, "video"), (1, "image")):
        video = ref.video(frames, step["crop"], seed=5)
        assert torch.allclose(video.sum(), tensors[f"train/{modality}/input_sum"][0], atol=1e-3)
        out.append(dict(
            pixel_values_videos=video.permute(0, 2, 1, 3, 4),
            context_mask=[tensors[f"train/{modality}/context_{j}"] for j in range(2)],
            target_mask=[tensors[f"train/{modality}/target_{j}"] for j in range(2)],
        ))
    return out


def official_grads(tensors) -> dict[str, torch.Tensor]:
    encoder = {k[len("grad/encoder/"):]: v for k, v in tensors.items() if k.startswith("grad/encoder/")}
    predictor = {k[len("grad/predictor/"):]: v for k, v in tensors.items() if k.startswith("grad/predictor/")}
    grads = official_encoder_to_internal(encoder, prefix="encoder")
    tokens = {k: predictor.pop(k) for k in list(predictor) if k.startswith("mask_tokens.")}
    grads.update(official_predictor_to_internal(predictor, prefix="predictor"))
    for key, value in tokens.items():
        grads[f"predictor.embeddings.mask_tokens[{key.split('.')[1]}]"] = value
    return grads


def test_training_step_matches_official(reference):
    tensors, shapes, step = reference
    model = pretraining_model(shapes)
    objective = VJEPA21Objective(lambda_value_video=step["lambda_value"], lambda_value_image=step["lambda_value"])
    loss, outputs = mixed_modality_forward(
        model, batches(tensors, step), global_step=step["global_step"], objective=objective, mask_index=0
    )
    assert [o.modality for o in outputs] == ["video", "image"]
    assert outputs[0].context_lambda == pytest.approx(0.25)  # halfway through the 15k -> 30k warm-up
    for output, modality in zip(outputs, ("video", "image")):
        assert abs(output.loss.item() - tensors[f"train/{modality}/loss"].item()) <= TOLERANCE
        assert output.context_loss > 0
    loss.backward()
    ours = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    tokens = ours.pop("predictor.embeddings.mask_tokens")
    ours.update({f"predictor.embeddings.mask_tokens[{i}]": t for i, t in enumerate(tokens) if t.abs().sum() > 0})
    expected = official_grads(tensors)
    assert sorted(ours) == sorted(expected)
    worst = max((ours[k] - expected[k].reshape(ours[k].shape)).abs().max().item() for k in expected)
    assert worst <= TOLERANCE, worst
    scale = max(v.abs().max().item() for v in expected.values())
    assert scale > 1e-3  # gradients are not trivially zero


def test_v21_forward_through_the_model_and_lambda_schedule(reference):
    tensors, shapes, step = reference
    model = pretraining_model(shapes)
    video = batches(tensors, step)[0]
    out = model(video["pixel_values_videos"], video["context_mask"], video["target_mask"], global_step=0)
    assert out.context_lambda == 0.0 and out.loss.item() == pytest.approx(out.prediction_loss.item())
    objective = VJEPA21Objective(lambda_warmup_start=0, lambda_warmup_end=10, lambda_value_video=0.5)
    assert [objective.context_lambda(s, "video") for s in (0, 5, 10, 99)] == [0.0, 0.25, 0.5, 0.5]
    with pytest.raises(ValueError, match="pass `global_step`"):
        model(video["pixel_values_videos"], video["context_mask"], video["target_mask"])
    model.config.vjepa2_1_objective = {"lambda_progressive": False, "lambda_value_video": 1.0}
    out = model(video["pixel_values_videos"], video["context_mask"], video["target_mask"])
    assert out.loss.item() == pytest.approx(out.prediction_loss.item() + out.context_loss.item(), rel=1e-6)
    model.config.vjepa2_1_objective = {"lambda": 1.0}
    with pytest.raises(ValueError, match="unknown key"):
        model(video["pixel_values_videos"], video["context_mask"], video["target_mask"])


def test_context_distances():
    grid = (1, 4, 4)
    context = torch.tensor([[0, 3, 15]])
    target = torch.tensor([[5]])  # (0, 1, 1)
    d = context_distances(context, target, grid)
    expected = torch.tensor([[2**0.5, (1 + 4) ** 0.5, (4 + 4) ** 0.5]]).sqrt()
    assert torch.allclose(d, expected)
    with pytest.raises(ValueError, match="at least 16 rows"):
        context_distances(context, target, grid, offset_context_loss=True)
    big = (1, 32, 32)
    assert torch.allclose(context_distances(context, target, big, True) ** 2 * 2,
                          context_distances(context, target, big) ** 2)


def test_distilled_config_is_refused():
    config = tiny_v21_config("distilled")
    model = VJEPA2ForPretraining(config)
    x = torch.randn(2, 4, 3, 64, 64)
    ids = torch.arange(32).unsqueeze(0).repeat(2, 1)
    with pytest.raises(ValueError, match="needs its teacher"):
        model(x, [ids[:, :20]], [ids[:, 20:]], global_step=0)


def test_v20_default_unchanged():
    model = VJEPA2ForPretraining(VJEPA2Config.from_preset("tiny"))
    x = torch.randn(2, 8, 3, 64, 64)
    ids = torch.arange(256).unsqueeze(0).repeat(2, 1)
    out = model(x, [ids[:, :200]], [ids[:, 200:]], global_step=5)
    assert type(out).__name__ == "VJEPA2PretrainingOutput"


def test_tiny_v21_recipe_runs_through_the_trainer(tmp_path):
    """The shipped recipe trains with the 2.1 objective: the loss carries the context term once lambda is on."""
    import numpy as np

    from vjepa2_hf import VJEPA2Model
    from vjepa2_hf.pretraining import pretrain

    overrides = [
        "optimization.total_steps=3", "optimization.global_batch_size=4", "optimization.warmup_steps=1",
        "optimization.cooldown_steps=1", "run.report_to=[]", "run.checkpoint_every=100",
        f"run.output_dir={tmp_path}",
        "model.config_overrides={hidden_size: 64, num_hidden_layers: 4, num_attention_heads: 2, "
        "hierarchical_layers: [0, 1, 2, 3], num_distillation_outputs: 4, patch_size: 8, crop_size: 64, "
        "frames_per_clip: 8, rope_pretrained_grid_size: 8, pred_hidden_size: 64, pred_num_hidden_layers: 2, "
        "pred_num_attention_heads: 2, pred_num_mask_tokens: 2, "
        "vjepa2_1_objective: {lambda_progressive: false, lambda_value_video: 1.0}}",
    ]
    result = pretrain("tiny_vjepa2_1", overrides=overrides)
    assert result.step == 3
    history = result.history
    assert all(np.isfinite(h["loss"]) for h in history)
    # loss = mean masked-token loss + 1.0 x context loss > mean of the mask losses
    assert all(h["loss"] > (h["mask_loss_0"] + h["mask_loss_1"]) / 2 + 0.05 for h in history)
    exported = VJEPA2Model.from_pretrained(result.final_model_dir)
    assert exported.config.is_vjepa2_1 and exported.config.num_distillation_outputs == 4
