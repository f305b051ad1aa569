"""Checkpoint layouts of V-JEPA 2 and the maps between them.

Three layouts hold the same weights:

* **internal** (this package): `encoder.layer.{i}.attention.qkv` fused as the official code (`[q | k | v]` rows),
  `predictor.embeddings.mask_tokens` stacked `[n, 1, 1, D]`.
* **transformers** (`facebook/vjepa2-*` repos, transformers' `VJEPA2Model`): the same names with the projection
  split into `attention.query/key/value`.
* **official** (`vitl.pt`, ...): a dict with `encoder`, `target_encoder`, `predictor` state dicts whose keys carry
  `module.` / `backbone.` prefixes, `blocks.{i}.attn.qkv`, `norm`, `predictor_blocks`, `mask_tokens.{i}`.

Every conversion is strict: a missing, unexpected or wrongly shaped key raises a `ValueError` listing them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from transformers.conversion_mapping import register_checkpoint_conversion_mapping
from transformers.core_model_loading import Concatenate, WeightConverter

from ..strict_loading import check_state_dict
from .configuration_vjepa2 import VJEPA2Config

_QKV = ("query", "key", "value")


# --------------------------------------------------------------------------------------------------------------
# transformers <-> internal
# --------------------------------------------------------------------------------------------------------------


def split_qkv(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Internal (fused `qkv`) -> transformers layout (`query`, `key`, `value`)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if ".attention.qkv." in key:
            for name, part in zip(_QKV, value.chunk(3, dim=0)):
                out[key.replace(".attention.qkv.", f".attention.{name}.")] = part.clone()
        else:
            out[key] = value
    return out


def fuse_qkv(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers layout (`query`, `key`, `value`) -> internal (fused `qkv`). Already fused keys pass through."""
    out: dict[str, torch.Tensor] = {}
    pending: dict[str, dict[str, torch.Tensor]] = {}
    pattern = re.compile(r"^(.*\.attention)\.(query|key|value)\.(weight|bias)$")
    for key, value in state_dict.items():
        match = pattern.match(key)
        if match is None:
            out[key] = value
            continue
        prefix, part, kind = match.groups()
        pending.setdefault(f"{prefix}.qkv.{kind}", {})[part] = value
    for key, parts in pending.items():
        missing = [name for name in _QKV if name not in parts]
        if missing:
            raise ValueError(f"cannot fuse {key}: the checkpoint lacks its {', '.join(missing)} part(s)")
        out[key] = torch.cat([parts[name] for name in _QKV], dim=0)
    return out


def register_qkv_conversion(model_type: str) -> None:
    """Let `from_pretrained` read transformers-layout repos (split q/k/v) into our fused layout, and let
    `save_pretrained` write them back split, for every model whose config has `model_type`."""
    converters = [
        WeightConverter(
            source_patterns=[f"attention.{name}.{kind}" for name in _QKV],
            target_patterns=f"attention.qkv.{kind}",
            operations=[Concatenate(dim=0)],
        )
        for kind in ("weight", "bias")
    ]
    try:
        register_checkpoint_conversion_mapping(model_type, converters)
    except ValueError:  # already registered (module reloaded)
        pass


register_qkv_conversion(VJEPA2Config.model_type)


# --------------------------------------------------------------------------------------------------------------
# official <-> internal
# --------------------------------------------------------------------------------------------------------------

OFFICIAL_ARCHS = {
    "vit_large": "vit_large",
    "vit_huge": "vit_huge",
    "vit_giant": "vit_giant",
    "vit_giant_xformers": "vit_giant",
    "vit_giant_384": "vit_giant_384",
    "vitl": "vit_large",
    "vith": "vit_huge",
    "vitg": "vit_giant",
    "vitg-384": "vit_giant_384",
    # V-JEPA 2.1: preset names (official hub names) and the stems of the released files
    "vjepa2_1_vit_base_384": "vjepa2_1_vit_base_384",
    "vjepa2_1_vit_large_384": "vjepa2_1_vit_large_384",
    "vjepa2_1_vit_giant_384": "vjepa2_1_vit_giant_384",
    "vjepa2_1_vit_gigantic_384": "vjepa2_1_vit_gigantic_384",
    "vjepa2_1_vitb_dist_vitG_384": "vjepa2_1_vit_base_384",
    "vjepa2_1_vitl_dist_vitG_384": "vjepa2_1_vit_large_384",
    "vjepa2_1_vitg_384": "vjepa2_1_vit_giant_384",
    "vjepa2_1_vitG_384": "vjepa2_1_vit_gigantic_384",
}
ENCODER_KEYS = ("encoder", "target_encoder", "ema_encoder")


