"""Tiny random causal LMs of real transformers architectures, saved to folders the way released models are.

Each folder holds `config.json`, `model.safetensors`, `generation_config.json` and a tokenizer (a `tokenizers`
WordLevel model wrapped in `PreTrainedTokenizerFast`, with a ChatML-like chat template and **no** `<video>` /
`<image>` tokens: assembling adds them and grows the embeddings, as with a real LLM). The encoder folder is the tiny
V-JEPA 2 saved with `save_pretrained`, with its video processor. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    GPT2Config,
    LlamaConfig,
    MistralConfig,
    Phi3Config,
    PretrainedConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
)
from transformers import AutoModelForCausalLM

from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2VisionModel
from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor
from vjepa2_hf.vlm.tiny import BASE_WORDS

ARCHITECTURES = ("llama", "qwen2", "mistral", "phi3", "gpt2")
CHAT_SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
WIDTH, LAYERS, HEADS, KV_HEADS, FFN, CONTEXT = 32, 2, 4, 2, 64, 256


def build_chat_tokenizer() -> PreTrainedTokenizerFast:
    """A WordLevel chat tokenizer over `BASE_WORDS` (no video / image placeholders)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(dict.fromkeys(CHAT_SPECIALS + BASE_WORDS))}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<s>", eos_token="<|end|>", unk_token="<unk>", pad_token="<pad>"
    )
    tok.add_tokens(["</s>", "<|system|>", "<|user|>", "<|assistant|>"], special_tokens=True)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def tiny_llm_config(arch: str, tokenizer: PreTrainedTokenizerFast) -> PretrainedConfig:
    """A 2-layer, 32-wide config of `arch` (one of `ARCHITECTURES`) sized to `tokenizer`."""
    ids = dict(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # 1/sqrt(width) as `tiny_vlm_config`: a narrow model initialised at 0.02 learns very slowly
        initializer_range=WIDTH**-0.5,
    )
    if arch == "gpt2":
        return GPT2Config(n_embd=WIDTH, n_layer=LAYERS, n_head=HEADS, n_positions=CONTEXT, **ids)
    common = dict(
        hidden_size=WIDTH,
        intermediate_size=FFN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=CONTEXT,
        **ids,
    )
    if arch == "llama":
        return LlamaConfig(**common)
    if arch == "qwen2":
        return Qwen2Config(**common)
    if arch == "mistral":
        return MistralConfig(**common)
    if arch == "phi3":
        return Phi3Config(original_max_position_embeddings=CONTEXT, **common)
    raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")


def save_tiny_llm(folder: str | Path, arch: str, seed: int = 0) -> Path:
    """Save a random tiny `arch` causal LM and its tokenizer to `folder` (fp32 weights)."""
    folder = Path(folder)
    tokenizer = build_chat_tokenizer()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_llm_config(arch, tokenizer))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_encoder(folder: str | Path, crop_size: int = 32, seed: int = 0) -> Path:
    """Save the random tiny V-JEPA 2 encoder (and its video processor) at `crop_size` pixels to `folder`."""
    folder = Path(folder)
    torch.manual_seed(seed)
    VJEPA2VisionModel(VJEPA2Config.from_preset("tiny", crop_size=crop_size)).save_pretrained(folder)
    VJEPA2VideoProcessor(crop_size=crop_size).save_pretrained(folder)
    return folder


__all__ = [
    "ARCHITECTURES",
    "build_chat_tokenizer",
    "save_tiny_encoder",
    "save_tiny_llm",
    "tiny_llm_config",
]
