"""LoRA setup shared by the `Trainer` jobs (probe fine-tuning, VLM stages): one place builds the PEFT config, wraps
the model and logs what is trainable."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from transformers.utils import logging

logger = logging.get_logger(__name__)

__all__ = ["apply_lora"]


def apply_lora(
    model: nn.Module,
    rank: int,
    alpha: float,
    dropout: float,
    target_modules: str | Sequence[str],
    modules_to_save: Sequence[str],
    task_type: str | None = None,
):
    """`peft.get_peft_model(model, LoraConfig(...))`: LoRA adapters on `target_modules` (names, or one string: a
    regular expression or `"all-linear"`, as PEFT reads it), `modules_to_save` fully trained and saved with the
    adapter. Logs the number of trainable parameters."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules if isinstance(target_modules, str) else list(target_modules),
        modules_to_save=list(modules_to_save),
        task_type=task_type,
    )
    peft_model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    logger.info(f"LoRA rank {rank}: {trainable / 1e6:.3f}M trainable parameters")
    return peft_model
