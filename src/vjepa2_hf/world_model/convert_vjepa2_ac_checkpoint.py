"""Convert the released V-JEPA 2-AC checkpoint (`vjepa2-ac-vitg.pt`) to a [`VJEPA2WorldModel`] folder, and back.

The official file is a training checkpoint with an `encoder` entry (the frozen ViT-g, keys prefixed `module.`) and a
`predictor` entry (the AC predictor, keys prefixed `module.`), plus optimizer state. Key map of the predictor:

==========================================  ============================================
official (`VisionTransformerPredictorAC`)   internal (`VJEPA2ACPredictor`)
==========================================  ============================================
`predictor_embed.*`                          `predictor_embed.*`
`action_encoder.*`                           `action_encoder.*`
`state_encoder.*`                            `state_encoder.*`
`extrinsics_encoder.*`                       `extrinsics_encoder.*`
`predictor_blocks.{i}.attn.qkv.*`            `layer.{i}.attention.qkv.*` (fused ``[q | k | v]``, unchanged)
`predictor_blocks.{i}.attn.proj.*`           `layer.{i}.attention.proj.*`
`predictor_blocks.{i}.{norm1,norm2,mlp.*}`   `layer.{i}.{norm1,norm2,mlp.*}`
`predictor_norm.*`, `predictor_proj.*`       `predictor_norm.*`, `predictor_proj.*`
==========================================  ============================================

The encoder goes through the encoder converter (`vjepa2_hf.encoder.convert_vjepa2_checkpoint`). Loading is strict.

Usage::

    python -m vjepa2_hf.world_model.convert_vjepa2_ac_checkpoint --checkpoint vjepa2-ac-vitg.pt --output vjepa2-ac-vitg
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from typing import Any
from pathlib import Path

import torch

from ..encoder.configuration_vjepa2 import VJEPA2Config
from ..encoder.convert_vjepa2_checkpoint import (
    check_state_dict,
    internal_to_official,
    load_official_file,
    official_encoder_to_internal,
    strip_official_prefixes,
)
from .configuration_vjepa2_ac import VJEPA2ACConfig
from .modeling_vjepa2_ac import VJEPA2ACPredictor

_PLAIN = ("predictor_embed.", "action_encoder.", "state_encoder.", "extrinsics_encoder.", "predictor_norm.",
          "predictor_proj.")


def official_ac_predictor_to_internal(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official AC predictor state dict (prefixes already stripped) -> `VJEPA2ACPredictor` keys."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith(_PLAIN):
            out[key] = value
            continue
        match = re.match(r"^predictor_blocks\.(\d+)\.(.+)$", key)
        if match is None:
            raise ValueError(f"unexpected key in the official AC predictor state dict: {key!r}")
        index, rest = match.groups()
        rest = re.sub(r"^attn\.", "attention.", rest)
        out[f"layer.{index}.{rest}"] = value
    return out


def internal_to_official_ac_predictor(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`VJEPA2ACPredictor` state dict -> official key names (without the `module.` prefix)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith(_PLAIN):
            out[key] = value
            continue
        match = re.match(r"^layer\.(\d+)\.(.+)$", key)
        if match is None:
            raise ValueError(f"unexpected key in a VJEPA2ACPredictor state dict: {key!r}")
        index, rest = match.groups()
        rest = re.sub(r"^attention\.", "attn.", rest)
        out[f"predictor_blocks.{index}.{rest}"] = value
    return out


def infer_ac_config(state_dict: Mapping[str, torch.Tensor], **overrides) -> VJEPA2ACConfig:
    """Predictor config from the weight shapes of an official (stripped) predictor state dict: encoder width,
    predictor width and depth, action/state/extrinsics widths, MLP ratio. The number of heads cannot be read from
    the weights: it comes from `overrides` (default 16, the released model); so do the crop/patch sizes
    (default 256/16)."""
    try:
        width, hidden = state_dict["predictor_embed.weight"].shape
        action_dim = state_dict["action_encoder.weight"].shape[1]
        state_dim = state_dict["state_encoder.weight"].shape[1]
        extrinsics_dim = state_dict["extrinsics_encoder.weight"].shape[1]
        mlp = state_dict["predictor_blocks.0.mlp.fc1.weight"].shape[0]
    except KeyError as error:
        raise ValueError(f"not an official AC predictor state dict: missing {error}") from error
    depth = 1 + max(int(k.split(".")[1]) for k in state_dict if k.startswith("predictor_blocks."))
    values = dict(
        hidden_size=int(hidden),
        pred_hidden_size=int(width),
        pred_num_hidden_layers=depth,
        pred_mlp_ratio=mlp / width,
        action_dim=int(action_dim),
        state_dim=int(state_dim),
        extrinsics_dim=int(extrinsics_dim),
    )
    values.update(overrides)
    return VJEPA2ACConfig(**values)


def convert_vjepa2_ac_checkpoint(
    path_or_state_dict: str | os.PathLike | Mapping,
    encoder_config: VJEPA2Config | None = None,
    predictor_config: VJEPA2ACConfig | None = None,
    encoder_key: str = "encoder",
    state_update: str = "franka",
    dtype: torch.dtype | None = None,
    predictor_overrides: Mapping[str, Any] | None = None,
):
    """Build a [`VJEPA2WorldModel`] from the official AC checkpoint.

    Args:
        path_or_state_dict: `vjepa2-ac-vitg.pt`, or the loaded dict with `encoder` and `predictor` entries.
        encoder_config: encoder config (default: the ViT-g preset, `vit_giant_xformers`).
        predictor_config: predictor config (default: inferred from the weight shapes, 16 heads, 256 px / patch 16).
        encoder_key: which encoder entry to read (`encoder`, as the official hub loader, or `target_encoder`).
        state_update: rollout state rule stored with the model (`franka` for the released model).
        dtype: cast the weights while building.
        predictor_overrides: fields the weights do not record (heads, crop and patch size), for the inferred
            predictor config; only without `predictor_config`.

    Raises:
        FileNotFoundError: missing file. ValueError: missing entries or any missing / unexpected / wrongly shaped
        key.
    """
    from ..encoder.modeling_vjepa2 import VJEPA2VisionModel
    from .world_model import VJEPA2WorldModel

    source = "<state dict>"
    checkpoint = path_or_state_dict
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        source = str(path_or_state_dict)
        checkpoint = load_official_file(path_or_state_dict)
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"official AC checkpoint {source} must be a dict, got {type(checkpoint).__name__}")
    for key in (encoder_key, "predictor"):
        if key not in checkpoint:
            raise ValueError(f"official AC checkpoint {source} has no {key!r} entry; found {sorted(checkpoint)}")
    official_predictor = strip_official_prefixes(checkpoint["predictor"])
    predictor_sd = official_ac_predictor_to_internal(official_predictor)
    encoder_sd = official_encoder_to_internal(strip_official_prefixes(checkpoint[encoder_key]))
    if predictor_config is None:
        predictor_config = infer_ac_config(official_predictor, **(predictor_overrides or {}))
    elif predictor_overrides:
        raise ValueError("pass `predictor_config` or `predictor_overrides`, not both")
    if encoder_config is None:
        encoder_config = VJEPA2Config.from_preset("vit_giant")
    with torch.device("meta"):
        encoder = VJEPA2VisionModel(encoder_config)
        predictor = VJEPA2ACPredictor(predictor_config)
    check_state_dict(encoder, encoder_sd, f"{source} [{encoder_key}]")
    check_state_dict(predictor, predictor_sd, f"{source} [predictor]")
    if dtype is not None:
        encoder_sd = {k: v.to(dtype) for k, v in encoder_sd.items()}
        predictor_sd = {k: v.to(dtype) for k, v in predictor_sd.items()}
    encoder.load_state_dict(encoder_sd, strict=True, assign=True)
    predictor.load_state_dict(predictor_sd, strict=True, assign=True)
    return VJEPA2WorldModel(encoder.eval(), predictor.eval(), state_update=state_update).eval()


def export_ac_to_official(world_model, path: str | os.PathLike) -> Path:
    """Write a [`VJEPA2WorldModel`] as an official-layout AC `.pt` (`encoder` and `predictor` entries, keys
    prefixed `module.`, as `vjepa2-ac-vitg.pt`)."""
    enc = internal_to_official({k: v.detach().cpu() for k, v in world_model.encoder.state_dict().items()})["encoder"]
    pred = internal_to_official_ac_predictor({k: v.detach().cpu() for k, v in world_model.predictor.state_dict().items()})
    checkpoint = {
        "encoder": {f"module.{k}": v for k, v in enc.items()},
        "predictor": {f"module.{k}": v for k, v in pred.items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m vjepa2_hf.world_model.convert_vjepa2_ac_checkpoint ...`: the same as
    `vjepa2-hf convert-official --world-model --arch vit_giant ...`."""
    from ..cli import main as cli_main

    parser = argparse.ArgumentParser(description="Convert vjepa2-ac-vitg.pt to a VJEPA2WorldModel folder.")
    parser.add_argument("--checkpoint", required=True, help="official AC .pt file")
    parser.add_argument("--output", required=True, help="output folder (config.json, model.safetensors)")
    parser.add_argument("--encoder-key", default="encoder", choices=["encoder", "target_encoder"])
    parser.add_argument("--num-heads", type=int, default=16, help="predictor attention heads (16 released)")
    args = parser.parse_args(argv)
    return cli_main([
        "convert-official", "--world-model", "--arch", "vit_giant", "--checkpoint", args.checkpoint,
        "--out", args.output, "--encoder-key", args.encoder_key, "--ac-num-heads", str(args.num_heads),
    ])


__all__ = [
    "convert_vjepa2_ac_checkpoint",
    "export_ac_to_official",
    "infer_ac_config",
    "internal_to_official_ac_predictor",
    "official_ac_predictor_to_internal",
]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
