"""The model card of a saved probe folder, rendered from `model_cards/video_classification.md`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from ..encoder.configuration_vjepa2 import clip_num_frames
from ..model_card_utils import card_path, find_model_card_template, library_versions, markdown_table, render_model_card

__all__ = ["find_model_card_template", "render_model_card", "write_video_classification_card"]

_METRIC_NAMES = {
    "eval_accuracy": "top-1 accuracy",
    "eval_top5_accuracy": "top-5 accuracy",
    "eval_class_mean_recall@5": "class-mean recall@5",
    "eval_loss": "cross-entropy loss",
}


def _fmt(value: Any) -> str:
    if hasattr(value, "value") and not isinstance(value, (int, float, str)):  # enums (SchedulerType, ...)
        value = value.value
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def _summaries(model) -> tuple[str, str]:
    """One line each about the probe and the encoder of `model`."""
    from .modeling_probe import pooler_heads_and_eps

    config = model.config
    heads, eps = pooler_heads_and_eps(config)
    layers = getattr(config, "pooler_input_layers", None)
    probe_summary = (
        f"{config.num_pooler_layers} self-attention blocks + 1 cross-attention block, {heads} heads, LayerNorm eps "
        f"{eps:g}" + (f", multi-level input from blocks {layers}" if layers else "")
    )
    encoder_summary = (
        f"{config.num_hidden_layers} blocks, width {config.hidden_size}, {config.num_attention_heads} heads, "
        f"{sum(p.numel() for p in model.vjepa2.encoder.parameters()) / 1e6:.2f}M parameters"
    )
    return probe_summary, encoder_summary


def write_video_classification_card(
    output_dir: str | os.PathLike,
    model,
    *,
    base_model: str,
    dataset: str,
    metrics: Mapping[str, float],
    dataset_description: str | None = None,
    num_train: int,
    num_eval: int,
    training: Mapping[str, Any],
    model_path: str | None = None,
    backbone_note: str = "",
    template: str = "video_classification.md",
) -> Path:
    """Write `README.md` (the model card) into a saved classifier folder.

    Args:
        output_dir: the folder.
        model: the [`VJEPA2ForVideoClassification`] that was saved there.
        base_model: the backbone it started from (Hub id, folder or preset name).
        dataset: short name of the data (a folder name or a Hub dataset id).
        dataset_description: one sentence about the data (default: `dataset`).
        metrics: measured metrics (`eval_accuracy`, ... as `run_probe` reports them).
        num_train, num_eval: videos in each split.
        training: hyperparameters for the training table.
        model_path: what the usage snippet loads, e.g. the Hub repo it is pushed to (default: the folder).
        backbone_note: an extra sentence under the title (e.g. "the encoder is randomly initialised").
    """
    config = model.config
    probe_summary, encoder_summary = _summaries(model)
    chance = metrics.get("chance_accuracy", 1.0 / config.num_labels)
    metric_rows = {_METRIC_NAMES.get(k, k): _fmt(metrics[k]) for k in _METRIC_NAMES if k in metrics}
    metric_rows["chance accuracy"] = _fmt(chance)
    id2label = {int(k): v for k, v in config.id2label.items()}
    labels = ", ".join(f"`{i}`: {id2label[i]}" for i in sorted(id2label)[:50])
    if len(id2label) > 50:
        labels += f", ... ({len(id2label)} classes)"
    hub_like = "/" in base_model and not os.path.exists(base_model)
    path = Path(output_dir)
    values = {
        "model_name": model_path.rstrip("/").split("/")[-1] if model_path else path.resolve().name,
        "model_name_yaml": json.dumps(model_path.rstrip("/").split("/")[-1] if model_path else path.resolve().name),
        "base_model": card_path(base_model, path) if os.path.exists(base_model) else base_model,
        "base_model_yaml": f"base_model: {base_model}\n" if hub_like else "",
        "dataset_name": Path(dataset).name if os.path.exists(dataset) else dataset,
        "dataset_yaml": json.dumps(Path(dataset).name if os.path.exists(dataset) else dataset),
        "dataset_description": dataset_description or dataset,
        "accuracy_value": _fmt(metrics.get("eval_accuracy", float("nan"))),
        "encoder_summary": encoder_summary,
        "num_labels": config.num_labels,
        "num_train": num_train,
        "num_eval": num_eval,
        "chance": _fmt(chance),
        "metrics_table": markdown_table(metric_rows),
        "frames": clip_num_frames(config),
        "crop": config.crop_size,
        "tubelet": config.tubelet_size,
        "patch": config.patch_size,
        "probe_summary": probe_summary,
        "backbone_state": "frozen" if getattr(config, "freeze_backbone", True) else "fine-tuned",
        "backbone_note": backbone_note,
        "training_table": markdown_table({k: _fmt(v) for k, v in training.items()}),
        "labels": labels,
        "model_path": model_path or card_path(path),
        "versions": library_versions(),
    }
    card = render_model_card(template, values)
    out = path / "README.md"
    out.write_text(card, encoding="utf-8")
    return out
