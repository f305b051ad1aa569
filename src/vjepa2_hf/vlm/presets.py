"""Named VLM configurations (paper setups) built from configs alone, parameter counts and memory needs.

The presets pair a released V-JEPA 2 encoder with the two LLMs of the paper:

| preset | encoder | LLM | projector | frames | visual tokens |
|---|---|---|---|---|---|
| `vitg384-llama3.1-8b` | ViT-g/384 | Llama-3.1-8B-Instruct | MLP, no pooling | 32 | 9,216 (288 / frame) |
| `vitl256-llama3.1-8b` | ViT-L/256 | Llama-3.1-8B-Instruct | MLP, no pooling | 32 | 4,096 (128 / frame) |
| `vitg384-qwen2-7b` | ViT-g/384 | Qwen2-7B-Instruct | attentive pool / 4 | 128 | 9,216 |
| `vitl256-qwen2-7b` | ViT-L/256 | Qwen2-7B-Instruct | attentive pool / 4 | 128 | 4,096 |

The Llama rows follow the paper's data-scaling run (Table 8: ViT-g/384 + Llama 3.1 8B, MLP projector, 32 frames);
the Qwen2 rows its controlled setup (Tables 6, 7, 21: attentive pooler with ratio 4, 128 frames). Building a preset
needs no weights: instantiate it under `torch.device("meta")` to count parameters, or start from the released parts
with [`assemble_vlm`] / [`VJEPA2VLMForConditionalGeneration.from_vision_text_pretrained`].
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig

from ..encoder.configuration_vjepa2 import HUB_REPOS, VJEPA2Config
from .configuration_vjepa2_vlm import VJEPA2VLMConfig

# Hyper-parameters of the public config.json files (no download needed to build the models).
TEXT_CONFIGS: dict[str, dict[str, Any]] = {
    "llama3.1-8b-instruct": dict(
        model_type="llama",
        vocab_size=128256,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        tie_word_embeddings=False,
        bos_token_id=128000,
        eos_token_id=[128001, 128008, 128009],
        rope_parameters=dict(
            rope_type="llama3",
            rope_theta=500000.0,
            factor=8.0,
            low_freq_factor=1.0,
            high_freq_factor=4.0,
            original_max_position_embeddings=8192,
        ),
    ),
    "qwen2-7b-instruct": dict(
        model_type="qwen2",
        vocab_size=152064,
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
        hidden_act="silu",
        tie_word_embeddings=False,
        use_sliding_window=False,
        sliding_window=131072,
        max_window_layers=28,
        bos_token_id=151643,
        eos_token_id=151645,
        rope_parameters=dict(rope_type="default", rope_theta=1000000.0),
    ),
}
TEXT_HUB_REPOS = {
    "llama3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "qwen2-7b-instruct": "Qwen/Qwen2-7B-Instruct",
}
# Placeholder ids: Llama 3 reserved special tokens (as PerceptionLM: 128002 image, 128003 video); for Qwen2 the first
# two ids after its 151,646 tokenizer entries (the embedding matrix already has 152,064 rows, so no resize).
PLACEHOLDER_IDS = {
    "llama3.1-8b-instruct": dict(video_token_id=128003, image_token_id=128002),
    "qwen2-7b-instruct": dict(video_token_id=151646, image_token_id=151647),
}


@dataclass(frozen=True)
class VLMPreset:
    """A named VLM: encoder preset, LLM, projector settings and frames per video."""

    vision: str
    text: str
    projector_type: str
    num_frames: int
    projector_pool_ratio: int = 4

    @property
    def vision_repo(self) -> str:
        return HUB_REPOS[self.vision]

    @property
    def text_repo(self) -> str:
        return TEXT_HUB_REPOS[self.text]


VLM_PRESETS: dict[str, VLMPreset] = {
    "vitg384-llama3.1-8b": VLMPreset("vit_giant_384", "llama3.1-8b-instruct", "mlp", 32),
    "vitl256-llama3.1-8b": VLMPreset("vit_large", "llama3.1-8b-instruct", "mlp", 32),
    "vitg384-qwen2-7b": VLMPreset("vit_giant_384", "qwen2-7b-instruct", "attentive_pool", 128),
    "vitl256-qwen2-7b": VLMPreset("vit_large", "qwen2-7b-instruct", "attentive_pool", 128),
}


def text_config_from_preset(name: str, **overrides: Any) -> PretrainedConfig:
    """The config of a preset LLM (`llama3.1-8b-instruct` or `qwen2-7b-instruct`), built locally."""
    if name not in TEXT_CONFIGS:
        raise ValueError(f"unknown LLM preset {name!r}; expected one of {sorted(TEXT_CONFIGS)}")
    kwargs = {**TEXT_CONFIGS[name], **overrides}
    return AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)


def vlm_config_from_preset(name: str, **overrides: Any) -> VJEPA2VLMConfig:
    """The [`VJEPA2VLMConfig`] of a named preset (see the module table); `overrides` change VLM fields."""
    if name not in VLM_PRESETS:
        raise ValueError(f"unknown VLM preset {name!r}; expected one of {sorted(VLM_PRESETS)}")
    p = VLM_PRESETS[name]
    kwargs: dict[str, Any] = dict(
        vision_config=VJEPA2Config.from_preset(p.vision),
        text_config=text_config_from_preset(p.text),
        projector_type=p.projector_type,
        projector_pool_ratio=p.projector_pool_ratio,
        num_frames=p.num_frames,
        **PLACEHOLDER_IDS[p.text],
    )
    kwargs.update(overrides)
    return VJEPA2VLMConfig(**kwargs)


def count_parameters(config: VJEPA2VLMConfig) -> dict[str, int]:
    """Parameters of the encoder, projector and LLM of `config`, counted on the meta device (no memory used)."""
    from .modeling_vjepa2_vlm import VJEPA2VLMForConditionalGeneration

    with torch.device("meta"):
        model = VJEPA2VLMForConditionalGeneration(config)
    counts = {
        "vision_tower": sum(p.numel() for p in model.vision_tower.parameters()),
        "multi_modal_projector": sum(p.numel() for p in model.multi_modal_projector.parameters()),
        "language_model": sum(p.numel() for p in model.language_model.parameters()),
    }
    counts["total"] = sum(counts.values())
    return counts


def memory_requirements(
    config: VJEPA2VLMConfig,
    *,
    text_tokens: int = 512,
    bytes_per_param: int = 2,
    lora_rank: int = 16,
) -> dict[str, float]:
    """Estimated memory (GiB) for inference and the training stages of a preset, from exact parameter counts.

    Assumptions (state them when quoting the figures): weights in bf16 (`bytes_per_param=2`); a KV cache in bf16 for
    `config.num_video_tokens() + text_tokens` tokens; AdamW states plus gradients cost 12 bytes per trainable
    parameter (fp32 `m`, `v` and gradient); LoRA on all attention and MLP projections of the LLM at `lora_rank`.
    Activations are not included (small with gradient checkpointing and batch 1; they grow with frames and batch).
    """
    counts = count_parameters(config)
    gib = 1024**3
    tc = config.text_config
    head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads
    kv_heads = getattr(tc, "num_key_value_heads", None) or tc.num_attention_heads
    seq = config.num_video_tokens() + text_tokens
    kv_bytes = 2 * tc.num_hidden_layers * kv_heads * head_dim * bytes_per_param * seq
    weights = counts["total"] * bytes_per_param
    # LoRA params: r * (in + out) for q, k, v, o, gate, up, down of every layer.
    h, i, kv = tc.hidden_size, tc.intermediate_size, kv_heads * head_dim
    q_out = tc.num_attention_heads * head_dim
    per_layer = (h + q_out) + 2 * (h + kv) + (q_out + h) + 2 * (h + i) + (i + h)
    lora_params = lora_rank * per_layer * tc.num_hidden_layers
    opt = 12
    return {
        "weights_gib": weights / gib,
        "kv_cache_gib": kv_bytes / gib,
        "sequence_tokens": float(seq),
        "inference_gib": (weights + kv_bytes) / gib,
        "train_projector_gib": (weights + opt * counts["multi_modal_projector"]) / gib,
        "train_projector_lora_gib": (weights + opt * (counts["multi_modal_projector"] + lora_params)) / gib,
        "train_projector_llm_gib": (weights + opt * (counts["multi_modal_projector"] + counts["language_model"])) / gib,
        "train_end_to_end_gib": (weights + opt * counts["total"]) / gib,
    }


def assemble_vlm(
    vision_model_name_or_path: str | os.PathLike | None = None,
    text_model_name_or_path: str | os.PathLike | None = None,
    *,
    preset: str | None = None,
    dtype: torch.dtype | str = torch.bfloat16,
    num_frames: int | None = None,
    attn_implementation: str | dict[str, str] | None = None,
    tokenizer_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
):
    """Load a released encoder and a released LLM and join them with a new projector.

    Either name both parts or give a `preset` (its encoder and LLM repos and projector settings are used; explicit
    names override them). Both parts load directly in `dtype` (bf16 by default, no fp32 copy) with
    `attn_implementation` (sdpa by default; a dict per part, e.g. `{"text_config": "eager"}`). Returns
    `(model, processor)`; the projector is untrained, so the next step is `vjepa2-hf train-vlm`.

    Example:

    ```python
    >>> model, processor = assemble_vlm(preset="vitg384-llama3.1-8b")  # needs the two repos (Hub or local)
    ```
    """
    from .modeling_vjepa2_vlm import VJEPA2VLMForConditionalGeneration
    from .processing_vjepa2_vlm import VJEPA2VLMProcessor

    config_kwargs: dict[str, Any] = {}
    if preset is not None:
        if preset not in VLM_PRESETS:
            raise ValueError(f"unknown VLM preset {preset!r}; expected one of {sorted(VLM_PRESETS)}")
        p = VLM_PRESETS[preset]
        vision_model_name_or_path = vision_model_name_or_path or p.vision_repo
        text_model_name_or_path = text_model_name_or_path or p.text_repo
        config_kwargs.update(
            projector_type=p.projector_type, projector_pool_ratio=p.projector_pool_ratio, num_frames=p.num_frames
        )
    if vision_model_name_or_path is None or text_model_name_or_path is None:
        raise ValueError("give `vision_model_name_or_path` and `text_model_name_or_path`, or a `preset`")
    if num_frames is not None:
        config_kwargs["num_frames"] = num_frames
    config_kwargs.update(kwargs)
    tokenizer = AutoTokenizer.from_pretrained(text_model_name_or_path, **(tokenizer_kwargs or {}))
    model = VJEPA2VLMForConditionalGeneration.from_vision_text_pretrained(
        vision_model_name_or_path,
        text_model_name_or_path,
        tokenizer,
        dtype=dtype,
        attn_implementation=attn_implementation,
        **config_kwargs,
    )
    processor = VJEPA2VLMProcessor.from_model_config(
        model.config, tokenizer, video_processor_source=vision_model_name_or_path
    )
    return model, processor


__all__ = [
    "PLACEHOLDER_IDS",
    "TEXT_CONFIGS",
    "TEXT_HUB_REPOS",
    "VLMPreset",
    "VLM_PRESETS",
    "assemble_vlm",
    "count_parameters",
    "memory_requirements",
    "text_config_from_preset",
    "vlm_config_from_preset",
]
