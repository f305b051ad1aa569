"""A word-level tokenizer and a tiny VLM built locally, for CPU tests, demos and the synthetic video-QA benchmark.

Nothing here downloads: the tokenizer is a `tokenizers` WordLevel model wrapped in `PreTrainedTokenizerFast` with a
small ChatML-like chat template, the language model a few-hundred-kB random Llama (or Qwen2), the encoder the tiny
V-JEPA 2 preset. Swap in a real LLM and encoder with [`assemble_vlm`] for real work.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable

from transformers import AutoConfig, PreTrainedTokenizerFast

from ..encoder.configuration_vjepa2 import VJEPA2Config
from .configuration_vjepa2_vlm import VJEPA2VLMConfig

SPECIAL_TOKENS = [
    "<pad>",
    "<unk>",
    "<s>",
    "</s>",
    "<video>",
    "<image>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
BASE_WORDS = (
    list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    + list("abcdefghijklmnopqrstuvwxyz")
    + [str(i) for i in range(10)]
    + list("()?.,:;!'\"-")
    + "the a an which way does is are what how many in of to from video answer with option letter given choices "
    "directly move moves moving square circle triangle object shape left right up down yes no Which What How Answer "
    "Question Options Best option".split()
)


def _words(texts: Iterable[str]) -> list[str]:
    out = []
    for t in texts:
        out.extend(re.findall(r"\w+|[^\w\s]+", t))
    return out


def build_word_tokenizer(
    extra_texts: Iterable[str] = (), *, chat_template: str = CHAT_TEMPLATE
) -> PreTrainedTokenizerFast:
    """A WordLevel tokenizer over `BASE_WORDS` plus every word of `extra_texts`, with special and chat tokens.

    Pre-tokenisation splits on whitespace and punctuation (`\\w+|[^\\w\\s]+`); decoding joins tokens with spaces.
    Special tokens: `<pad>` (pad), `<unk>`, `<s>` (bos), `</s>`, `<video>`, `<image>`, `<|system|>`, `<|user|>`,
    `<|assistant|>`, `<|end|>` (eos: the end of a turn).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab: dict[str, int] = {}
    for w in SPECIAL_TOKENS + BASE_WORDS + _words(extra_texts):
        if w not in vocab:
            vocab[w] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|end|>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    fast.add_tokens([t for t in SPECIAL_TOKENS if t not in ("<pad>", "<unk>", "<s>", "<|end|>")], special_tokens=True)
    fast.chat_template = chat_template
    return fast


def tiny_vlm_config(
    tokenizer: Any,
    *,
    text_model_type: str = "llama",
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    intermediate_size: int = 128,
    max_position_embeddings: int = 1024,
    initializer_range: float | None = None,
    vision_overrides: dict[str, Any] | None = None,
    **vlm_kwargs: Any,
) -> VJEPA2VLMConfig:
    """A [`VJEPA2VLMConfig`] with the tiny V-JEPA 2 encoder and a tiny random Llama / Qwen2 sized to `tokenizer`.

    The LLM's `initializer_range` defaults to `hidden_size ** -0.5` (0.125 at width 64) instead of 0.02, which suits
    8B-wide models but leaves a tiny one stuck on the answer prior for hundreds of steps.
    """
    text_config = AutoConfig.for_model(
        text_model_type,
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        # 1/sqrt(width): a 64-wide model initialised at the usual 0.02 starts with near-uniform attention and takes
        # hundreds of steps to leave the "answer the prior" plateau.
        initializer_range=hidden_size**-0.5 if initializer_range is None else initializer_range,
    )
    vision_config = VJEPA2Config.from_preset("tiny", **(vision_overrides or {}))
    vlm_kwargs.setdefault("num_frames", 4)
    return VJEPA2VLMConfig(
        vision_config=vision_config,
        text_config=text_config,
        video_token_id=tokenizer.convert_tokens_to_ids("<video>"),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        **vlm_kwargs,
    )


def save_tiny_parts(
    out_dir: str | os.PathLike, *, seed: int = 0, crop_size: int = 32, **text_kwargs: Any
) -> tuple[str, str]:
    """Save the parts of the tiny VLM as released models are: `out_dir/encoder` (a tiny random V-JEPA 2 with its
    video processor) and `out_dir/llm` (a tiny random causal LM with the word-level tokenizer beside it).

    Joining them with [`assemble_vlm`] (or a `train-vlm` spec naming the two folders) takes the real path, with the
    same sizes as [`tiny_vlm_config`] (`text_kwargs`: its LLM arguments, e.g. `text_model_type="qwen2"`).
    Returns `(encoder_dir, llm_dir)`.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from ..encoder.modeling_vjepa2 import VJEPA2VisionModel
    from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor

    tokenizer = build_word_tokenizer()
    config = tiny_vlm_config(tokenizer, vision_overrides={"crop_size": crop_size}, **text_kwargs)
    encoder_dir, llm_dir = os.path.join(out_dir, "encoder"), os.path.join(out_dir, "llm")
    torch.manual_seed(seed)
    VJEPA2VisionModel(config.vision_config).save_pretrained(encoder_dir)
    VJEPA2VideoProcessor(crop_size=crop_size, num_frames=config.num_frames).save_pretrained(encoder_dir)
    AutoModelForCausalLM.from_config(config.text_config).save_pretrained(llm_dir)
    tokenizer.save_pretrained(llm_dir)
    return encoder_dir, llm_dir


__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "build_word_tokenizer", "save_tiny_parts", "tiny_vlm_config"]
