"""Configuration of the V-JEPA 2-AC action-conditioned predictor."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

# Released V-JEPA 2-AC predictor (official `vit_ac_predictor`, hub `vjepa2_ac_vit_giant`): 1024 wide, 24 blocks,
# 16 heads (head dim 64 -> RoPE 20/20/20 + 4 unrotated), on the 1408-d tokens of the frozen ViT-g at 256 px
# (16 x 16 = 256 tokens per frame), 7-D end-effector actions and states, built for 64 frames / tubelet 2 = 32
# frames of block-causal attention.
AC_PRESETS: dict[str, dict[str, Any]] = {
    "vit_giant": dict(
        hidden_size=1408,
        pred_hidden_size=1024,
        pred_num_hidden_layers=24,
        pred_num_attention_heads=16,
        pred_mlp_ratio=4.0,
        action_dim=7,
        state_dim=7,
        crop_size=256,
        patch_size=16,
        frames_per_clip=64,
    ),
    # A tiny predictor on the tiny encoder (`VJEPA2Config.from_preset("tiny")`: 64 px, patch 8, width 64).
    "tiny": dict(
        hidden_size=64,
        pred_hidden_size=64,
        pred_num_hidden_layers=2,
        pred_num_attention_heads=4,
        pred_mlp_ratio=4.0,
        action_dim=7,
        state_dim=7,
        crop_size=64,
        patch_size=8,
        frames_per_clip=16,
    ),
}
AC_PRESET_ALIASES = {"vitg": "vit_giant", "vjepa2-ac-vitg": "vit_giant", "vit_ac_giant": "vit_giant"}


class VJEPA2ACConfig(PretrainedConfig):
    r"""Configuration of [`VJEPA2ACPredictor`], the action-conditioned predictor of V-JEPA 2-AC.

    The predictor reads the frozen encoder's tokens of `T` frames (each frame encoded on its own), one action and
    one state per frame (and optionally camera extrinsics), and predicts the tokens of the next frame for every
    frame, with block-causal attention over frames. Defaults are the released model (`vjepa2-ac-vitg.pt`).

    Args:
        hidden_size (`int`, defaults to 1408): width of the encoder tokens (input and output of the predictor).
        pred_hidden_size (`int`, defaults to 1024): width of the predictor.
        pred_num_hidden_layers (`int`, defaults to 24): number of predictor blocks.
        pred_num_attention_heads (`int`, defaults to 16): attention heads per block.
        pred_mlp_ratio (`float`, defaults to 4.0): MLP width relative to `pred_hidden_size`.
        action_dim (`int`, defaults to 7): width of an action (7 for Franka end-effector deltas: xyz, extrinsic
            xyz Euler angles, gripper).
        state_dim (`int`, defaults to 7): width of a state (the end-effector pose).
        extrinsics_dim (`int`, *optional*): width of the camera extrinsics; `None` means `action_dim - 1` as the
            official code (6 for the Franka). The extrinsics encoder always exists (it is in the released
            checkpoint) but is only used when `use_extrinsics=True`.
        use_extrinsics (`bool`, defaults to False): add an extrinsics token per frame (3 conditioning tokens).
        crop_size (`int`, defaults to 256): encoder resolution; with `patch_size` it fixes the token grid of a frame
            (`crop_size // patch_size` squared tokens).
        patch_size (`int`, defaults to 16): encoder patch size.
        frames_per_clip (`int`, defaults to 64): the official constructor's `num_frames`; with `tubelet_size` it
            fixes the maximum number of frames the predictor accepts (`frames_per_clip // tubelet_size`, 32).
        tubelet_size (`int`, defaults to 2): encoder tubelet size (each frame is duplicated into one tubelet).
        is_frame_causal (`bool`, defaults to True): block-causal attention over frames (the released model). With
            False every token attends to every frame (no KV cache is possible then).
        layer_norm_eps (`float`, defaults to 1e-6): epsilon of the predictor's LayerNorms.
        qkv_bias (`bool`, defaults to True): bias on the fused qkv projection.
        initializer_range (`float`, defaults to 0.02): truncated-normal std of the initialisation.
        drop_path_rate (`float`, defaults to 0.0): stochastic depth, linearly increasing over the blocks.
        normalize_reps (`bool`, defaults to True): layer-normalise (no affine) encoder outputs and predictions, as
            the official training and planning code does (`normalize_reps: true`).
        rope_theta (`float`, defaults to 10000): RoPE base.
    """

    model_type = "vjepa2_ac"

    def __init__(
        self,
        hidden_size: int = 1408,
        pred_hidden_size: int = 1024,
        pred_num_hidden_layers: int = 24,
        pred_num_attention_heads: int = 16,
        pred_mlp_ratio: float = 4.0,
        action_dim: int = 7,
        state_dim: int = 7,
        extrinsics_dim: int | None = None,
        use_extrinsics: bool = False,
        crop_size: int = 256,
        patch_size: int = 16,
        frames_per_clip: int = 64,
        tubelet_size: int = 2,
        is_frame_causal: bool = True,
        layer_norm_eps: float = 1e-6,
        qkv_bias: bool = True,
        initializer_range: float = 0.02,
        drop_path_rate: float = 0.0,
        normalize_reps: bool = True,
        rope_theta: float = 10000.0,
        **kwargs: Any,
    ) -> None:
        self.hidden_size = hidden_size
        self.pred_hidden_size = pred_hidden_size
        self.pred_num_hidden_layers = pred_num_hidden_layers
        self.pred_num_attention_heads = pred_num_attention_heads
        self.pred_mlp_ratio = pred_mlp_ratio
        self.action_dim = action_dim
        self.state_dim = state_dim
        self.extrinsics_dim = action_dim - 1 if extrinsics_dim is None else extrinsics_dim
        self.use_extrinsics = use_extrinsics
        self.crop_size = crop_size
        self.patch_size = patch_size
        self.frames_per_clip = frames_per_clip
        self.tubelet_size = tubelet_size
        self.is_frame_causal = is_frame_causal
        self.layer_norm_eps = layer_norm_eps
        self.qkv_bias = qkv_bias
        self.initializer_range = initializer_range
        self.drop_path_rate = drop_path_rate
        self.normalize_reps = normalize_reps
        self.rope_theta = rope_theta
        super().__init__(**kwargs)
        self._validate()

    def _validate(self) -> None:
        if self.pred_hidden_size % self.pred_num_attention_heads:
            raise ValueError(
                f"`pred_hidden_size` ({self.pred_hidden_size}) must be divisible by `pred_num_attention_heads` "
                f"({self.pred_num_attention_heads})"
            )
        if self.head_dim % 2 or self.head_dim < 6:
            raise ValueError(f"the predictor head dim must be even and at least 6 for 3-D RoPE, got {self.head_dim}")
        for name in ("action_dim", "state_dim", "extrinsics_dim", "crop_size", "patch_size", "hidden_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        if self.crop_size % self.patch_size:
            raise ValueError(
                f"`crop_size` ({self.crop_size}) must be a multiple of `patch_size` ({self.patch_size})"
            )
        if self.max_frames < 1:
            raise ValueError(
                f"`frames_per_clip // tubelet_size` must be at least 1, got {self.frames_per_clip} // "
                f"{self.tubelet_size}"
            )

    @property
    def head_dim(self) -> int:
        return self.pred_hidden_size // self.pred_num_attention_heads

    @property
    def grid_size(self) -> int:
        """Tokens per side of one frame (16 for the released model)."""
        return self.crop_size // self.patch_size

    @property
    def tokens_per_frame(self) -> int:
        """Patch tokens of one frame (256 for the released model)."""
        return self.grid_size**2

    @property
    def num_cond_tokens(self) -> int:
        """Conditioning tokens per frame: action and state (2), plus extrinsics (3)."""
        return 3 if self.use_extrinsics else 2

    @property
    def max_frames(self) -> int:
        """Largest number of frames the predictor accepts (the official mask is built for this many)."""
        return self.frames_per_clip // self.tubelet_size

    @property
    def intermediate_size(self) -> int:
        return int(self.pred_hidden_size * self.pred_mlp_ratio)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "VJEPA2ACConfig":
        """Configuration of the released predictor (`vit_giant`, aliases `vitg`, `vjepa2-ac-vitg`) or of a tiny
        test predictor (`tiny`), with fields overridden by `overrides`."""
        key = AC_PRESET_ALIASES.get(name, name)
        if key not in AC_PRESETS:
            raise ValueError(
                f"unknown preset {name!r}; expected one of {sorted(AC_PRESETS) + sorted(AC_PRESET_ALIASES)}"
            )
        return cls(**{**AC_PRESETS[key], **overrides})


__all__ = ["VJEPA2ACConfig", "AC_PRESETS"]
