"""Official V-JEPA 2 probe files -> [`VJEPA2ForVideoClassification`] / [`VJEPA2ForActionAnticipation`].

An official probe file (`evals/ssv2-vitl-16x2x3.pt`, `diving48-vitl-256.pt`, `ek100-vitl-256.pt`, ...) is a dict
`{"classifiers": [state_dict, ...], "opt": ..., "scaler": ..., "epoch": ...}`; each state dict was saved from DDP, so
its keys start with `module.`. The released demo loads `["classifiers"][0]`.

Key map (after removing `module.`), the regexes of transformers' `convert_vjepa2_classifier_to_hf.py` plus the fused
projections split the way the official forward reads them (`qkv` rows `[q | k | v]`, `kv` rows `[k | v]`):

| official | ours (= transformers') |
|---|---|
| `pooler.query_tokens` | `pooler.query_tokens` |
| `pooler.blocks.{i}.norm{1,2}.*` | `pooler.self_attention_layers.{i}.layer_norm{1,2}.*` |
| `pooler.blocks.{i}.attn.qkv.*` (split in 3) | `pooler.self_attention_layers.{i}.self_attn.{q,k,v}_proj.*` |
| `pooler.blocks.{i}.attn.proj.*` | `pooler.self_attention_layers.{i}.self_attn.out_proj.*` |
| `pooler.blocks.{i}.mlp.fc{1,2}.*` | `pooler.self_attention_layers.{i}.mlp.fc{1,2}.*` |
| `pooler.cross_attention_block.norm{1,2}.*` | `pooler.cross_attention_layer.layer_norm{1,2}.*` |
| `pooler.cross_attention_block.xattn.q.*` | `pooler.cross_attention_layer.cross_attn.q_proj.*` |
| `pooler.cross_attention_block.xattn.kv.*` (split in 2) | `pooler.cross_attention_layer.cross_attn.{k,v}_proj.*` |
| `pooler.cross_attention_block.mlp.fc{1,2}.*` | `pooler.cross_attention_layer.mlp.fc{1,2}.*` |
| `linear.*` | `classifier.*` |
| `{verb,noun,action}_classifier.*` (EK100) | `{verb,noun,action}_classifier.*` |

The probe's head count is not stored in the file: the released probes use 16 heads (also for ViT-g, whose encoder
has 22) and PyTorch's LayerNorm eps 1e-5, which `convert_official_probe` writes into the config
(`pooler_num_attention_heads=16`, `pooler_layer_norm_eps=1e-5`). transformers' classifiers instead run the pooler
with the encoder's heads and eps (the same weights, a different head split for ViT-g).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import torch
from transformers.utils import logging

from ..encoder.configuration_vjepa2 import VJEPA2Config
from ..encoder.convert_vjepa2_checkpoint import (
    OFFICIAL_ARCHS,
    check_state_dict,
    convert_official_checkpoint,
    load_official_file,
)
from .attentive_pooler import OFFICIAL_PROBE_LAYER_NORM_EPS, OFFICIAL_PROBE_NUM_HEADS

logger = logging.get_logger(__name__)

__all__ = [
    "PROBE_KEY_PATTERNS",
    "official_probe_to_internal",
    "internal_probe_to_official",
    "load_official_probe_state_dict",
    "convert_official_probe",
]

# (official regex, replacement) applied after `module.` is removed and fused projections are split.
PROBE_KEY_PATTERNS: list[tuple[str, str]] = [
    (r"^pooler\.query_tokens$", r"pooler.query_tokens"),
    (r"^pooler\.cross_attention_block\.norm(\d+)\.", r"pooler.cross_attention_layer.layer_norm\1."),
    (r"^pooler\.cross_attention_block\.xattn\.(q|k|v)\.", r"pooler.cross_attention_layer.cross_attn.\1_proj."),
    (r"^pooler\.cross_attention_block\.mlp\.fc(\d+)\.", r"pooler.cross_attention_layer.mlp.fc\1."),
    (r"^pooler\.blocks\.(\d+)\.norm(\d+)\.", r"pooler.self_attention_layers.\1.layer_norm\2."),
    (r"^pooler\.blocks\.(\d+)\.attn\.(q|k|v)\.", r"pooler.self_attention_layers.\1.self_attn.\2_proj."),
    (r"^pooler\.blocks\.(\d+)\.attn\.proj\.", r"pooler.self_attention_layers.\1.self_attn.out_proj."),
    (r"^pooler\.blocks\.(\d+)\.mlp\.fc(\d+)\.", r"pooler.self_attention_layers.\1.mlp.fc\2."),
    (r"^linear\.", r"classifier."),
    (r"^(verb|noun|action)_classifier\.", r"\1_classifier."),
]

_ANTICIPATION_HEADS = ("verb_classifier", "noun_classifier", "action_classifier")


def _split_fused(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if ".attn.qkv." in key:
            for name, part in zip("qkv", value.chunk(3, dim=0)):
                out[key.replace(".attn.qkv.", f".attn.{name}.")] = part.clone()
        elif ".xattn.kv." in key:
            for name, part in zip("kv", value.chunk(2, dim=0)):
                out[key.replace(".xattn.kv.", f".xattn.{name}.")] = part.clone()
        else:
            out[key] = value
    return out


def official_probe_to_internal(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One official probe state dict (`module.` prefixes allowed) -> our / transformers' key names.

    Raises:
        ValueError: for a key that no pattern maps (the message lists them).
    """
    stripped = {re.sub(r"^(module\.)+", "", key): value for key, value in state_dict.items()}
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in _split_fused(stripped).items():
        for pattern, replacement in PROBE_KEY_PATTERNS:
            new, count = re.subn(pattern, replacement, key)
            if count:
                out[new] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"keys of the official probe that have no mapping: {sorted(unknown)}")
    return out


