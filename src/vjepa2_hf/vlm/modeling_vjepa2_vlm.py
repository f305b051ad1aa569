"""V-JEPA 2 video-language model: V-JEPA 2 encoder -> projector -> any causal language model.

LLaVA-style early fusion, as the V-JEPA 2 paper (Sec. 7, App. E): the encoder's patch tokens go through a projector
into the language model's input-embedding space, where they replace the placeholder tokens (`<video>` expanded by
the processor to the exact number of visual tokens) with `masked_scatter`.

The language model is any `AutoModelForCausalLM`, kept whole as `self.language_model` (the pre-4.52 LLaVA layout):
every causal LM then keeps its own head, weight tying, loss and generation quirks, a plain LLM checkpoint maps onto
`language_model.*`, and PEFT sees the usual `q_proj` / `v_proj` names.
"""

from __future__ import annotations

import inspect
import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForCausalLM, GenerationConfig, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, CausalLMOutputWithPast
from transformers.utils import logging
from transformers.utils.generic import can_return_tuple

from ..encoder.modeling_vjepa2 import VJEPA2VisionModel
from .configuration_vjepa2_vlm import VJEPA2VLMConfig
from .projectors import VJEPA2VLMAttentivePoolProjector, build_projector

logger = logging.get_logger(__name__)


@dataclass
class VJEPA2VLMCausalLMOutputWithPast(CausalLMOutputWithPast):
    r"""Output of [`VJEPA2VLMForConditionalGeneration`]: the language model's output plus the visual features.

    Args:
        loss (`torch.FloatTensor` of shape `(1,)`, *optional*): shifted next-token cross-entropy over the tokens whose
            label is not `-100` (answer tokens only with the processor's labels).
        logits (`torch.FloatTensor` of shape `(batch_size, sequence_length, vocab_size)`).
        video_hidden_states (`torch.FloatTensor` of shape `(num_videos, num_video_tokens, hidden_size)`, *optional*):
            projected video features that replaced the `<video>` placeholders.
        image_hidden_states (`torch.FloatTensor` of shape `(num_images, tokens_per_image, hidden_size)`, *optional*):
            projected image (or image-tile) features that replaced the `<image>` placeholders.
    """

    video_hidden_states: torch.FloatTensor | None = None
    image_hidden_states: torch.FloatTensor | None = None


