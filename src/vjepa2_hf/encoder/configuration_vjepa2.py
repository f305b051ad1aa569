"""Configuration of the V-JEPA 2 encoder and predictor."""

from __future__ import annotations

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
PRESET_ALIASES = {"vitl": "vit_large", "vith": "vit_huge", "vitg": "vit_giant", "vitg-384": "vit_giant_384"}
# Hub repos of the released backbones, by preset.
HUB_REPOS = {
    "vit_large": "facebook/vjepa2-vitl-fpc64-256",
    "vit_huge": "facebook/vjepa2-vith-fpc64-256",
    "vit_giant": "facebook/vjepa2-vitg-fpc64-256",
    "vit_giant_384": "facebook/vjepa2-vitg-fpc64-384",
}


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
        self.check_finite_inputs = bool(check_finite_inputs)
        # A `config.json` of transformers' `vjepa2` type loads as ours: keep our model_type so that our weight
        # conversions (split q/k/v -> fused qkv) apply and our saves say what they are.
        kwargs.pop("model_type", None)
        super().__init__(**kwargs)
        self._validate()

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
                `vitg`, `vitg-384`).
            overrides: fields to change.
        """
        key = PRESET_ALIASES.get(name, name)
        if key not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS) + sorted(PRESET_ALIASES)}")
        return cls(**{**PRESETS[key], **overrides})


__all__ = ["VJEPA2Config", "PRESETS", "HUB_REPOS"]
