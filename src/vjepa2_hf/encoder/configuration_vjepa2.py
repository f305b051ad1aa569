"""Configuration of the V-JEPA 2 encoder and predictor."""

from __future__ import annotations

import numbers
from typing import Any

from transformers import PretrainedConfig

# Released V-JEPA 2 models (official `vit_large`, `vit_huge`, `vit_giant_xformers`; hub `facebook/vjepa2-*`).
# ViT-g is `vit_giant_xformers`: 22 heads of 64 channels (not the 16-head `vit_giant`).
_PREDICTOR = dict(
    pred_hidden_size=384,
    pred_num_hidden_layers=12,
    pred_num_attention_heads=12,
    pred_num_mask_tokens=10,
    pred_mlp_ratio=4.0,
)
PRESETS: dict[str, dict[str, Any]] = {
    "vit_large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, mlp_ratio=4.0, crop_size=256),
    "vit_huge": dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16, mlp_ratio=4.0, crop_size=256),
    "vit_giant": dict(hidden_size=1408, num_hidden_layers=40, num_attention_heads=22, mlp_ratio=48 / 11, crop_size=256),
    "vit_giant_384": dict(
        hidden_size=1408, num_hidden_layers=40, num_attention_heads=22, mlp_ratio=48 / 11, crop_size=384
    ),
    # A few-MB model for tests and CPU demos.
    "tiny": dict(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        mlp_ratio=4.0,
        patch_size=8,
        crop_size=64,
        frames_per_clip=8,
        pred_hidden_size=32,
        pred_num_hidden_layers=2,
        pred_num_attention_heads=4,
        pred_num_mask_tokens=2,
    ),
}
for _name in ("vit_large", "vit_huge", "vit_giant", "vit_giant_384"):
    PRESETS[_name] = {**_PREDICTOR, "frames_per_clip": 64, **PRESETS[_name]}
# V-JEPA 2.1 (official `src/hub/backbones.py::_make_vjepa2_1_model`): 384 px, an image tokenizer for single frames,
# modality embeddings, interleaved and interpolated RoPE, hierarchical outputs (`norms_block`) at four layers.
# ViT-B/L are distilled from ViT-G: one output level and a predictor of teacher width; ViT-g/G have four levels.
_V21_COMMON = dict(
    crop_size=384,
    frames_per_clip=64,
    use_rope_interleave=True,
    interpolate_rope=True,
    use_modality_embeddings=True,
    use_image_patch_embedder=True,
    return_all_tokens=True,
    pred_hidden_size=384,
    pred_num_attention_heads=12,
    pred_num_mask_tokens=8,
    pred_mlp_ratio=4.0,
)
V21_TEACHER_EMBED_DIM = 1664  # ViT-G/16, the teacher of the distilled ViT-B and ViT-L
PRESETS.update(
    vjepa2_1_vit_base_384=dict(
        _V21_COMMON, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, mlp_ratio=4.0,
        hierarchical_layers=[2, 5, 8, 11], num_distillation_outputs=1, teacher_embed_dim=V21_TEACHER_EMBED_DIM,
        pred_num_hidden_layers=12,
    ),
    vjepa2_1_vit_large_384=dict(
        _V21_COMMON, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, mlp_ratio=4.0,
        hierarchical_layers=[5, 11, 17, 23], num_distillation_outputs=1, teacher_embed_dim=V21_TEACHER_EMBED_DIM,
        pred_num_hidden_layers=12,
    ),
    vjepa2_1_vit_giant_384=dict(
        _V21_COMMON, hidden_size=1408, num_hidden_layers=40, num_attention_heads=22, mlp_ratio=48 / 11,
        hierarchical_layers=[9, 19, 29, 39], num_distillation_outputs=4, pred_num_hidden_layers=24,
    ),
    vjepa2_1_vit_gigantic_384=dict(
        _V21_COMMON, hidden_size=1664, num_hidden_layers=48, num_attention_heads=26, mlp_ratio=64 / 13,
        hierarchical_layers=[11, 23, 37, 47], num_distillation_outputs=4, pred_num_hidden_layers=24,
    ),
)
# The tiny test model with every 2.1 switch on: two levels, a predictor that also predicts the context tokens.
PRESETS["vjepa2_1_tiny"] = dict(
    PRESETS["tiny"],
    use_rope_interleave=True,
    interpolate_rope=True,
    rope_pretrained_grid_size=8,
    use_modality_embeddings=True,
    use_image_patch_embedder=True,
    return_all_tokens=True,
    hierarchical_layers=[0, 1],
    num_distillation_outputs=2,
)
#: Official encoder entry of each released 2.1 checkpoint (`src/hub/backbones.py`).
V21_ENCODER_KEYS = {
    "vjepa2_1_vit_base_384": "ema_encoder",
    "vjepa2_1_vit_large_384": "ema_encoder",
    "vjepa2_1_vit_giant_384": "target_encoder",
    "vjepa2_1_vit_gigantic_384": "target_encoder",
}
PRESET_ALIASES = {"vitl": "vit_large", "vith": "vit_huge", "vitg": "vit_giant", "vitg-384": "vit_giant_384"}
# Hub repos of the released backbones, by preset.
HUB_REPOS = {
    "vit_large": "facebook/vjepa2-vitl-fpc64-256",
    "vit_huge": "facebook/vjepa2-vith-fpc64-256",
    "vit_giant": "facebook/vjepa2-vitg-fpc64-256",
    "vit_giant_384": "facebook/vjepa2-vitg-fpc64-384",
}