def internal_probe_to_official(state_dict: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict:
    """Our probe keys (`pooler.*`, `classifier.*`, EK100 heads) -> the official layout (fused `qkv` / `kv`, `linear`),
    e.g. to evaluate a probe trained here with the official code."""
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not key.startswith(("pooler.", "classifier.") + _ANTICIPATION_HEADS):
            continue
        new = key
        new = re.sub(r"^pooler\.cross_attention_layer\.layer_norm(\d+)\.", r"pooler.cross_attention_block.norm\1.", new)
        new = re.sub(r"^pooler\.cross_attention_layer\.cross_attn\.(q|k|v)_proj\.", r"pooler.cross_attention_block.xattn.\1.", new)
        new = re.sub(r"^pooler\.cross_attention_layer\.mlp\.", r"pooler.cross_attention_block.mlp.", new)
        new = re.sub(r"^pooler\.self_attention_layers\.(\d+)\.layer_norm(\d+)\.", r"pooler.blocks.\1.norm\2.", new)
        new = re.sub(r"^pooler\.self_attention_layers\.(\d+)\.self_attn\.(q|k|v)_proj\.", r"pooler.blocks.\1.attn.\2.", new)
        new = re.sub(r"^pooler\.self_attention_layers\.(\d+)\.self_attn\.out_proj\.", r"pooler.blocks.\1.attn.proj.", new)
        new = re.sub(r"^pooler\.self_attention_layers\.(\d+)\.mlp\.", r"pooler.blocks.\1.mlp.", new)
        new = re.sub(r"^classifier\.", "linear.", new)
        renamed[new] = value
    out: dict[str, torch.Tensor] = {}
    for key, value in renamed.items():
        match = re.match(r"^(.*\.attn)\.q\.(weight|bias)$", key)
        if match:
            base, kind = match.groups()
            out[f"{prefix}{base}.qkv.{kind}"] = torch.cat(
                [renamed[f"{base}.{n}.{kind}"] for n in "qkv"], dim=0
            )
            continue
        match = re.match(r"^(.*\.xattn)\.k\.(weight|bias)$", key)
        if match:
            base, kind = match.groups()
            out[f"{prefix}{base}.kv.{kind}"] = torch.cat([renamed[f"{base}.{n}.{kind}"] for n in "kv"], dim=0)
            continue
        if re.match(r"^.*\.attn\.(k|v)\.(weight|bias)$", key) or re.match(r"^.*\.xattn\.v\.(weight|bias)$", key):
            continue
        out[prefix + key] = value
    return out


def load_official_probe_state_dict(
    probe: str | os.PathLike | Mapping[str, Any], classifier_index: int = 0
) -> dict[str, torch.Tensor]:
    """Read `classifiers[classifier_index]` of an official probe file (or of the loaded dict) and map its keys.

    A plain state dict (keys `module.pooler...` / `pooler...`) is accepted too.
    """
    source = "<dict>"
    if isinstance(probe, (str, os.PathLike)):
        source = os.fspath(probe)
        probe = load_official_file(probe)
    if not isinstance(probe, Mapping):
        raise ValueError(f"official probe {source} must be a dict, got {type(probe).__name__}")
    if "classifiers" in probe:
        classifiers = probe["classifiers"]
        if not isinstance(classifiers, (list, tuple)) or not classifiers:
            raise ValueError(f"official probe {source}: 'classifiers' must be a non-empty list")
        if not 0 <= classifier_index < len(classifiers):
            raise ValueError(
                f"`classifier_index` must be in [0, {len(classifiers)}) for {source}, got {classifier_index}"
            )
        state = classifiers[classifier_index]
    elif any(re.sub(r"^(module\.)+", "", k).startswith("pooler.") for k in probe):
        state = probe
    else:
        raise ValueError(
            f"official probe {source} has neither a 'classifiers' list nor pooler keys; found {sorted(probe)[:10]}"
        )
    return official_probe_to_internal(state)


def _load_backbone(
    backbone: Any, arch: str | None, config: VJEPA2Config | None, encoder_key: str, dtype: torch.dtype | None
):
    from ..encoder.modeling_vjepa2 import VJEPA2Model, VJEPA2VisionModel

    if isinstance(backbone, (VJEPA2Model, VJEPA2VisionModel)):
        return backbone
    is_official = isinstance(backbone, Mapping) or os.fspath(backbone).endswith((".pt", ".pth", ".tar"))
    if is_official:
        if arch is None and config is None:
            raise ValueError(
                f"`arch` (one of {sorted(OFFICIAL_ARCHS)}) or `backbone_config` is required to convert an official "
                "backbone checkpoint"
            )
        return convert_official_checkpoint(
            backbone, arch=arch or "vit_large", config=config, encoder_key=encoder_key, dtype=dtype
        )
    return VJEPA2Model.from_pretrained(os.fspath(backbone), dtype=dtype)


def _probe_config_dict(base, probe_state, num_attention_heads, layer_norm_eps, pooler_input_layers,
                       frames_per_clip) -> dict[str, Any]:
    """The backbone's config fields plus the probe's shape (depth read from the state dict, width checked)."""
    depth = len({m.group(1) for k in probe_state if (m := re.match(r"^pooler\.self_attention_layers\.(\d+)\.", k))})
    hidden = base.config.hidden_size
    if "pooler.query_tokens" not in probe_state:
        raise ValueError("the official probe has no `pooler.query_tokens`")
    if probe_state["pooler.query_tokens"].shape[-1] != hidden:
        raise ValueError(
            f"the probe's width {probe_state['pooler.query_tokens'].shape[-1]} does not match the backbone's "
            f"hidden_size {hidden}"
        )
    config_dict = base.config.to_dict()
    for key in ("architectures", "model_type", "transformers_version", "id2label", "label2id", "num_labels"):
        config_dict.pop(key, None)
    config_dict.update(
        num_pooler_layers=depth,
        pooler_num_attention_heads=num_attention_heads,
        pooler_layer_norm_eps=layer_norm_eps,
        pooler_input_layers=pooler_input_layers,
    )
    if frames_per_clip is not None:
        config_dict.update(frames_per_clip=frames_per_clip, num_frames=frames_per_clip)
    return config_dict


def _anticipation_config(config_dict: dict[str, Any], probe_state) -> VJEPA2Config:
    sizes = {}
    for head in _ANTICIPATION_HEADS:
        if f"{head}.weight" not in probe_state:
            raise ValueError(f"the EK100 probe lacks `{head}` (found {sorted(probe_state)[:10]} ...)")
        sizes[head] = probe_state[f"{head}.weight"].shape[0]
    config_dict.update(
        num_verbs=sizes["verb_classifier"], num_nouns=sizes["noun_classifier"], num_actions=sizes["action_classifier"]
    )
    return VJEPA2Config(**config_dict)


def _classifier_config(config_dict: dict[str, Any], probe_state, id2label) -> VJEPA2Config:
    if "classifier.weight" not in probe_state:
        raise ValueError("the official probe has no `linear` classifier")
    num_labels = probe_state["classifier.weight"].shape[0]
    if id2label is not None:
        id2label = {int(k): str(v) for k, v in id2label.items()}
        if len(id2label) != num_labels:
            raise ValueError(f"`id2label` has {len(id2label)} entries but the probe has {num_labels} classes")
    config = VJEPA2Config(**config_dict, num_labels=num_labels)
    if id2label is not None:
        config.id2label = id2label
        config.label2id = {v: k for k, v in id2label.items()}
    return config


def convert_official_probe(
    probe: str | os.PathLike | Mapping[str, Any],
    backbone: Any,
    *,
    arch: str | None = None,
    backbone_config: VJEPA2Config | None = None,
    encoder_key: str = "encoder",
    classifier_index: int = 0,
    id2label: Mapping[int, str] | None = None,
    frames_per_clip: int | None = None,
    num_attention_heads: int = OFFICIAL_PROBE_NUM_HEADS,
    layer_norm_eps: float = OFFICIAL_PROBE_LAYER_NORM_EPS,
    pooler_input_layers: list[int] | None = None,
    dtype: torch.dtype | None = None,
):
    """Build a classifier (or, for an EK100 probe, an anticipation model) from an official probe and a backbone.

    Args:
        probe: an official probe file (`{"classifiers": [...], ...}`), the loaded dict, or one probe state dict.
        backbone: a [`VJEPA2Model`], a model folder / Hub repo (ours or transformers'), or an official pretraining
            `.pt` file / dict (then `arch` is required).
        arch: official architecture of a `.pt` backbone (`vit_large`, `vit_huge`, `vit_giant`, `vit_giant_384`).
        backbone_config: the config of a `.pt` backbone of another size (instead of `arch`).
        encoder_key: which encoder of an official `.pt` backbone: `"encoder"` (what the hub and transformers'
            classifiers use) or `"target_encoder"` (what the official eval configs load).
        classifier_index: which of the file's probes (the official files hold one per grid-search head).
        id2label: class names (defaults to `LABEL_i`).
        frames_per_clip: frames the probe was trained on (16 for SSv2 ViT-L, 32 for Diving48, 64 for ViT-g-384
            SSv2): written to the config (`frames_per_clip`, `num_frames`) for the processor and the pipeline.
        num_attention_heads, layer_norm_eps: probe heads and eps (released probes: 16 and 1e-5).
        pooler_input_layers: the encoder blocks of a multi-level probe (Diving48 / Jester; ViT-L `[17, 19, 21, 23]`,
            ViT-g `[24, 29, 34, 39]`); the file does not record them.
        dtype: cast the weights.

    Returns:
        [`VJEPA2ForVideoClassification`], or [`VJEPA2ForActionAnticipation`] when the probe has verb / noun / action
        heads. Eval mode, backbone frozen.

    Raises:
        ValueError: unknown or missing keys, or shapes that do not match the backbone.
    """
    from .modeling_anticipation import VJEPA2ForActionAnticipation
    from .modeling_probe import VJEPA2ForVideoClassification

    probe_state = load_official_probe_state_dict(probe, classifier_index)
    base = _load_backbone(backbone, arch, backbone_config, encoder_key, dtype)
    config_dict = _probe_config_dict(base, probe_state, num_attention_heads, layer_norm_eps, pooler_input_layers,
                                     frames_per_clip)
    is_anticipation = any(k.startswith(_ANTICIPATION_HEADS) for k in probe_state)
    has_predictor = getattr(base, "predictor", None) is not None
    if is_anticipation and not has_predictor:
        raise ValueError("an EK100 anticipation probe needs a backbone with its predictor (a full VJEPA2Model)")
    config_dict["keep_predictor"] = has_predictor
    if is_anticipation:
        config, model_class = _anticipation_config(config_dict, probe_state), VJEPA2ForActionAnticipation
    else:
        config, model_class = _classifier_config(config_dict, probe_state, id2label), VJEPA2ForVideoClassification

    with torch.device("meta"):
        model = model_class(config)
    state = {f"vjepa2.{k}": v for k, v in base.state_dict().items()}
    state.update(probe_state)
    check_state_dict(model, state, "official probe + backbone")
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    model.freeze_backbone()
    return model.eval()
