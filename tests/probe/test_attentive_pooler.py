"""The attentive pooler module and the feature-level probe trainer."""

from __future__ import annotations

import pytest
import torch

from vjepa2_hf.probe import AttentiveClassifier, VJEPA2AttentivePooler, train_attentive_probe
from vjepa2_hf.probe.convert_probe_checkpoint import official_probe_to_internal

from .official_reference import AttentivePooler as OfficialPooler
from .official_reference import randomize


def test_pooler_matches_official_structure():
    """Same weights in the official layout (fused qkv / kv) and ours: same pooled queries."""
    official = randomize(OfficialPooler(num_queries=3, dim=32, num_heads=4, depth=3), seed=1)
    ours = VJEPA2AttentivePooler(32, num_attention_heads=4, num_self_attention_layers=2, num_queries=3,
                                 layer_norm_eps=1e-5).eval()
    state = official_probe_to_internal({f"pooler.{k}": v for k, v in official.state_dict().items()})
    ours.load_state_dict({k[len("pooler."):]: v for k, v in state.items()}, strict=True)
    x = torch.randn(2, 40, 32)
    with torch.no_grad():
        diff = (ours(x) - official(x)).abs().max().item()
    assert ours(x).shape == (2, 3, 32)
    assert diff < 1e-5, diff


def test_padding_mask_ignores_padded_tokens():
    torch.manual_seed(0)
    pooler = randomize(VJEPA2AttentivePooler(32, 4, 2, layer_norm_eps=1e-5), seed=2)
    x = torch.randn(1, 10, 32)
    padded = torch.cat([x, torch.randn(1, 6, 32) * 5], dim=1)
    mask = torch.tensor([[True] * 10 + [False] * 6])
    with torch.no_grad():
        diff = (pooler(x) - pooler(padded, attention_mask=mask)).abs().max().item()
        unmasked = (pooler(x) - pooler(padded)).abs().max().item()
    assert diff < 1e-5 and unmasked > 1e-3, (diff, unmasked)


def test_pooler_rejects_bad_inputs():
    pooler = VJEPA2AttentivePooler(32, 4, 1)
    with pytest.raises(ValueError, match=r"\[batch, num_tokens, 32\]"):
        pooler(torch.randn(2, 10, 16))
    with pytest.raises(ValueError, match="attention_mask"):
        pooler(torch.randn(2, 10, 32), attention_mask=torch.ones(2, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match="num_attention_heads"):
        VJEPA2AttentivePooler(32, 5)


def test_official_init_rescales_residual_projections():
    torch.manual_seed(0)
    pooler = VJEPA2AttentivePooler(256, 4, 3, initializer_range=0.02)
    pooler.reset_parameters()
    stds = [layer.mlp.fc2.weight.std().item() for layer in pooler.self_attention_layers]
    # block l (1-based): 0.02 / sqrt(2 l)
    for index, std in enumerate(stds, start=1):
        assert abs(std - 0.02 / (2 * index) ** 0.5) < 0.002, stds
    assert abs(pooler.cross_attention_layer.mlp.fc2.weight.std().item() - 0.02 / 6**0.5) < 0.002


def test_train_attentive_probe_learns_separable_features():
    """Class information in every token (a class-dependent channel): held-out accuracy near 1, the loss falls."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (160,), generator=generator)
    features = torch.randn(160, 24, 16, generator=generator)
    signal = torch.nn.functional.one_hot(labels, 16).float() * 2.0
    features += signal[:, None, :]
    result = train_attentive_probe(
        features[:120], labels[:120], features[120:], labels[120:], epochs=10, learning_rate=1e-2, progress=False
    )
    assert isinstance(result.probe, AttentiveClassifier)
    assert result.train_loss[-1] < 0.5 * result.train_loss[0], result.train_loss
    assert result.final_eval_accuracy >= 0.9, result.eval_accuracy
    assert result.chance == 0.25


def test_train_attentive_probe_validates_inputs():
    x = torch.randn(8, 4, 16)
    with pytest.raises(ValueError, match="num_clips, num_tokens, hidden_size"):
        train_attentive_probe(torch.randn(8, 16), torch.zeros(8, dtype=torch.long), progress=False)
    with pytest.raises(ValueError, match=r"shape \[8\]"):
        train_attentive_probe(x, torch.zeros(7, dtype=torch.long), progress=False)
    with pytest.raises(ValueError, match="integer class ids"):
        train_attentive_probe(x, torch.zeros(8), progress=False)
    with pytest.raises(ValueError, match="both"):
        train_attentive_probe(x, torch.zeros(8, dtype=torch.long), eval_features=x, progress=False)
