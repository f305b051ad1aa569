"""The VLM bridge takes a V-JEPA 2.1 vision tower unchanged."""

from __future__ import annotations

import torch

from vjepa2_hf import VJEPA2Config

from .conftest import make_tiny, mc_conversation

V21 = {k: v for k, v in VJEPA2Config.from_preset("vjepa2_1_tiny").to_dict().items()
       if k in ("use_rope_interleave", "interpolate_rope", "rope_pretrained_grid_size", "use_modality_embeddings",
                "use_image_patch_embedder", "hierarchical_layers", "num_distillation_outputs", "return_all_tokens")}


def test_vlm_with_a_v21_vision_tower(tokenizer, video, tmp_path):
    model, proc = make_tiny(tokenizer, vision_overrides={"crop_size": 32, **V21})
    assert model.config.vision_config.is_vjepa2_1
    assert hasattr(model.vision_tower.encoder, "norms_block")
    batch = proc.apply_chat_template([mc_conversation(video)] * 2, tokenize=True, return_labels=True,
                                     padding_side="right")
    out = model(**batch)
    assert torch.isfinite(out.loss) and out.loss.item() > 0
    model.save_pretrained(tmp_path / "vlm")
    reloaded = type(model).from_pretrained(tmp_path / "vlm").eval()
    assert reloaded.config.vision_config.is_vjepa2_1
    with torch.no_grad():
        assert torch.allclose(reloaded(**batch).loss, out.loss, atol=1e-5)
