"""VJEPA2VLMConfig: token arithmetic, validation, serialisation, and the 8B presets on the meta device."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig

from vjepa2_hf.vlm import VJEPA2VLMConfig, count_parameters, memory_requirements, vlm_config_from_preset
from vjepa2_hf.vlm.presets import VLM_PRESETS

from .conftest import make_tiny


def test_config_round_trip_and_auto(tmp_path, tokenizer):
    model, _ = make_tiny(tokenizer, projector_type="avgpool_mlp", num_frames=6)
    model.config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, VJEPA2VLMConfig)
    assert loaded.text_config.model_type == "llama" and loaded.vision_config.crop_size == 32
    strip = lambda d: {k: v for k, v in d.items() if k != "_name_or_path"}  # noqa: E731
    assert strip(loaded.to_dict()) == strip(model.config.to_dict())
    assert loaded.num_video_tokens() == model.config.num_video_tokens() == 3 * 4  # 3 tubelets x (4/2)^2


@pytest.mark.parametrize(
    "projector_type,expected_per_tubelet",
    [("mlp", 16), ("avgpool_mlp", 4), ("merge_mlp", 4), ("attentive_pool", 4)],
)
def test_token_counts(tokenizer, projector_type, expected_per_tubelet):
    model, _ = make_tiny(tokenizer, projector_type=projector_type)  # 32 px, patch 8 -> 4x4 grid
    cfg = model.config
    assert cfg.tokens_per_tubelet() == expected_per_tubelet
    assert cfg.num_video_tokens(8) == 4 * expected_per_tubelet
    with pytest.raises(ValueError, match="multiple of the tubelet size"):
        cfg.num_video_tokens(5)


def test_config_validation(tokenizer):
    with pytest.raises(ValueError, match="projector_type"):
        make_tiny(tokenizer, projector_type="qformer")
    with pytest.raises(ValueError, match="num_frames"):
        make_tiny(tokenizer, num_frames=3)
    with pytest.raises(ValueError, match="merge_mlp"):
        make_tiny(tokenizer, projector_type="merge_mlp", projector_pool_stride=3)
    with pytest.raises(ValueError, match="text_config"):
        VJEPA2VLMConfig(text_config={"hidden_size": 8})


def test_llama_preset_counts_on_meta_device():
    """ViT-g/384 + Llama-3.1-8B-Instruct built from configs: LLM 8.03B, encoder 1.01B, 288 tokens per frame."""
    cfg = vlm_config_from_preset("vitg384-llama3.1-8b")
    counts = count_parameters(cfg)
    assert counts["language_model"] == 8_030_261_248  # Llama-3.1-8B (untied 128,256 x 4096 embeddings and head)
    assert abs(counts["vision_tower"] / 1e9 - 1.01) < 0.005
    assert counts["multi_modal_projector"] == 1408 * 4096 + 4096 + 4096 * 4096 + 4096
    # (384 / 16)^2 = 576 tokens per 2-frame tubelet, no projector pooling -> 288 per frame, 9,216 for 32 frames
    assert cfg.tokens_per_tubelet() == 576 and cfg.tokens_per_frame() == 288
    assert cfg.num_video_tokens(32) == 9216
    assert cfg.video_token_id == 128003 and cfg.text_config.rope_parameters["rope_type"] == "llama3"


def test_qwen_and_vitl_presets_on_meta_device():
    qwen = count_parameters(vlm_config_from_preset("vitg384-qwen2-7b"))
    assert abs(qwen["language_model"] / 1e9 - 7.6156) < 0.001  # Qwen2-7B: 7.62B
    vitl = vlm_config_from_preset("vitl256-llama3.1-8b")
    assert abs(count_parameters(vitl)["vision_tower"] / 1e6 - 303.9) < 0.5
    assert vitl.tokens_per_frame() == 128
    # controlled setup of the paper (Table 21): attentive pooler / 4, 128 frames -> 4,096 (L/256) and 9,216 (g/384)
    assert vlm_config_from_preset("vitl256-qwen2-7b").num_video_tokens() == 4096
    assert vlm_config_from_preset("vitg384-qwen2-7b").num_video_tokens() == 9216
    assert set(VLM_PRESETS) == {"vitg384-llama3.1-8b", "vitl256-llama3.1-8b", "vitg384-qwen2-7b", "vitl256-qwen2-7b"}


def test_meta_device_build_allocates_nothing():
    cfg = vlm_config_from_preset("vitg384-llama3.1-8b")
    from vjepa2_hf.vlm import VJEPA2VLMForConditionalGeneration

    with torch.device("meta"):
        model = VJEPA2VLMForConditionalGeneration(cfg)
    assert all(p.device.type == "meta" for p in model.parameters())


def test_memory_requirements_figures():
    mem = memory_requirements(vlm_config_from_preset("vitg384-llama3.1-8b"))
    # 9.065B parameters in bf16 = 16.9 GiB; KV cache of 9,728 tokens (32 layers x 8 KV heads x 128) = 1.19 GiB
    assert abs(mem["weights_gib"] - 9.0650e9 * 2 / 2**30) < 0.05
    assert abs(mem["kv_cache_gib"] - 2 * 32 * 8 * 128 * 2 * 9728 / 2**30) < 1e-6
    assert mem["train_projector_gib"] < mem["train_projector_lora_gib"] < mem["train_projector_llm_gib"]