def default_encoder_key(config: VJEPA2Config) -> str:
    """The official encoder entry a config's released checkpoint is built from (`src/hub/backbones.py`):
    `encoder` for V-JEPA 2, `ema_encoder` for the distilled 2.1 ViT-B/L (`teacher_embed_dim` set), `target_encoder`
    for the 2.1 ViT-g/G."""
    if not config.is_vjepa2_1:
        return "encoder"
    return "ema_encoder" if config.teacher_embed_dim is not None else "target_encoder"

# V-JEPA 2.1 encoder parameters outside the blocks: official name -> internal name (below `encoder.`)
_V21_ENCODER_NAMES = {
    "patch_embed_img.": "embeddings.image_patch_embeddings.",
    "img_mod_embed": "embeddings.image_modality_embedding",
    "video_mod_embed": "embeddings.video_modality_embedding",
    "norms_block.": "norms_block.",
}
_V21_PREDICTOR_NAMES = {
    "predictor_proj_context.": "proj_context.",
    "img_mod_embed": "image_modality_embedding",
    "video_mod_embed": "video_modality_embedding",
}


def _rename_prefix(key: str, names: Mapping[str, str]) -> str | None:
    for official, internal in names.items():
        if key == official or (official.endswith(".") and key.startswith(official)):
            return internal + key[len(official):]
    return None


def strip_official_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the `module.` (DDP) and `backbone.` (multi-sequence wrapper) prefixes of official keys."""
    return {key.replace("module.", "").replace("backbone.", ""): value for key, value in state_dict.items()}


def _rename_official_block(key: str, official_prefix: str, internal_prefix: str) -> str | None:
    match = re.match(rf"^{official_prefix}\.(\d+)\.(.+)$", key)
    if match is None:
        return None
    index, rest = match.groups()
    rest = rest.replace("attn.qkv.", "attention.qkv.").replace("attn.proj.", "attention.proj.")
    return f"{internal_prefix}.{index}.{rest}"


def official_encoder_to_internal(state_dict: Mapping[str, torch.Tensor], prefix: str = "encoder") -> dict:
    """Official encoder state dict (prefixes already stripped) -> internal keys under `prefix`."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        v21 = _rename_prefix(key, _V21_ENCODER_NAMES)
        if v21 is not None:
            new = f"{prefix}.{v21}"
        elif key.startswith("patch_embed."):
            new = f"{prefix}.embeddings.patch_embeddings." + key[len("patch_embed."):]
        elif key.startswith("norm."):
            new = f"{prefix}.layernorm." + key[len("norm."):]
        elif key == "pos_embed":
            raise ValueError("this checkpoint has an absolute `pos_embed`: it is not a RoPE V-JEPA 2 encoder")
        else:
            new = _rename_official_block(key, "blocks", f"{prefix}.layer")
            if new is None:
                raise ValueError(f"unexpected key in the official encoder state dict: {key!r}")
        out[new] = value
    return out


def official_predictor_to_internal(state_dict: Mapping[str, torch.Tensor], prefix: str = "predictor") -> dict:
    """Official predictor state dict (prefixes already stripped) -> internal keys under `prefix`."""
    out: dict[str, torch.Tensor] = {}
    mask_tokens: dict[int, torch.Tensor] = {}
    for key, value in state_dict.items():
        v21 = _rename_prefix(key, _V21_PREDICTOR_NAMES)
        if v21 is not None:
            out[f"{prefix}.{v21}"] = value
        elif key.startswith("mask_tokens."):
            mask_tokens[int(key.split(".")[1])] = value
        elif key.startswith("predictor_embed."):
            out[f"{prefix}.embeddings.predictor_embeddings." + key[len("predictor_embed."):]] = value
        elif key.startswith("predictor_norm."):
            out[f"{prefix}.layernorm." + key[len("predictor_norm."):]] = value
        elif key.startswith("predictor_proj."):
            out[f"{prefix}.proj." + key[len("predictor_proj."):]] = value
        elif key == "predictor_pos_embed":
            raise ValueError("this predictor has an absolute `predictor_pos_embed`: it is not a RoPE predictor")
        else:
            new = _rename_official_block(key, "predictor_blocks", f"{prefix}.layer")
            if new is None:
                raise ValueError(f"unexpected key in the official predictor state dict: {key!r}")
            out[new] = value
    if mask_tokens:
        if sorted(mask_tokens) != list(range(len(mask_tokens))):
            raise ValueError(f"official mask tokens are not numbered 0..n-1: {sorted(mask_tokens)}")
        out[f"{prefix}.embeddings.mask_tokens"] = torch.stack([mask_tokens[i] for i in range(len(mask_tokens))])
    return out