_POSITIVE_INTEGERS = (
    "patch_size", "crop_size", "frames_per_clip", "tubelet_size", "hidden_size", "in_chans", "num_attention_heads",
    "num_hidden_layers", "pred_hidden_size", "pred_num_attention_heads", "pred_num_hidden_layers", "num_frames",
)


class VJEPA2Config(PretrainedConfig):
    r"""Configuration of [`VJEPA2Model`]: a ViT video encoder with 3-D RoPE and a mask-token predictor.

    Field names are a superset of transformers' `VJEPA2Config`, so the `config.json` of a `facebook/vjepa2-*`
    repository loads as is. Defaults are ViT-L/16 at 256 px (`facebook/vjepa2-vitl-fpc64-256`).

    Args:
        patch_size (`int`, defaults to 16): spatial patch size of the Conv3d tubelet embedding.
        crop_size (`int`, defaults to 256): resolution of the released model. It does **not** fix RoPE
            positions: those follow the grid of each input.
        frames_per_clip (`int`, defaults to 64): frames at pretraining (informative; any even count works).
        tubelet_size (`int`, defaults to 2): temporal size of the tubelet.
        hidden_size, num_hidden_layers, num_attention_heads, mlp_ratio: encoder width, depth, heads, MLP ratio.
        in_chans (`int`, defaults to 3): input channels.
        layer_norm_eps (`float`, defaults to 1e-6): LayerNorm epsilon of encoder and predictor.
        qkv_bias (`bool`, defaults to True): bias on the fused qkv projection.
        drop_path_rate (`float`): stochastic depth, linearly increasing over the blocks.
        attention_probs_dropout_prob (`float`): attention dropout in training.
        hidden_act (`str`, defaults to "gelu"): exact-erf GELU, as the released models.
        initializer_range (`float`, defaults to 0.02): truncated-normal std.
        pred_*: predictor width, depth, heads, number of mask tokens, MLP ratio; `pred_zero_init_mask_tokens`
            starts mask tokens at zero.
        num_pooler_layers (`int`, defaults to 3): self-attention blocks of the attentive probe (plus one
            cross-attention block).
        attention_dropout (`float`): dropout in the attentive probe.
        pooler_num_attention_heads (`int`, *optional*): heads of the attentive probe; `None` uses the encoder's
            (transformers' classifier), the official probes use 16.
        pooler_layer_norm_eps (`float`, *optional*): LayerNorm eps of the attentive probe; `None` uses
            `layer_norm_eps` (transformers' classifier), the official probes use 1e-5.
        num_frames (`int`, *optional*): frames the video-classification pipeline samples per clip; defaults to
            `frames_per_clip`.
        rope_theta (`float`, defaults to 10000): RoPE base.

        V-JEPA 2.1 switches (names of transformers PR 45497 where it has them; all off for V-JEPA 2):
        use_rope_interleave (`bool`): RoPE angles repeated per channel pair (`repeat_interleave`) instead of
            V-JEPA 2's tiled halves.
        interpolate_rope (`bool`): scale row and column positions by `(rope_pretrained_grid_size - 1) / (grid - 1)`,
            so that any resolution spans the position range of pretraining.
        rope_pretrained_grid_size (`int`, *optional*): the grid of that range; defaults to the official
            `256 // patch_size` (16 for patch 16; `252 // 14` for patch 14).
        use_image_patch_embedder (`bool`): single-frame inputs go through a tubelet-1 image tokenizer
            (`patch_embed_img`) instead of being repeated to fill the video tubelet.
        use_modality_embeddings (`bool`): learned image / video embeddings added after the tokenizer (and in the
            predictor when `use_image_patch_embedder`).
        hierarchical_layers (`list[int]`, *optional*): blocks with their own LayerNorm (`norms_block`); the plain
            output is the last of these norms applied to the last block (no separate final norm).
        num_distillation_outputs (`int`, defaults to 1): levels of the hierarchical output (the last ones of
            `hierarchical_layers`), which the predictor consumes and predicts.
        teacher_embed_dim (`int`, *optional*): width of the predictor output over all levels (the distilled
            ViT-B/L predict their ViT-G teacher's 1664 channels); `None` uses `hidden_size` per level.
        return_all_tokens (`bool`): the predictor also predicts the context tokens (`predictor_proj_context`).
        check_finite_inputs (`bool`, defaults to True): the encoder's forward raises a `ValueError` counting the NaN /
            Inf values of `pixel_values_videos` (one `isfinite` pass; False skips it, e.g. for CUDA-graph capture).
    """

    model_type = "vjepa2_hf"

    def __init__(
        self,
        patch_size: int = 16,
        crop_size: int = 256,
        frames_per_clip: int = 64,
        tubelet_size: int = 2,
        hidden_size: int = 1024,
        in_chans: int = 3,
        num_attention_heads: int = 16,
        num_hidden_layers: int = 24,
        drop_path_rate: float = 0.0,
        mlp_ratio: float = 4.0,
        layer_norm_eps: float = 1e-6,
        qkv_bias: bool = True,
        attention_probs_dropout_prob: float = 0.0,
        hidden_act: str = "gelu",
        initializer_range: float = 0.02,
        attention_dropout: float = 0.0,
        num_pooler_layers: int = 3,
        pred_hidden_size: int = 384,
        pred_num_attention_heads: int = 12,
        pred_num_hidden_layers: int = 12,
        pred_num_mask_tokens: int = 10,
        pred_zero_init_mask_tokens: bool = True,
        pred_mlp_ratio: float = 4.0,
        pooler_num_attention_heads: int | None = None,
        pooler_layer_norm_eps: float | None = None,
        num_frames: int | None = None,
        rope_theta: float = 10000.0,
        use_rope_interleave: bool = False,
        interpolate_rope: bool = False,
        rope_pretrained_grid_size: int | None = None,
        use_image_patch_embedder: bool = False,
        use_modality_embeddings: bool = False,
        hierarchical_layers: list[int] | None = None,
        num_distillation_outputs: int = 1,
        teacher_embed_dim: int | None = None,
        return_all_tokens: bool = False,
        check_finite_inputs: bool = True,
        **kwargs: Any,
    ) -> None:
        self.patch_size = patch_size
        self.crop_size = crop_size
        self.frames_per_clip = frames_per_clip
        self.tubelet_size = tubelet_size
        self.hidden_size = hidden_size
        self.in_chans = in_chans
        self.num_attention_heads = num_attention_heads
        self.num_hidden_layers = num_hidden_layers
        self.drop_path_rate = drop_path_rate
        self.mlp_ratio = mlp_ratio
        self.layer_norm_eps = layer_norm_eps
        self.qkv_bias = qkv_bias
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        self.attention_dropout = attention_dropout
        self.num_pooler_layers = num_pooler_layers
        self.pred_hidden_size = pred_hidden_size
        self.pred_num_attention_heads = pred_num_attention_heads
        self.pred_num_hidden_layers = pred_num_hidden_layers
        self.pred_num_mask_tokens = pred_num_mask_tokens
        self.pred_zero_init_mask_tokens = pred_zero_init_mask_tokens
        self.pred_mlp_ratio = pred_mlp_ratio
        self.pooler_num_attention_heads = pooler_num_attention_heads
        self.pooler_layer_norm_eps = pooler_layer_norm_eps
        self.num_frames = frames_per_clip if num_frames is None else num_frames
        self.rope_theta = rope_theta
        self._set_v21_switches(
            kwargs, use_rope_interleave, interpolate_rope, rope_pretrained_grid_size, use_image_patch_embedder,
            use_modality_embeddings, hierarchical_layers, num_distillation_outputs, teacher_embed_dim, return_all_tokens,
        )
        self.check_finite_inputs = bool(check_finite_inputs)
        # A `config.json` of transformers' `vjepa2` type loads as ours: keep our model_type so that our weight
        # conversions (split q/k/v -> fused qkv) apply and our saves say what they are.
        kwargs.pop("model_type", None)
        self._validate_sizes()  # before PretrainedConfig reads `head_dim`
        super().__init__(**kwargs)
        self._validate()

    def _set_v21_switches(
        self,
        kwargs: dict[str, Any],
        use_rope_interleave: bool,
        interpolate_rope: bool,
        rope_pretrained_grid_size: int | None,
        use_image_patch_embedder: bool,
        use_modality_embeddings: bool,
        hierarchical_layers: list[int] | None,
        num_distillation_outputs: int,
        teacher_embed_dim: int | None,
        return_all_tokens: bool,
    ) -> None:
        """Set the V-JEPA 2.1 switches (RoPE layout, image tokenizer, hierarchical outputs); pops the legacy
        `img_temporal_dim_size` from `kwargs`."""
        # an earlier name of the image tokenizer switch (official `img_temporal_dim_size=1`)
        img_temporal_dim_size = kwargs.pop("img_temporal_dim_size", None)
        if img_temporal_dim_size is not None:
            if img_temporal_dim_size != 1:
                raise ValueError(f"`img_temporal_dim_size` must be 1 (one-frame images), got {img_temporal_dim_size}")
            use_image_patch_embedder = True
        self.use_rope_interleave = use_rope_interleave
        self.interpolate_rope = interpolate_rope
        if rope_pretrained_grid_size is None:
            rope_pretrained_grid_size = (252 if self.patch_size == 14 else 256) // self.patch_size
        self.rope_pretrained_grid_size = rope_pretrained_grid_size
        self.use_image_patch_embedder = use_image_patch_embedder
        self.use_modality_embeddings = use_modality_embeddings
        self.hierarchical_layers = None if hierarchical_layers is None else [int(i) for i in hierarchical_layers]
        self.num_distillation_outputs = num_distillation_outputs
        self.teacher_embed_dim = teacher_embed_dim
        self.return_all_tokens = return_all_tokens

    def _validate(self) -> None:
        for name, width, heads in (
            ("hidden_size", self.hidden_size, self.num_attention_heads),
            ("pred_hidden_size", self.pred_hidden_size, self.pred_num_attention_heads),
        ):
            if width % heads:
                raise ValueError(f"`{name}` ({width}) must be divisible by its number of attention heads ({heads})")
            if (width // heads) % 2:
                raise ValueError(f"`{name}` / heads must be even for RoPE, got head dim {width // heads}")
        if self.hidden_act != "gelu":
            raise ValueError(f"`hidden_act` must be 'gelu' (exact erf, as the released models), got {self.hidden_act!r}")
        if self.pred_num_mask_tokens < 1:
            raise ValueError(f"`pred_num_mask_tokens` must be at least 1, got {self.pred_num_mask_tokens}")
        self._validate_v21()

    def _validate_sizes(self) -> None:
        """Sizes are positive integers and rates in range: `num_hidden_layers: -2` would build an encoder without
        blocks, `num_attention_heads: 0` divide by zero, `num_hidden_layers: 1e9` loop until memory runs out."""
        for name in _POSITIVE_INTEGERS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}")
        for name in ("mlp_ratio", "pred_mlp_ratio", "layer_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
                raise ValueError(f"`{name}` must be a number > 0, got {value!r}")
        if isinstance(self.drop_path_rate, bool) or not 0 <= self.drop_path_rate < 1:
            raise ValueError(f"`drop_path_rate` must be in [0, 1), got {self.drop_path_rate!r}")

    def _validate_v21(self) -> None:
        layers = self.hierarchical_layers
        if layers is not None:
            if not layers or sorted(set(layers)) != layers or not 0 <= layers[0] <= layers[-1] < self.num_hidden_layers:
                raise ValueError(
                    f"`hierarchical_layers` must be increasing block indices in [0, {self.num_hidden_layers}), got "
                    f"{layers}"
                )
            if not 1 <= self.num_distillation_outputs <= len(layers):
                raise ValueError(
                    f"`num_distillation_outputs` must be in [1, {len(layers)}] (the hierarchical layers), got "
                    f"{self.num_distillation_outputs}"
                )
        elif self.num_distillation_outputs != 1 or self.teacher_embed_dim is not None:
            raise ValueError("`num_distillation_outputs` > 1 and `teacher_embed_dim` need `hierarchical_layers`")
        if self.teacher_embed_dim is not None and self.teacher_embed_dim % self.num_distillation_outputs:
            raise ValueError(
                f"`teacher_embed_dim` ({self.teacher_embed_dim}) must be divisible by `num_distillation_outputs` "
                f"({self.num_distillation_outputs})"
            )
        if self.interpolate_rope and self.rope_pretrained_grid_size < 2:
            raise ValueError(f"`rope_pretrained_grid_size` must be >= 2, got {self.rope_pretrained_grid_size}")

    @property
    def is_vjepa2_1(self) -> bool:
        """True for a V-JEPA 2.1 architecture (hierarchical `norms_block` outputs)."""
        return self.hierarchical_layers is not None

    @property
    def num_hierarchical_levels(self) -> int:
        """Levels of the hierarchical output (1 for V-JEPA 2)."""
        return self.num_distillation_outputs if self.is_vjepa2_1 else 1

    @property
    def pred_output_size(self) -> int:
        """Channels the predictor outputs per token (all levels)."""
        if self.teacher_embed_dim is not None:
            return self.teacher_embed_dim
        return self.hidden_size * self.num_hierarchical_levels

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs: Any) -> "VJEPA2Config":
        """Load a config of ours or of transformers' `vjepa2` type (same architecture, same field names)."""
        config_dict, kwargs = cls.get_config_dict(pretrained_model_name_or_path, **kwargs)
        if config_dict.get("model_type") == "vjepa2":
            config_dict = {key: value for key, value in config_dict.items() if key != "model_type"}
        return cls.from_dict(config_dict, **kwargs)

    @property
    def intermediate_size(self) -> int:
        """Width of the encoder MLP (`int(hidden_size * mlp_ratio)`: 4096 for ViT-L, 6144 for ViT-g)."""
        return int(self.hidden_size * self.mlp_ratio)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "VJEPA2Config":
        """Build the configuration of a released model or of the tiny test model.

        Args:
            name: one of `vit_large`, `vit_huge`, `vit_giant`, `vit_giant_384`, `tiny` (aliases `vitl`, `vith`,
                `vitg`, `vitg-384`), or V-JEPA 2.1's `vjepa2_1_vit_base_384`, `vjepa2_1_vit_large_384`,
                `vjepa2_1_vit_giant_384`, `vjepa2_1_vit_gigantic_384`.
            overrides: fields to change.
        """
        key = PRESET_ALIASES.get(name, name)
        if key not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS) + sorted(PRESET_ALIASES)}")
        return cls(**{**PRESETS[key], **overrides})


__all__ = ["VJEPA2Config", "PRESETS", "HUB_REPOS", "V21_ENCODER_KEYS"]


def clip_num_frames(config: Any, num_frames: int | None = None) -> int:
    """Frames per clip a classifier reads: `num_frames` when given, else `config.num_frames` (ours), else
    `config.frames_per_clip` (transformers' `VJEPA2Config` has no `num_frames`). The one place this rule lives."""
    if num_frames is not None:
        return int(num_frames)
    return int(getattr(config, "num_frames", None) or config.frames_per_clip)


__all__ += ["clip_num_frames"]
