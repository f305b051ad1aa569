"""Model cards for trained VLM folders, rendered from `model_cards/vlm.md`."""

from __future__ import annotations

import os
from typing import Any

from ..model_card_utils import card_path, library_versions, render_model_card
from .configuration_vjepa2_vlm import VJEPA2VLMConfig

_PROJECTOR_TEXT = {
    "mlp": "2-layer MLP projector (no pooling)",
    "avgpool_mlp": "spatial average pooling (stride {s}) + 2-layer MLP projector",
    "merge_mlp": "{s}x{s} token merging (channel concatenation) + 2-layer MLP projector",
    "attentive_pool": "attentive-pooler projector ({q} queries per tubelet) + 2-layer MLP",
}


def _fmt_params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


def card_values(
    config: VJEPA2VLMConfig,
    *,
    model_name: str,
    encoder_name: str,
    llm_name: str,
    trained_parts: list[str],
    folder_contents: str,
    results_section: str,
    training_rows: list[tuple[str, Any]],
    usage_path: str,
    usage_note: str = "",
    param_counts: dict[str, int] | None = None,
    memory: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Placeholder values of `model_cards/vlm.md` for `config`."""
    vc, tc = config.vision_config, config.text_config
    projector = _PROJECTOR_TEXT[config.projector_type].format(
        s=config.projector_pool_stride, q=config.attentive_num_queries
    )
    base = [n for n in (encoder_name, llm_name) if n and "/" in n and not os.path.isdir(n)]
    base_yaml = ("base_model:\n" + "".join(f"- {n}\n" for n in base)) if base else ""
    counts = param_counts or {}
    mem_rows = (
        "\n".join(
            f"| {k.replace('_gib', '').replace('_', ' ')} | {v:.1f} |" for k, v in memory.items() if k.endswith("_gib")
        )
        if memory
        else "| (not computed) | |"
    )
    return {
        "model_name": model_name,
        "base_model_yaml": base_yaml,
        "encoder_summary": (
            f"{card_path(encoder_name)}: ViT {vc.hidden_size}-wide, {vc.num_hidden_layers} layers, "
            f"patch {vc.patch_size}, "
            f"{vc.crop_size} px"
        ),
        "llm_summary": (f"{card_path(llm_name)} ({tc.model_type}, {tc.num_hidden_layers} layers, width {tc.hidden_size})"),
        "projector_summary": projector,
        "video_token": "<video>",
        "folder_contents": folder_contents,
        "results_section": results_section,
        "frames": config.num_frames,
        "crop": vc.crop_size,
        "tubelet": vc.tubelet_size,
        "tokens_per_frame": f"{config.tokens_per_frame():g}",
        "video_tokens": config.num_video_tokens(),
        "params_encoder": _fmt_params(counts.get("vision_tower", 0)),
        "params_projector": _fmt_params(counts.get("multi_modal_projector", 0)),
        "params_llm": _fmt_params(counts.get("language_model", 0)),
        "trained_parts": ", ".join(trained_parts),
        "training_table": "\n".join(f"| {k} | {v} |" for k, v in training_rows),
        "memory_table": mem_rows,
        "usage_path": usage_path,
        "usage_note": usage_note,
        "versions": library_versions(extra=("peft",)),
    }


def _results_section(eval_metrics: dict[str, Any] | None, eval_file: Any) -> str:
    """The card's results: the evaluation table of the stage, or a line saying there was none."""
    if eval_metrics:
        rows = [
            f"| {eval_metrics['metric']} ({eval_metrics.get('mode', 'letter')} scoring) | {eval_metrics['score']:.3f} |",
            f"| chance | {eval_metrics['chance']:.3f} |",
            f"| questions | {eval_metrics['num_questions']} |",
        ]
        for dim, acc in (eval_metrics.get("by_dimension") or {}).items():
            rows.append(f"| accuracy: {dim} | {acc:.3f} |")
        results_section = f"On `{eval_file}`:\n\n| metric | value |\n|---|---|\n" + "\n".join(rows)
    else:
        results_section = "No evaluation file was given for this run."
    return results_section


def write_model_card(
    save_directory: str | os.PathLike,
    *,
    config: Any,
    stage: Any,
    results: dict[str, Any],
    model: Any,
) -> str:
    """Write `README.md` for a stage folder (or a merged folder) of a `train-vlm` run."""
    vlm_config: VJEPA2VLMConfig = model.config
    spec = config.model
    encoder_name = spec.get("vision") or spec.get("preset") or spec.get("pretrained") or "tiny V-JEPA 2 (random init)"
    llm_name = spec.get("text") or spec.get("preset") or spec.get("pretrained") or "tiny Llama (random init)"
    counts = {
        "vision_tower": sum(p.numel() for p in model.vision_tower.parameters()),
        "multi_modal_projector": sum(p.numel() for p in model.multi_modal_projector.parameters()),
        "language_model": sum(p.numel() for p in model.language_model.parameters()),
    }
    results_section = _results_section(results.get("eval"), config.data.get("eval"))
    is_merged = os.path.basename(os.fspath(save_directory)) == "merged"
    if is_merged:
        contents = "A standalone model: full weights (LoRA folded in), config and processor."
        usage_note = ""
    else:
        contents = (
            "Only what this stage trained (`trainable_weights.safetensors` and/or a PEFT adapter), the VLM config, the "
            "processor and `trained_parts.json` (how to rebuild the base). Load with "
            "`vjepa2_hf.vlm.training.load_trained_vlm(folder)`; `merge_trained_vlm(folder, out)` writes a standalone "
            "model."
        )
        usage_note = (
            "This folder holds trained parts only: run `merge_trained_vlm` first, then point the pipeline at the "
            "merged folder."
        )
    training_rows = [
        ("stage", stage.name),
        ("trained", ", ".join(stage.train)),
        ("learning rate", stage.learning_rate),
        ("epochs", stage.num_train_epochs),
        ("max steps", stage.max_steps),
        ("scheduler", f"{stage.lr_scheduler_type}, warmup {stage.warmup_steps}"),
        ("train questions", config.data.get("train")),
        ("train loss", f"{results.get('train_loss', float('nan')):.4f}"),
        ("trainable parameters", f"{results.get('trainable_parameters', 0):,}"),
    ]
    for k, v in sorted(config.training.items()):
        training_rows.append((k, v))
    memory = None
    try:
        from .presets import memory_requirements

        memory = memory_requirements(vlm_config)
    except Exception:  # noqa: BLE001 - the card stays useful without the estimate
        memory = None
    values = card_values(
        vlm_config,
        model_name=os.path.basename(os.path.abspath(os.fspath(save_directory))),
        encoder_name=str(encoder_name),
        llm_name=str(llm_name),
        trained_parts=list(stage.train),
        folder_contents=contents,
        results_section=results_section,
        training_rows=training_rows,
        usage_path=card_path(save_directory),
        usage_note=usage_note,
        param_counts=counts,
        memory=memory,
    )
    text = render_model_card("vlm.md", values)
    path = os.path.join(os.fspath(save_directory), "README.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


__all__ = ["card_values", "write_model_card"]