def internal_to_official(state_dict: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """Internal `VJEPA2Model` state dict -> `{"encoder": ..., "predictor": ...}` with official key names
    (without the `module.backbone.` training prefixes, as the official hub loader accepts them)."""
    encoder: dict[str, torch.Tensor] = {}
    predictor: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("encoder."):
            rest = key[len("encoder."):]
            v21 = _rename_prefix(rest, {v: k for k, v in _V21_ENCODER_NAMES.items()})
            if v21 is not None:
                encoder[v21] = value
                continue
            rest = rest.replace("embeddings.patch_embeddings.", "patch_embed.").replace("layernorm.", "norm.")
            rest = re.sub(r"^layer\.(\d+)\.attention\.", r"blocks.\1.attn.", rest)
            rest = re.sub(r"^layer\.(\d+)\.", r"blocks.\1.", rest)
            encoder[rest] = value
        elif key.startswith("predictor."):
            rest = key[len("predictor."):]
            if rest == "embeddings.mask_tokens":
                for i, token in enumerate(value):
                    predictor[f"mask_tokens.{i}"] = token.clone()
                continue
            v21 = _rename_prefix(rest, {v: k for k, v in _V21_PREDICTOR_NAMES.items()})
            if v21 is not None:
                predictor[v21] = value
                continue
            rest = rest.replace("embeddings.predictor_embeddings.", "predictor_embed.")
            rest = rest.replace("layernorm.", "predictor_norm.")
            rest = re.sub(r"^proj\.", "predictor_proj.", rest)
            rest = re.sub(r"^layer\.(\d+)\.attention\.", r"predictor_blocks.\1.attn.", rest)
            rest = re.sub(r"^layer\.(\d+)\.", r"predictor_blocks.\1.", rest)
            predictor[rest] = value
        else:
            raise ValueError(f"unexpected key for the official layout: {key!r}")
    return {"encoder": encoder, "predictor": predictor}


def load_official_file(path: str | os.PathLike) -> dict:
    """`torch.load(path, weights_only=True)` with a clear error for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"official checkpoint not found: {path}")
    from ..checkpoint_files import describe_torch_file

    kind = describe_torch_file(path)
    if kind == "other":
        raise ValueError(
            f"{path} is not a PyTorch checkpoint (neither a zip archive written by torch.save nor a legacy pickle "
            f"checkpoint; {path.stat().st_size} bytes)"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=kind == "zip")
    except Exception as error:  # truncated zip, pickle with code objects, ...
        if "Weights only load failed" in str(error):  # not torch's advice to retry unsafely: say what was refused
            found = re.search(r"GLOBAL ([\w.]+)", str(error))
            what = f"the global {found.group(1)}" if found else "an object outside tensors and plain containers"
            raise ValueError(
                f"{path} is refused as unsafe: its pickle asks for {what}, which could run code on loading; a "
                "checkpoint of tensors and plain containers never does, so the file is not loaded"
            ) from None
        state = "truncated or corrupt" if kind == "zip" else "unreadable"
        raise ValueError(f"{path} is a {state} PyTorch checkpoint ({type(error).__name__}: {error})") from error


def convert_official_checkpoint(
    path_or_state_dict: str | os.PathLike | Mapping,
    arch: str = "vit_large",
    encoder_key: str | None = None,
    include_predictor: bool = True,
    config: VJEPA2Config | None = None,
    dtype: torch.dtype | None = None,
):
    """Build a [`VJEPA2Model`] (or [`VJEPA2VisionModel`]) from an official V-JEPA 2 checkpoint.

    Args:
        path_or_state_dict: a released `.pt` file (`vitl.pt`, `vith.pt`, `vitg.pt`, `vitg-384.pt`) or the loaded dict
            with `encoder` / `target_encoder` / `predictor` entries (`module.` and `backbone.` prefixes allowed).
        arch: `vit_large`, `vit_huge`, `vit_giant` (= official `vit_giant_xformers`, 22 heads) or `vit_giant_384`;
            V-JEPA 2.1: `vjepa2_1_vit_base_384`, `vjepa2_1_vit_large_384`, `vjepa2_1_vit_giant_384`,
            `vjepa2_1_vit_gigantic_384` (or the file stems `vjepa2_1_vitb_dist_vitG_384`, ...).
        encoder_key: which encoder to take (`encoder`, `target_encoder` or `ema_encoder`). `None` takes the one the
            official torch.hub builds the model from: `"encoder"` for V-JEPA 2 (also the `facebook/vjepa2-*` Hub
            repos; the official frozen evaluations load `"target_encoder"`, the EMA weights), `"ema_encoder"` for
            the distilled 2.1 ViT-B/L, `"target_encoder"` for the 2.1 ViT-g/G.
        include_predictor: also load the predictor (returns a `VJEPA2Model`; otherwise a `VJEPA2VisionModel`).
        config: a config to use instead of the `arch` preset (e.g. a custom size).
        dtype: cast the weights (e.g. `torch.bfloat16`) while building; no float32 copy is made for bf16 files.

    Raises:
        ValueError: unknown arch, missing entries, or any missing / unexpected / wrongly shaped key.
    """
    from .modeling_vjepa2 import VJEPA2Model, VJEPA2VisionModel

    if config is None:
        from .configuration_vjepa2 import PRESETS

        if arch not in OFFICIAL_ARCHS and arch not in PRESETS:
            raise ValueError(f"unknown arch {arch!r}; expected one of {sorted(OFFICIAL_ARCHS)} (or 'tiny')")
        config = VJEPA2Config.from_preset(OFFICIAL_ARCHS.get(arch, arch))
    if encoder_key is None:
        encoder_key = default_encoder_key(config)
    if encoder_key not in ENCODER_KEYS:
        raise ValueError(f"`encoder_key` must be one of {list(ENCODER_KEYS)}, got {encoder_key!r}")
    source = "<state dict>"
    checkpoint = path_or_state_dict
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        source = str(path_or_state_dict)
        checkpoint = load_official_file(path_or_state_dict)
    if not isinstance(checkpoint, Mapping) or encoder_key not in checkpoint:
        found = sorted(checkpoint) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise ValueError(f"official checkpoint {source} has no {encoder_key!r} entry; found {found}")
    state = official_encoder_to_internal(strip_official_prefixes(checkpoint[encoder_key]))
    if include_predictor:
        if "predictor" not in checkpoint:
            raise ValueError(f"official checkpoint {source} has no 'predictor' entry; pass include_predictor=False")
        state.update(official_predictor_to_internal(strip_official_prefixes(checkpoint["predictor"])))
    model_class = VJEPA2Model if include_predictor else VJEPA2VisionModel
    with torch.device("meta"):
        model = model_class(config)
    check_state_dict(model, state, source)
    if dtype is not None:
        state = {key: value.to(dtype) for key, value in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


__all__ = [
    "convert_official_checkpoint",
    "default_encoder_key",
    "register_qkv_conversion",
    "export_to_transformers",
    "export_to_official",
    "to_transformers_config",
    "split_qkv",
    "fuse_qkv",
    "official_encoder_to_internal",
    "official_predictor_to_internal",
    "internal_to_official",
    "strip_official_prefixes",
    "check_state_dict",
    "load_official_file",
]


# --------------------------------------------------------------------------------------------------------------
# exports
# --------------------------------------------------------------------------------------------------------------

# Fields of transformers' own `VJEPA2Config` (5.24); an export writes exactly these.
TRANSFORMERS_CONFIG_FIELDS = (
    "patch_size", "crop_size", "frames_per_clip", "tubelet_size", "hidden_size", "in_chans", "num_attention_heads",
    "num_hidden_layers", "drop_path_rate", "mlp_ratio", "layer_norm_eps", "qkv_bias", "attention_probs_dropout_prob",
    "hidden_act", "initializer_range", "attention_dropout", "num_pooler_layers", "pred_hidden_size",
    "pred_num_attention_heads", "pred_num_hidden_layers", "pred_num_mask_tokens", "pred_zero_init_mask_tokens",
    "pred_mlp_ratio", "num_frames", "id2label", "label2id",
)


def transformers_config_dict(config: VJEPA2Config, architecture: str = "VJEPA2Model") -> dict:
    """`config.json` content that transformers' own `VJEPA2Config` reads (model type `vjepa2`)."""
    out = {name: getattr(config, name) for name in TRANSFORMERS_CONFIG_FIELDS if hasattr(config, name)}
    out["id2label"] = {str(k): v for k, v in config.id2label.items()}
    out["label2id"] = dict(config.label2id)
    out.update(model_type="vjepa2", architectures=[architecture])
    return out


def to_transformers_config(config: VJEPA2Config, **overrides):
    """transformers' own `VJEPA2Config` with the architecture of `config` (labels excluded), e.g. to build
    transformers' `VJEPA2Model` next to ours for a comparison; `overrides` change its fields."""
    import transformers

    fields = {k: getattr(config, k) for k in TRANSFORMERS_CONFIG_FIELDS if k not in ("id2label", "label2id")}
    fields.update(overrides)
    return transformers.VJEPA2Config(**fields)


def export_to_transformers(model, save_directory: str | os.PathLike, architecture: str = "VJEPA2Model") -> Path:
    """Write `model` as a folder that transformers' own `VJEPA2Model.from_pretrained` (no remote code) loads.

    The weights are written in transformers' key layout (split `query`/`key`/`value`) as `model.safetensors`, and
    `config.json` is rewritten to transformers' `vjepa2` type with its own fields only.
    """
    import json

    from .configuration_vjepa2 import VJEPA2Config as _Config

    if not isinstance(model.config, _Config):
        raise ValueError(f"`model` must be a V-JEPA 2 model of this package, got {type(model).__name__}")
    if model.config.is_vjepa2_1:
        raise ValueError(
            "transformers' VJEPA2Model has no V-JEPA 2.1 support (PR 45497 is not merged): a 2.1 model exported to it "
            "would silently compute different outputs; save it with save_pretrained or export_to_official instead"
        )
    if getattr(model.config, "pooler_num_attention_heads", None) not in (None, model.config.num_attention_heads):
        raise ValueError(
            "transformers' classifier uses the encoder's head count in its pooler; this model's pooler has "
            f"{model.config.pooler_num_attention_heads} heads, so its outputs would change in transformers"
        )
    save_directory = Path(save_directory)
    model.save_pretrained(save_directory)  # split q/k/v on disk through the registered conversion
    config_path = save_directory / "config.json"
    data = transformers_config_dict(model.config, architecture)
    config_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return save_directory


def export_to_official(model, path: str | os.PathLike, encoder_key: str | None = None) -> Path:
    """Write a `VJEPA2Model` as an official-layout `.pt` (`encoder`, `target_encoder`, `predictor` entries with the
    `module.backbone.` / `module.` prefixes of the released files). Both encoder entries hold the same weights; a
    V-JEPA 2.1 model also gets the entry its release is read from (`ema_encoder` for the distilled ViT-B/L), or
    `encoder_key` when given."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"the official format is one .pt file; {path} is a folder (name a file, e.g. model.pt)")
    state = internal_to_official({k: v.detach().cpu() for k, v in model.state_dict().items()})
    encoder = {f"module.backbone.{k}": v for k, v in state["encoder"].items()}
    checkpoint = {"encoder": encoder, "target_encoder": dict(encoder)}
    for key in {encoder_key or default_encoder_key(model.config)} - set(checkpoint):
        if key not in ENCODER_KEYS:
            raise ValueError(f"`encoder_key` must be one of {list(ENCODER_KEYS)}, got {key!r}")
        checkpoint[key] = dict(encoder)
    if state["predictor"]:
        checkpoint["predictor"] = {f"module.backbone.{k}": v for k, v in state["predictor"].items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)
    finally:  # a failed write leaves nothing behind
        tmp.unlink(missing_ok=True)
    return path
