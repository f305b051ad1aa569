"""Write a classifier in transformers' own format, so that the folder (or the Hub repo it is pushed to) loads with
plain `transformers.VJEPA2ForVideoClassification` / `AutoModelForVideoClassification`, without this package.

transformers' classifier can represent exactly: the probe's heads and LayerNorm eps equal to the encoder's (its
pooler reads `num_attention_heads` and `layer_norm_eps`), single-level features, and a full backbone with its
predictor. Anything else raises a `ValueError` saying why, instead of writing a folder that would compute something
else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from transformers.utils import logging

from ..encoder.configuration_vjepa2 import clip_num_frames
from ..encoder.convert_vjepa2_checkpoint import TRANSFORMERS_CONFIG_FIELDS, split_qkv
from .modeling_probe import VJEPA2ForVideoClassification, pooler_heads_and_eps

logger = logging.get_logger(__name__)

__all__ = ["export_classifier_to_transformers", "transformers_config_from"]

# Fields of transformers' VJEPA2Config (5.24); labels and `num_frames` are set separately.
_TRANSFORMERS_FIELDS = tuple(f for f in TRANSFORMERS_CONFIG_FIELDS if f not in ("num_frames", "id2label", "label2id"))


def transformers_config_from(model: VJEPA2ForVideoClassification):
    """transformers' `VJEPA2Config` for `model` (raises `ValueError` if transformers' classifier cannot express it)."""
    from transformers import VJEPA2Config as TransformersVJEPA2Config

    config = model.config
    heads, eps = pooler_heads_and_eps(config)
    problems = []
    if heads != config.num_attention_heads:
        problems.append(
            f"the probe has {heads} heads but transformers' pooler uses the encoder's {config.num_attention_heads}"
        )
    if eps != config.layer_norm_eps:
        problems.append(f"the probe's LayerNorm eps is {eps:g}; transformers' pooler uses the encoder's "
                        f"{config.layer_norm_eps:g}")
    if getattr(config, "pooler_input_layers", None):
        problems.append(f"multi-level features (pooler_input_layers={config.pooler_input_layers}) are not supported "
                        "by transformers' classifier")
    if model.vjepa2.predictor is None:
        problems.append("the model has no predictor, which transformers' classifier expects (it would be random)")
    if problems:
        raise ValueError("cannot export to transformers' format: " + "; ".join(problems))
    values: dict[str, Any] = {name: getattr(config, name) for name in _TRANSFORMERS_FIELDS}
    values.update(
        num_labels=config.num_labels,
        id2label={int(k): v for k, v in config.id2label.items()},
        label2id={k: int(v) for k, v in config.label2id.items()},
        problem_type=config.problem_type,
    )
    exported = TransformersVJEPA2Config(**values)
    # read by the video-classification pipeline (transformers' config has no such field)
    exported.num_frames = clip_num_frames(config)
    return exported


def export_classifier_to_transformers(
    model: VJEPA2ForVideoClassification,
    output_dir: str | os.PathLike,
    processor: Any = None,
    check: bool = True,
) -> Path:
    """Save `model` as transformers' `VJEPA2ForVideoClassification` (`model_type: vjepa2`, split q/k/v weights).

    Args:
        model: our classifier.
        output_dir: the folder to write.
        processor: a `VJEPA2VideoProcessor` to save alongside (its config is transformers' format).
        check: rebuild the transformers model and compare its logits with ours on a random clip (max abs diff
            <= 1e-4), raising `ValueError` on a mismatch.

    Returns:
        the folder.
    """
    from transformers import VJEPA2ForVideoClassification as TransformersClassifier

    config = transformers_config_from(model)
    state = split_qkv({k: v.detach().cpu() for k, v in model.state_dict().items()})
    with torch.device("meta"):
        exported = TransformersClassifier(config)
    expected = set(exported.state_dict())
    if set(state) != expected:
        raise ValueError(
            f"state dict does not match transformers' classifier: missing {sorted(expected - set(state))[:10]}, "
            f"unexpected {sorted(set(state) - expected)[:10]}"
        )
    exported.load_state_dict(state, strict=True, assign=True)
    exported.eval()
    if check:
        frames = max(config.tubelet_size, 2)
        clip = torch.randn(1, frames, config.in_chans, config.crop_size, config.crop_size,
                           generator=torch.Generator().manual_seed(0))
        dtype = next(model.parameters()).dtype
        device = next(model.parameters()).device
        with torch.no_grad():
            ours = model.eval()(clip.to(device, dtype)).logits.float().cpu()
            theirs = exported.to(dtype)(pixel_values_videos=clip.to(dtype)).logits.float()
        diff = (ours - theirs).abs().max().item()
        if diff > 1e-4 * max(1.0, ours.abs().max().item()):
            raise ValueError(f"exported transformers classifier differs from ours: max abs diff {diff:.3g}")
    output_dir = Path(output_dir)
    exported.save_pretrained(str(output_dir))
    if processor is not None:
        processor.save_pretrained(str(output_dir))
    logger.info(f"wrote a transformers-format VJEPA2ForVideoClassification to {output_dir}")
    return output_dir
