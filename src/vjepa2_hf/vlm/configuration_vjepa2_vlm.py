"""Configuration of the V-JEPA 2 video-language model (encoder + projector + any causal LM)."""

from __future__ import annotations

import math
from typing import Any

from transformers import AutoConfig, PretrainedConfig
from transformers.utils import logging

from ..encoder.configuration_vjepa2 import VJEPA2Config

logger = logging.get_logger(__name__)

PROJECTOR_TYPES = ("mlp", "avgpool_mlp", "merge_mlp", "attentive_pool")
IMAGE_MODES = ("repeat", "tiles")


class VJEPA2VLMConfig(PretrainedConfig):
    r"""Configuration of [`VJEPA2VLMForConditionalGeneration`]: a V-JEPA 2 encoder, a projector and a causal LM.

    The composite follows transformers' LLaVA / PerceptionLM configs: `vision_config` is a [`VJEPA2Config`],
    `text_config` is the config of any `AutoModelForCausalLM` (Llama, Qwen2, a tiny test model, ...), and the special
    token ids live on the composite.

    Token arithmetic (the processor and the model share it through [`~VJEPA2VLMConfig.num_video_tokens`]):
    the encoder turns `T` frames at `H x W` into `(T / tubelet_size) * (H / patch) * (W / patch)` tokens. With the
    paper's best model (ViT-g/384, MLP projector, no pooling) that is `(384 / 16)^2 = 576` tokens per 2-frame tubelet,
    i.e. the **288 tokens per frame** of the paper: the only "pooling" is the temporal tubelet of the patch
    embedding. `avgpool_mlp` pools every tubelet's token grid by `projector_pool_stride` in both spatial axes;
    `merge_mlp` concatenates every `projector_pool_stride x projector_pool_stride` block of tokens along channels
    (Qwen2-VL's patch merger, InternVL's pixel shuffle: fewer tokens, spatial layout kept in the channels);
    `attentive_pool` replaces every tubelet's tokens with `tokens_per_tubelet / projector_pool_ratio` learned queries
    (the paper's controlled setup, Table 21: ratio 4 for ViT-L/H/g at 256 and g384, 8 for g512).

    Args:
        vision_config (`VJEPA2Config` or `dict`, *optional*): the encoder. Defaults to `VJEPA2Config()` (ViT-L/256).
        text_config (`PretrainedConfig` or `dict`, *optional*): the language model; a dict needs a `model_type`.
            Defaults to a Llama config.
        video_token_id (`int`, *optional*): id of the video placeholder token (set after adding it to the tokenizer).
        image_token_id (`int`, *optional*): id of the image placeholder token.
        projector_type (`str`, defaults to `"mlp"`): `"mlp"` (Linear-GELU-Linear, the paper's scaling run),
            `"avgpool_mlp"` (spatial average pooling per tubelet, then the MLP), `"merge_mlp"` (channel concatenation
            of `s x s` token blocks, LayerNorm, then the MLP) or `"attentive_pool"` (learned queries cross-attending
            each tubelet's tokens, then the MLP).
        projector_hidden_act (`str`, defaults to `"gelu"`): activation between the two projector linears.
        projector_bias (`bool`, defaults to True): biases of the projector linears.
        projector_pre_norm (`bool`, defaults to False): LayerNorm on the encoder features before the projector (the
            encoder output is already layer-normed; useful with `vision_feature_layer` lists).
        projector_pool_stride (`int`, defaults to 2): spatial stride of `avgpool_mlp` and block size of `merge_mlp`
            (ignored otherwise).
        projector_pool_ratio (`int`, defaults to 4): token reduction of `attentive_pool` (ignored otherwise).
        projector_num_queries (`int`, *optional*): queries per tubelet of `attentive_pool`; overrides
            `projector_pool_ratio`.
        projector_num_heads (`int`, *optional*): heads of the `attentive_pool` cross-attention (defaults to the
            encoder's).
        vision_feature_layer (`int` or `list[int]`, defaults to -1): encoder block(s) whose (final-normed) output
            feeds the projector; a list is concatenated along channels.
        num_frames (`int`, defaults to 16): frames sampled per video by the processor and the pipeline (uniformly
            over the whole video). Must be a multiple of the tubelet size.
        frames_per_clip (`int`, *optional*): encode long videos in chunks of this many frames (tokens are
            concatenated in time order). `None` encodes all frames at once (RoPE handles any length).
        freeze_vision_tower (`bool`, defaults to True): keep the encoder frozen (no gradients, eval mode).
        image_mode (`str`, defaults to `"repeat"`): images become one static tubelet (`"repeat"`) or, with
            `"tiles"`, a global view plus up to `max_image_tiles` crop-size tiles at native aspect ratio (a simple
            form of the paper's Dynamic S^2 tiling).
        max_image_tiles (`int`, defaults to 4): most local tiles per image in `"tiles"` mode.
        ignore_index (`int`, defaults to -100): label value ignored by the loss.
        tie_word_embeddings (`bool`, *optional*): defaults to the text config's value.
        attn_implementation (`str` or `dict`, *optional*): attention of every part (`"sdpa"`, `"eager"`, ...), or a
            dict per sub-config (`{"text_config": "eager", "vision_config": "sdpa"}`), as transformers' composite
            configs. Not given: a part config keeps its own choice (a loaded part's, or None, which the part's model
            resolves to sdpa when built).
    """

    model_type = "vjepa2_vlm"
    sub_configs = {"vision_config": VJEPA2Config, "text_config": AutoConfig}

    def __init__(
        self,
        vision_config: VJEPA2Config | dict | None = None,
        text_config: PretrainedConfig | dict | None = None,
        video_token_id: int | None = None,
        image_token_id: int | None = None,
        projector_type: str = "mlp",
        projector_hidden_act: str = "gelu",
        projector_bias: bool = True,
        projector_pre_norm: bool = False,
        projector_pool_stride: int = 2,
        projector_pool_ratio: int = 4,
        projector_num_queries: int | None = None,
        projector_num_heads: int | None = None,
        vision_feature_layer: int | list[int] = -1,
        num_frames: int = 16,
        frames_per_clip: int | None = None,
        freeze_vision_tower: bool = True,
        image_mode: str = "repeat",
        max_image_tiles: int = 4,
        ignore_index: int = -100,
        tie_word_embeddings: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if vision_config is None:
            vision_config = VJEPA2Config()
        elif isinstance(vision_config, dict):
            vision_config = VJEPA2Config(**{k: v for k, v in vision_config.items() if k != "model_type"})
        if text_config is None:
            text_config = AutoConfig.for_model("llama")
        elif isinstance(text_config, dict):
            if "model_type" not in text_config:
                raise ValueError("`text_config` given as a dict needs a `model_type` key (e.g. 'llama', 'qwen2')")
            text_config = dict(text_config)
            text_config = AutoConfig.for_model(text_config.pop("model_type"), **text_config)
        self.vision_config = vision_config
        self.text_config = text_config
        self.video_token_id = video_token_id
        self.image_token_id = image_token_id
        self.projector_type = projector_type
        self.projector_hidden_act = projector_hidden_act
        self.projector_bias = projector_bias
        self.projector_pre_norm = projector_pre_norm
        self.projector_pool_stride = projector_pool_stride
        self.projector_pool_ratio = projector_pool_ratio
        self.projector_num_queries = projector_num_queries
        self.projector_num_heads = projector_num_heads
        self.vision_feature_layer = (
            list(vision_feature_layer) if isinstance(vision_feature_layer, (list, tuple)) else vision_feature_layer
        )
        self.num_frames = num_frames
        self.frames_per_clip = frames_per_clip
        self.freeze_vision_tower = freeze_vision_tower
        self.image_mode = image_mode
        self.max_image_tiles = max_image_tiles
        self.ignore_index = ignore_index
        if tie_word_embeddings is None:
            tie_word_embeddings = bool(getattr(text_config, "tie_word_embeddings", False))
        attn_implementation = kwargs.pop("attn_implementation", None)
        # `PretrainedConfig.__init__` dispatches its `attn_implementation` (None when not given) to every sub-config,
        # which would erase the choice made when a part was loaded: a loaded LLM's config would then say None and its
        # attention run without the causal mask. The parts keep their own choice unless one is given here.
        kept = _attention_snapshot(vision_config) + _attention_snapshot(text_config)
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)
        for config, implementation in kept:
            config._attn_implementation_internal = implementation
        if attn_implementation is not None:
            self._attn_implementation = attn_implementation  # a str for every part, or a dict per sub-config
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        if self.projector_type not in PROJECTOR_TYPES:
            raise ValueError(f"`projector_type` must be one of {PROJECTOR_TYPES}, got {self.projector_type!r}")
        if self.image_mode not in IMAGE_MODES:
            raise ValueError(f"`image_mode` must be one of {IMAGE_MODES}, got {self.image_mode!r}")
        if self.projector_pool_stride < 1:
            raise ValueError(f"`projector_pool_stride` must be >= 1, got {self.projector_pool_stride}")
        if self.projector_pool_ratio < 1:
            raise ValueError(f"`projector_pool_ratio` must be >= 1, got {self.projector_pool_ratio}")
        if self.projector_num_queries is not None and self.projector_num_queries < 1:
            raise ValueError(f"`projector_num_queries` must be >= 1 or None, got {self.projector_num_queries}")
        ts = self.vision_config.tubelet_size
        if self.num_frames < 1 or self.num_frames % ts:
            raise ValueError(
                f"`num_frames` must be a positive multiple of the tubelet size ({ts}), got {self.num_frames}"
            )
        if self.frames_per_clip is not None and (self.frames_per_clip < ts or self.frames_per_clip % ts):
            raise ValueError(
                f"`frames_per_clip` must be None or a positive multiple of the tubelet size ({ts}), "
                f"got {self.frames_per_clip}"
            )
        if self.max_image_tiles < 1:
            raise ValueError(f"`max_image_tiles` must be >= 1, got {self.max_image_tiles}")
        layers = self.vision_feature_layers
        n = self.vision_config.num_hidden_layers
        for layer in layers:
            if not -n <= layer < n:
                raise ValueError(f"`vision_feature_layer` entries must be in [-{n}, {n}), got {layer}")
        if self.projector_type == "merge_mlp":
            gh, gw = self.grid_size()
            if gh % self.projector_pool_stride or gw % self.projector_pool_stride:
                raise ValueError(
                    f"`merge_mlp` needs the token grid {gh}x{gw} (crop / patch) divisible by `projector_pool_stride` "
                    f"({self.projector_pool_stride})"
                )
        if self.projector_type == "attentive_pool":
            heads = self.projector_num_heads or self.vision_config.num_attention_heads
            width = self.projector_input_size
            if width % heads:
                raise ValueError(
                    f"`attentive_pool` needs the projector input width ({width}) divisible by its heads ({heads}); "
                    "set `projector_num_heads`"
                )

    # ------------------------------------------------------------------ derived values
    @property
    def vision_feature_layers(self) -> list[int]:
        """`vision_feature_layer` as a list."""
        layer = self.vision_feature_layer
        return list(layer) if isinstance(layer, (list, tuple)) else [int(layer)]

    @property
    def projector_input_size(self) -> int:
        """Channels entering the projector (encoder width times the number of feature layers)."""
        return self.vision_config.hidden_size * len(self.vision_feature_layers)

    def grid_size(self, height: int | None = None, width: int | None = None) -> tuple[int, int]:
        """Spatial token grid `(H / patch, W / patch)` of a frame (defaults to the encoder's crop size)."""
        crop = self.vision_config.crop_size
        height = crop if height is None else height
        width = crop if width is None else width
        p = self.vision_config.patch_size
        return height // p, width // p

    def tokens_per_tubelet(self, height: int | None = None, width: int | None = None) -> int:
        """Language-model tokens produced by one tubelet (`tubelet_size` frames) after the projector."""
        gh, gw = self.grid_size(height, width)
        if self.projector_type == "mlp":
            return gh * gw
        if self.projector_type in ("avgpool_mlp", "merge_mlp"):
            s = self.projector_pool_stride
            return math.ceil(gh / s) * math.ceil(gw / s)
        # attentive_pool: a fixed number of queries per tubelet
        return self.attentive_num_queries

    @property
    def attentive_num_queries(self) -> int:
        """Queries per tubelet of the attentive-pool projector (at the encoder's crop size)."""
        if self.projector_num_queries is not None:
            return self.projector_num_queries
        gh, gw = self.grid_size()
        return max(1, (gh * gw) // self.projector_pool_ratio)

    def num_video_tokens(
        self, num_frames: int | None = None, height: int | None = None, width: int | None = None
    ) -> int:
        """Placeholder tokens a video of `num_frames` frames expands to.

        `num_frames` must be a multiple of the tubelet size (the processor pads by repeating the last frame).
        """
        num_frames = self.num_frames if num_frames is None else num_frames
        ts = self.vision_config.tubelet_size
        if num_frames < 1 or num_frames % ts:
            raise ValueError(f"`num_frames` must be a positive multiple of the tubelet size ({ts}), got {num_frames}")
        return (num_frames // ts) * self.tokens_per_tubelet(height, width)

    def tokens_per_frame(self) -> float:
        """Visual tokens per frame at the encoder's crop size (288 for ViT-g/384 with the MLP projector)."""
        return self.tokens_per_tubelet() / self.vision_config.tubelet_size

    def get_text_config(self, decoder: bool | None = None, encoder: bool | None = None) -> PretrainedConfig:
        return self.text_config

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output["vision_config"] = self.vision_config.to_dict()
        output["text_config"] = self.text_config.to_dict()
        return output


def _attention_snapshot(config: PretrainedConfig) -> list[tuple[PretrainedConfig, str | None]]:
    """`(config, attention implementation)` of `config` and of every sub-config below it."""
    out = [(config, config._attn_implementation)]
    for key in config.sub_configs:
        sub = getattr(config, key, None)
        if isinstance(sub, PretrainedConfig):
            out += _attention_snapshot(sub)
    return out


__all__ = ["VJEPA2VLMConfig", "PROJECTOR_TYPES", "IMAGE_MODES"]