class VJEPA2VLMPreTrainedModel(PreTrainedModel):
    config_class = VJEPA2VLMConfig
    config: VJEPA2VLMConfig
    base_model_prefix = ""
    main_input_name = "input_ids"
    input_modalities = ("video", "image", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _skip_keys_device_placement = "past_key_values"

    def _init_weights(self, module: nn.Module) -> None:
        std = getattr(self.config.text_config, "initializer_range", 0.02)
        if isinstance(module, VJEPA2VLMAttentivePoolProjector):
            init.trunc_normal_(module.query_tokens, std=std)
        elif isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class VJEPA2VLMForConditionalGeneration(VJEPA2VLMPreTrainedModel, GenerationMixin):
    r"""V-JEPA 2 encoder + projector + causal language model, for video (and image) question answering.

    Args:
        config ([`VJEPA2VLMConfig`]): the composite configuration.
        vision_tower ([`VJEPA2VisionModel`], *optional*): an already loaded encoder (e.g. `from_pretrained`); built
            from `config.vision_config` otherwise.
        language_model (`PreTrainedModel`, *optional*): an already loaded causal LM; built from
            `config.text_config` with `AutoModelForCausalLM.from_config` otherwise.

    Modules: `vision_tower` (the encoder), `multi_modal_projector`, `language_model`.

    Example:

    ```python
    >>> from vjepa2_hf.vlm import VJEPA2VLMForConditionalGeneration, VJEPA2VLMProcessor
    >>> model = VJEPA2VLMForConditionalGeneration.from_pretrained("path/to/vlm", dtype=torch.bfloat16)
    >>> processor = VJEPA2VLMProcessor.from_pretrained("path/to/vlm")
    >>> messages = [{"role": "user", "content": [{"type": "video", "video": "clip.mp4"},
    ...                                          {"type": "text", "text": "What happens in the video?"}]}]
    >>> inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
    ...                                        return_dict=True, return_tensors="pt")
    >>> out = model.generate(**inputs, max_new_tokens=32)
    ```
    """

    def __init__(
        self,
        config: VJEPA2VLMConfig,
        vision_tower: VJEPA2VisionModel | None = None,
        language_model: PreTrainedModel | None = None,
    ) -> None:
        super().__init__(config)
        self.vision_tower = vision_tower if vision_tower is not None else VJEPA2VisionModel(config.vision_config)
        self.multi_modal_projector = build_projector(config)
        if language_model is None:
            language_model = AutoModelForCausalLM.from_config(config.text_config)
        self.language_model = language_model
        # One config object per part, shared with the sub-models, so `resize_token_embeddings` and friends stay in sync.
        self.config.vision_config = self.vision_tower.config
        self.config.text_config = self.language_model.config
        lm_gen = getattr(self.language_model, "generation_config", None)
        if lm_gen is not None:
            self.generation_config = GenerationConfig.from_dict(lm_gen.to_dict())
        self._cache_kwarg = (
            "cache" if "cache" in inspect.signature(self.language_model.forward).parameters else "past_key_values"
        )
        self.post_init()
        for part in (self.vision_tower, self.language_model):
            resolve_attn_implementation(part)
        self.set_vision_tower_trainable(not config.freeze_vision_tower)

    # ------------------------------------------------------------------ embeddings / parts
    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module | None:
        return self.language_model.get_output_embeddings()

    def set_output_embeddings(self, new_embeddings: nn.Module) -> None:
        self.language_model.set_output_embeddings(new_embeddings)

    def get_decoder(self) -> nn.Module:
        return self.language_model.get_decoder()

    def set_vision_tower_trainable(self, trainable: bool) -> None:
        """Freeze (default, `config.freeze_vision_tower=True`) or unfreeze the encoder.

        A frozen encoder gets no gradients, runs under `torch.no_grad()` and stays in eval mode (no drop path).
        """
        self.config.freeze_vision_tower = not trainable
        self.vision_tower.requires_grad_(trainable)
        if not trainable:
            self.vision_tower.eval()

    def train(self, mode: bool = True) -> "VJEPA2VLMForConditionalGeneration":
        super().train(mode)
        if self.config.freeze_vision_tower:
            self.vision_tower.eval()
        return self

    # ------------------------------------------------------------------ visual features
    def _check_pixels(self, pixel_values_videos: torch.Tensor, name: str) -> None:
        vc = self.config.vision_config
        if not isinstance(pixel_values_videos, torch.Tensor) or pixel_values_videos.ndim != 5:
            shape = (
                tuple(pixel_values_videos.shape)
                if isinstance(pixel_values_videos, torch.Tensor)
                else type(pixel_values_videos).__name__
            )
            raise ValueError(
                f"`{name}` must be a float tensor of shape [batch, frames, {vc.in_chans}, height, width], got {shape}"
            )
        b, t, c, h, w = pixel_values_videos.shape
        if c != vc.in_chans:
            raise ValueError(
                f"`{name}` must have {vc.in_chans} channels in dim 2 ([batch, frames, channels, height, width]), "
                f"got shape {tuple(pixel_values_videos.shape)}"
            )
        if t < 1 or t % vc.tubelet_size:
            raise ValueError(
                f"`{name}` must have a multiple of the tubelet size ({vc.tubelet_size}) frames, got {t} "
                f"(shape {tuple(pixel_values_videos.shape)}); the processor pads by repeating the last frame"
            )
        if h % vc.patch_size or w % vc.patch_size:
            raise ValueError(
                f"`{name}` height and width must be multiples of the patch size ({vc.patch_size}), got {h}x{w}"
            )
        if not pixel_values_videos.is_floating_point():
            raise ValueError(
                f"`{name}` must be a floating-point tensor (normalised pixels), got {pixel_values_videos.dtype}"
            )

    def _encode(self, pixel_values_videos: torch.Tensor, **flags) -> tuple[torch.Tensor, tuple | None, tuple | None]:
        """Encoder features `[B, N, D_in]` of a `[B, T, C, H, W]` clip (chunked by `frames_per_clip`), and the vision
        tower's hidden states and attentions when `flags` ask for them (each chunk's, joined along tokens)."""
        layers = [layer % self.config.vision_config.num_hidden_layers for layer in self.config.vision_feature_layers]
        last = self.config.vision_config.num_hidden_layers - 1
        chunk = self.config.frames_per_clip or pixel_values_videos.shape[1]
        dtype = next(self.vision_tower.parameters()).dtype
        feats, hidden, attentions = [], [], []
        for start in range(0, pixel_values_videos.shape[1], chunk):
            clip = pixel_values_videos[:, start : start + chunk].to(dtype)
            if clip.shape[1] % self.config.vision_config.tubelet_size:
                raise ValueError(
                    f"the last chunk of `frames_per_clip`={chunk} frames has {clip.shape[1]} frames, not a multiple "
                    f"of the tubelet size; use a frame count divisible by `frames_per_clip`"
                )
            out = self.vision_tower(clip, output_layers=None if layers == [last] else layers, **flags)
            feats.append(out.last_hidden_state if layers == [last] else torch.cat(out.intermediate_hidden_states, -1))
            hidden.append(out.hidden_states)
            attentions.append(out.attentions)

        def joined(per_chunk):
            return None if per_chunk[0] is None else tuple(torch.cat(level, dim=-2) for level in zip(*per_chunk))

        return torch.cat(feats, dim=1), joined(hidden), joined(attentions)

    @can_return_tuple
    def get_video_features(
        self,
        pixel_values_videos: torch.Tensor,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling:
        """Encode and project videos (transformers' `get_*_features` contract).

        Args:
            pixel_values_videos (`torch.FloatTensor` of shape `(num_videos, frames, channels, height, width)`):
                normalised frames; `frames` a multiple of the tubelet size.

        Returns:
            [`BaseModelOutputWithPooling`]: `last_hidden_state` the vision tower's features of the selected layers
            `(num_videos, num_patch_tokens, len(vision_feature_layers) * vision_hidden)`; `pooler_output` the
            projected, time-major visual tokens in the language model's embedding space, `(num_videos,
            config.num_video_tokens(frames, height, width), text_hidden)`: what `forward` takes as `video_features`;
            `hidden_states` / `attentions` of the vision tower with `output_hidden_states` / `output_attentions`
            (default: `config.vision_config`'s).
        """
        self._check_pixels(pixel_values_videos, "pixel_values_videos")
        b, t, _, h, w = pixel_values_videos.shape
        vc = self.config.vision_config
        grid = (t // vc.tubelet_size, h // vc.patch_size, w // vc.patch_size)
        flags = dict(output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_vision_tower):
            features, hidden_states, attentions = self._encode(pixel_values_videos, **flags)
        return BaseModelOutputWithPooling(
            last_hidden_state=features, pooler_output=self.multi_modal_projector(features, grid),
            hidden_states=hidden_states, attentions=attentions,
        )

    @can_return_tuple
    def get_image_features(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling:
        """Encode and project images (or image tiles), each as one static tubelet (the frame repeated).

        Args:
            pixel_values (`torch.FloatTensor` of shape `(num_images, channels, height, width)`): normalised images
                or tiles (the processor's `"tiles"` mode flattens the tiles of all images here).

        Returns:
            [`BaseModelOutputWithPooling`] as `get_video_features`, `pooler_output` of shape `(num_images,
            tokens_per_tubelet, text_hidden)`.
        """
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 4:
            shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values).__name__
            raise ValueError(
                f"`pixel_values` must be a tensor of shape [num_images, channels, height, width], got {shape}"
            )
        clip = pixel_values.unsqueeze(1).expand(-1, self.config.vision_config.tubelet_size, -1, -1, -1)
        self._check_pixels(clip, "pixel_values")
        return self.get_video_features(clip, output_hidden_states, output_attentions)

    def _scatter(
        self,
        input_ids: torch.LongTensor | None,
        inputs_embeds: torch.Tensor,
        features: torch.Tensor,
        token_id: int | None,
        kind: str,
    ) -> torch.Tensor:
        """Replace the `kind` placeholder embeddings with `features` `[num, tokens_per_item, D]` (checked counts)."""
        if token_id is None:
            raise ValueError(f"`config.{kind}_token_id` is not set: add the {kind} token to the tokenizer first")
        if input_ids is None:
            token_embed = self.get_input_embeddings()(torch.tensor(token_id, device=inputs_embeds.device))
            mask = (inputs_embeds == token_embed).all(-1)
        else:
            mask = input_ids == token_id
        per_item = features.shape[1]
        n_tokens = int(mask.sum())
        n_feats = features.shape[0] * per_item
        if n_tokens != n_feats:
            hint = (
                "the prompt has no placeholder: put the processor's video token in the text"
                if n_tokens == 0
                else "expand each placeholder with the processor (its token count depends on frames, resolution, "
                "tubelet and projector pooling)"
            )
            raise ValueError(
                f"{kind} features and {kind} tokens do not match: `input_ids` has {n_tokens} `{kind}` placeholder "
                f"tokens (id {token_id}) but the {features.shape[0]} {kind}(s) give {n_feats} features "
                f"({per_item} each); {hint}"
            )
        per_row = mask.sum(-1)
        if bool((per_row % per_item != 0).any()):
            raise ValueError(
                f"every sample must hold whole {kind}s: placeholder counts per sample {per_row.tolist()} are not "
                f"multiples of the {per_item} tokens of one {kind}"
            )
        mask3 = mask.unsqueeze(-1).expand_as(inputs_embeds)
        return inputs_embeds.masked_scatter(mask3, features.to(inputs_embeds.device, inputs_embeds.dtype))

    def _merge_visual_features(
        self,
        input_ids: torch.LongTensor | None,
        inputs_embeds: torch.FloatTensor,
        cache: Any | None,
        pixel_values_videos: torch.FloatTensor | None,
        pixel_values: torch.FloatTensor | None,
        video_features: torch.FloatTensor | None,
    ) -> tuple[torch.FloatTensor, torch.FloatTensor | None, torch.FloatTensor | None]:
        """Check the context length, encode the videos / images and scatter their features into `inputs_embeds`
        at the placeholder tokens. Returns `(inputs_embeds, video_features, image_features)`."""
        past_len = 0
        if cache is not None and hasattr(cache, "get_seq_length"):
            past_len = int(cache.get_seq_length())
        max_len = getattr(self.config.text_config, "max_position_embeddings", None)
        if max_len is not None and past_len + inputs_embeds.shape[1] > max_len:
            raise ValueError(
                f"the sequence has {past_len + inputs_embeds.shape[1]} tokens (visual tokens included), more than the "
                f"language model's context length {max_len} (`text_config.max_position_embeddings`); sample fewer "
                f"frames (`num_frames`) or use a pooling projector"
            )

        if pixel_values_videos is not None:
            video_features = self.get_video_features(pixel_values_videos).pooler_output
        if video_features is not None:
            inputs_embeds = self._scatter(input_ids, inputs_embeds, video_features, self.config.video_token_id, "video")
        elif input_ids is not None and past_len == 0 and self.config.video_token_id is not None:
            n = int((input_ids == self.config.video_token_id).sum())
            if n:
                raise ValueError(
                    f"`input_ids` has {n} video placeholder tokens but no `pixel_values_videos` were given"
                )
        image_features = None
        if pixel_values is not None:
            image_features = self.get_image_features(pixel_values).pooler_output
            inputs_embeds = self._scatter(input_ids, inputs_embeds, image_features, self.config.image_token_id, "image")
        elif input_ids is not None and past_len == 0 and self.config.image_token_id is not None:
            n = int((input_ids == self.config.image_token_id).sum())
            if n:
                raise ValueError(f"`input_ids` has {n} image placeholder tokens but no `pixel_values` were given")

        return inputs_embeds, video_features, image_features

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        video_features: torch.FloatTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Any | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> VJEPA2VLMCausalLMOutputWithPast:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`): token ids with every `<video>`
                (`<image>`) placeholder already expanded to the visual token count.
            attention_mask (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*).
            pixel_values_videos (`torch.FloatTensor` of shape `(num_videos, frames, 3, height, width)`, *optional*):
                normalised frames, `frames` a multiple of the tubelet size. Used only at prefill in `generate`.
            pixel_values (`torch.FloatTensor` of shape `(num_images, 3, height, width)`, *optional*): images or tiles.
            video_features (`torch.FloatTensor` of shape `(num_videos, num_video_tokens, hidden)`, *optional*):
                precomputed `get_video_features(...).pooler_output` (scoring several options of one video encodes it once).
            labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*): next-token targets,
                `-100` on ignored positions; placeholder positions are always ignored.
            cache, position_ids, use_cache, logits_to_keep: passed to the language model.

        Returns:
            [`VJEPA2VLMCausalLMOutputWithPast`] (its tuple with `return_dict=False`).
        """
        if "past_key_values" in kwargs:
            warnings.warn("`past_key_values` is deprecated, use `cache`", FutureWarning, stacklevel=2)
            cache = kwargs.pop("past_key_values") if cache is None else cache
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of `input_ids` or `inputs_embeds`")
        if pixel_values_videos is not None and video_features is not None:
            raise ValueError("Pass either `pixel_values_videos` or precomputed `video_features`, not both")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)

        inputs_embeds, video_features, image_features = self._merge_visual_features(
            input_ids, inputs_embeds, cache, pixel_values_videos, pixel_values, video_features
        )
        if labels is not None and input_ids is not None:
            placeholder = torch.zeros_like(labels, dtype=torch.bool)
            for tid in (self.config.video_token_id, self.config.image_token_id):
                if tid is not None:
                    placeholder |= input_ids == tid
            if bool(placeholder.any()):
                labels = labels.masked_fill(placeholder, self.config.ignore_index)

        lm_kwargs = dict(kwargs)
        return_dict = lm_kwargs.pop("return_dict", None)
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if cache is not None:
            lm_kwargs[self._cache_kwarg] = cache
        outputs = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            labels=labels,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            return_dict=True,
            **lm_kwargs,
        )
        output = VJEPA2VLMCausalLMOutputWithPast(
            **dict(outputs.items()),
            video_hidden_states=video_features,
            image_hidden_states=image_features,
        )
        return output if return_dict else output.to_tuple()

    def prepare_inputs_for_generation(
        self,
        input_ids: torch.LongTensor,
        pixel_values_videos: torch.FloatTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        video_features: torch.FloatTensor | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The language model's inputs for one decoding step; visual inputs only at prefill.

        After the first step the visual tokens live in the KV cache, so pixels are dropped and the encoder is not run
        again (the PerceptionLM / LLaVA pattern).
        """
        model_inputs = super().prepare_inputs_for_generation(input_ids, **kwargs)
        # transformers 5 passes `is_first_iteration=True` at prefill only; older loops pass `cache_position`.
        cache_position = kwargs.get("cache_position")
        if kwargs.get("is_first_iteration") is not None:
            first = bool(kwargs["is_first_iteration"])
        else:
            first = cache_position is not None and int(cache_position[0]) == 0
        if first or not kwargs.get("use_cache", True):
            model_inputs["pixel_values_videos"] = pixel_values_videos
            model_inputs["pixel_values"] = pixel_values
            model_inputs["video_features"] = video_features
        else:
            for key in ("pixel_values_videos", "pixel_values", "video_features"):
                model_inputs.pop(key, None)
        return model_inputs

    # ------------------------------------------------------------------ assembly from released parts
    @classmethod
    def from_vision_text_pretrained(
        cls,
        vision_model_name_or_path: str | os.PathLike,
        text_model_name_or_path: str | os.PathLike,
        tokenizer: Any | None = None,
        *,
        dtype: torch.dtype | str = torch.bfloat16,
        video_token: str | None = None,
        image_token: str | None = None,
        attn_implementation: str | dict[str, str] | None = None,
        vision_kwargs: dict[str, Any] | None = None,
        text_kwargs: dict[str, Any] | None = None,
        **config_kwargs: Any,
    ) -> "VJEPA2VLMForConditionalGeneration":
        """Assemble a VLM from a V-JEPA 2 encoder repo (or folder) and a causal-LM repo (or folder).

        Both parts are loaded straight in `dtype` (bf16 by default: transformers 5 builds the modules on the meta
        device and materialises the checkpoint tensors in the target dtype, so no fp32 copy of an 8B LLM is ever
        made). The projector is new (randomly initialised, then cast to `dtype`).

        Placeholder tokens: when `tokenizer` is given, `video_token` / `image_token` are added as special tokens if
        missing (defaults: Llama 3's reserved `<|reserved_special_token_1|>` / `_0|>` as PerceptionLM when present,
        else new `<video>` / `<image>` tokens) and the embeddings are resized only if the vocabulary grew past the
        embedding matrix. The ids are stored in `config.video_token_id` / `config.image_token_id`.

        Args:
            vision_model_name_or_path: a `facebook/vjepa2-*` repo or a folder saved by this package.
            text_model_name_or_path: e.g. `meta-llama/Llama-3.1-8B-Instruct` or `Qwen/Qwen2-7B-Instruct`.
            tokenizer: the LLM's tokenizer (modified in place), or None to skip token handling.
            dtype: parameter dtype of the whole model.
            attn_implementation: attention of both parts (`"sdpa"`, the default, `"eager"`, `"flash_attention_2"`,
                ...) or a dict per part, keyed as the config's sub-configs: `{"text_config": "eager",
                "vision_config": "sdpa"}` (a part not named gets the default).
            vision_kwargs / text_kwargs: extra `from_pretrained` arguments of each part (`revision`, `token`, ...).
            config_kwargs: [`VJEPA2VLMConfig`] fields (`projector_type`, `num_frames`, ...).
        """
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        vision_kwargs = _with_part_attention(vision_kwargs, attn_implementation, "vision_config")
        text_kwargs = _with_part_attention(text_kwargs, attn_implementation, "text_config")
        vision_tower = VJEPA2VisionModel.from_pretrained(vision_model_name_or_path, dtype=dtype, **vision_kwargs)
        language_model = AutoModelForCausalLM.from_pretrained(text_model_name_or_path, dtype=dtype, **text_kwargs)
        if tokenizer is not None:
            video_id, image_id = add_placeholder_tokens(tokenizer, video_token=video_token, image_token=image_token)
            config_kwargs.setdefault("video_token_id", video_id)
            config_kwargs.setdefault("image_token_id", image_id)
            if len(tokenizer) > language_model.get_input_embeddings().weight.shape[0]:
                language_model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
        config = VJEPA2VLMConfig(vision_config=vision_tower.config, text_config=language_model.config, **config_kwargs)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)  # the new projector is created in `dtype` too (no fp32 copy of anything)
        try:
            model = cls(config, vision_tower=vision_tower, language_model=language_model)
        finally:
            torch.set_default_dtype(previous)
        model.config.dtype = dtype
        return model


def _with_part_attention(
    part_kwargs: dict[str, Any] | None, attn_implementation: str | dict[str, str] | None, key: str
) -> dict[str, Any]:
    """`from_pretrained` kwargs of the part `key` (`vision_config` / `text_config`) with its attention choice."""
    part_kwargs = dict(part_kwargs or {})
    if isinstance(attn_implementation, dict):
        allowed = ["", *VJEPA2VLMConfig.sub_configs]  # "" is the composite itself (no attention of its own)
        unknown = sorted(set(attn_implementation) - set(allowed))
        if unknown:
            raise ValueError(f"`attn_implementation` keys must be among {allowed}, got {unknown}")
        choice = attn_implementation.get(key)
    elif attn_implementation is None or isinstance(attn_implementation, str):
        choice = attn_implementation
    else:
        raise ValueError(
            f"`attn_implementation` must be a str, a dict per part or None, got {type(attn_implementation).__name__}"
        )
    if choice is not None:
        given = part_kwargs.get("attn_implementation")
        if given is not None and given != choice:
            raise ValueError(
                f"the {key.split('_')[0]} part's attention is given twice: `attn_implementation` says {choice!r}, the "
                f"part's kwargs {given!r}"
            )
        part_kwargs["attn_implementation"] = choice
    return part_kwargs


def resolve_attn_implementation(model: PreTrainedModel) -> str:
    """Give `model` a concrete attention implementation when its config has none (sdpa, else eager), as its own
    `__init__` does; returns it.

    A part whose config says None (e.g. put into a composite config by hand) would otherwise run attention through
    transformers' dispatch without an implementation, and a causal LM without its causal mask.
    """
    if model.config._attn_implementation is None:
        # what `PreTrainedModel.__init__` does (on the internal attribute: the part's own sub-configs keep theirs)
        model.config._attn_implementation_internal = model._check_and_adjust_attn_implementation(None)
    return model.config._attn_implementation


LLAMA3_VIDEO_TOKEN = "<|reserved_special_token_1|>"  # id 128003, as PerceptionLM
LLAMA3_IMAGE_TOKEN = "<|reserved_special_token_0|>"  # id 128002


def add_placeholder_tokens(
    tokenizer: Any, video_token: str | None = None, image_token: str | None = None
) -> tuple[int, int]:
    """Make sure the video and image placeholders are single special tokens of `tokenizer`; return their ids.

    Defaults: Llama 3's reserved special tokens when the vocabulary has them (no embedding resize needed, as
    PerceptionLM), otherwise new `<video>` / `<image>` tokens.
    """
    vocab = tokenizer.get_vocab()
    if video_token is None:
        video_token = LLAMA3_VIDEO_TOKEN if LLAMA3_VIDEO_TOKEN in vocab else "<video>"
    if image_token is None:
        image_token = LLAMA3_IMAGE_TOKEN if LLAMA3_IMAGE_TOKEN in vocab else "<image>"
    missing = [t for t in (video_token, image_token) if t not in vocab]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    ids = []
    for tok in (video_token, image_token):
        enc = tokenizer.encode(tok, add_special_tokens=False)
        if len(enc) != 1:
            raise ValueError(f"placeholder token {tok!r} must encode to exactly one id, got {enc}")
        ids.append(enc[0])
    return ids[0], ids[1]


__all__ = [
    "VJEPA2VLMCausalLMOutputWithPast",
    "VJEPA2VLMForConditionalGeneration",
    "VJEPA2VLMPreTrainedModel",
    "add_placeholder_tokens",
    "resolve_attn_implementation",
]
