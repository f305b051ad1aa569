"""A probe model holds a `VJEPA2Model` with the same config: `attn_implementation` given to `from_pretrained` (of a
probe folder or of a bare backbone) or to `set_attn_implementation` reaches the encoder, and eager equals sdpa."""

from __future__ import annotations

import torch

from vjepa2_hf.probe import VJEPA2ForVideoClassification

from .conftest import randomize_parameters, tiny_config


def test_probe_attention_reaches_the_encoder(tmp_path, backbone_dir):
    torch.manual_seed(0)
    model = randomize_parameters(VJEPA2ForVideoClassification(tiny_config(num_labels=3))).eval()
    assert model.vjepa2.config._attn_implementation == "sdpa"
    model.save_pretrained(tmp_path / "probe")
    pixels = torch.randn(2, 4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = model(pixels).logits

    eager = VJEPA2ForVideoClassification.from_pretrained(tmp_path / "probe", attn_implementation="eager").eval()
    assert eager.config._attn_implementation == eager.vjepa2.config._attn_implementation == "eager"
    assert eager.vjepa2.encoder.layer[0].attention.config._attn_implementation == "eager"
    with torch.no_grad():
        assert (eager(pixels).logits - reference).abs().max().item() <= 1e-5

    model.set_attn_implementation("eager")  # switched in place (the encoder reads the config at every call)
    assert model.vjepa2.encoder.layer[0].attention.config._attn_implementation == "eager"
    from_backbone = VJEPA2ForVideoClassification.from_pretrained(
        backbone_dir, num_labels=3, attn_implementation="eager"
    )
    assert from_backbone.vjepa2.config._attn_implementation == "eager"
