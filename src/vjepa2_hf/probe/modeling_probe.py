"""`VJEPA2ForVideoClassification`: a V-JEPA 2 backbone (frozen by default) and the official attentive probe.

Module tree and state-dict names are those of transformers' `VJEPA2ForVideoClassification`:

* `vjepa2`: a full [`VJEPA2Model`] (encoder **and** predictor, as transformers keeps it; the predictor is unused by
  classification). Our fused `attention.qkv` is saved as transformers' split `query/key/value`.
* `pooler`: [`VJEPA2AttentivePooler`] (`num_pooler_layers` self-attention blocks, then one cross-attention block).
* `classifier`: `Linear(hidden_size, num_labels)`.

Probe settings (config fields):

* `pooler_num_attention_heads` / `pooler_layer_norm_eps`: `None` = the encoder's heads and eps, which is what
  transformers' classifier uses (22 heads and 1e-6 for ViT-g); official probe files are converted with 16 and 1e-5
  (`convert_probe_checkpoint.py` sets them).
* `pooler_input_layers` (list of block indices, *optional*): multi-level features, the official
  `vit_encoder_multiclip_multilevel`: each listed block's output goes through the shared final LayerNorm and the
  outputs are concatenated along the **token** axis (e.g. ViT-L `[17, 19, 21, 23]`, ViT-g `[24, 29, 34, 39]`).
* `freeze_backbone` (default True): the backbone gets no gradient and stays in eval mode; `unfreeze_backbone()`
  fine-tunes it. LoRA adapters (PEFT) on a frozen backbone train as expected (the no-grad shortcut is taken only
  when no backbone parameter requires grad).
* `keep_predictor` (default True): keep the predictor like transformers. Loading rules (`from_pretrained`): a
  checkpoint without any predictor key (an encoder-only folder) gives a model *without* predictor
  (`keep_predictor=False`); with `keep_predictor=False` the predictor keys of a checkpoint are dropped. A
  checkpoint with none of the probe keys (`pooler.*`, `classifier.*`: a backbone checkpoint) gets a freshly
  initialised probe (reported MISSING, as transformers does). Other missing or unexpected keys are reported and
  raise with `strict=True`; mis-shaped keys raise unless `ignore_mismatched_sizes=True`.

Multi-clip, multi-view evaluation (official protocol): pass `pixel_values_videos` of shape `(batch, num_views,
num_segments, frames, channels, height, width)`; each segment is encoded separately, the segments' tokens of a view
are concatenated, the probe runs per view and the prediction is the mean over views of the softmax
(`logits = log(mean softmax)`, per-view logits in `view_logits`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn
from transformers import initialization as init
from transformers.loss.loss_utils import ForSequenceClassificationLoss
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.utils import ModelOutput, logging
from transformers.utils.generic import can_return_tuple

from ..encoder.configuration_vjepa2 import VJEPA2Config
from ..strict_loading import check_state_dict, strict_load_error
from ..encoder.modeling_vjepa2 import VJEPA2Model, VJEPA2PreTrainedModel
from .attentive_pooler import VJEPA2AttentivePooler

logger = logging.get_logger(__name__)

__all__ = [
    "VJEPA2ForVideoClassification",
    "VJEPA2VideoClassifierOutput",
    "pooler_heads_and_eps",
    "init_attentive_pooler_weights",
    "ProbeLoadingMixin",
]


@dataclass
class VJEPA2VideoClassifierOutput(ModelOutput):
    r"""
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): classification loss when `labels` are given
            (cross-entropy for single-label; for multi-view inputs the mean over views).
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`): classification scores. For multi-view
            inputs `log(mean over views of softmax(view_logits))`, so `softmax(logits)` is the official prediction.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): encoder hidden states (single-view inputs only).
        attentions (`tuple(torch.FloatTensor)`, *optional*): encoder attention maps (single-view inputs only).
        pooler_output (`torch.FloatTensor` of shape `(batch_size, hidden_size)` or `(batch_size, num_views,
            hidden_size)`): the probe's pooled query before the classifier.
        view_logits (`torch.FloatTensor` of shape `(batch_size, num_views, num_labels)`, *optional*): per-view logits
            of multi-view inputs.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    pooler_output: torch.FloatTensor | None = None
    view_logits: torch.FloatTensor | None = None


def pooler_heads_and_eps(config: VJEPA2Config) -> tuple[int, float]:
    """Heads and LayerNorm eps of the probe: the config's `pooler_*` fields, or the encoder's when unset."""
    heads = getattr(config, "pooler_num_attention_heads", None) or config.num_attention_heads
    eps = getattr(config, "pooler_layer_norm_eps", None) or config.layer_norm_eps
    return int(heads), float(eps)


def init_attentive_pooler_weights(module: VJEPA2AttentivePooler, std: float) -> None:
    """Official probe initialisation with transformers' guarded `init` functions (no-ops on loaded weights):
    queries trunc-normal, self-attention block `l` (1-based) `out_proj`/`fc2` drawn with std `std / sqrt(2 l)`,
    the cross block's `fc2` with `std / sqrt(2 L)` (official `_rescale_blocks`). Linear and LayerNorm defaults are
    applied by the model's `_init_weights` to the children first."""
    init.trunc_normal_(module.query_tokens, mean=0.0, std=std, a=-2.0, b=2.0)
    for index, layer in enumerate(module.self_attention_layers, start=1):
        scale = (2.0 * index) ** 0.5
        init.trunc_normal_(layer.self_attn.out_proj.weight, mean=0.0, std=std / scale, a=-2.0 / scale, b=2.0 / scale)
        init.trunc_normal_(layer.mlp.fc2.weight, mean=0.0, std=std / scale, a=-2.0 / scale, b=2.0 / scale)
    scale = (2.0 * max(len(module.self_attention_layers), 1)) ** 0.5
    init.trunc_normal_(
        module.cross_attention_layer.mlp.fc2.weight, mean=0.0, std=std / scale, a=-2.0 / scale, b=2.0 / scale
    )


def _set_probe_defaults(config: VJEPA2Config) -> None:
    """Give a config the probe fields it may lack (configs written by transformers or by the core model)."""
    defaults = {"freeze_backbone": True, "keep_predictor": True, "pooler_input_layers": None}
    for name, value in defaults.items():
        if not hasattr(config, name):
            setattr(config, name, value)
    if config.pooler_input_layers is not None:
        layers = [int(i) for i in config.pooler_input_layers]
        depth = config.num_hidden_layers
        bad = [i for i in layers if not -depth <= i < depth]
        if not layers or bad:
            raise ValueError(
                f"`pooler_input_layers` must be a non-empty list of encoder block indices in [-{depth}, {depth}), got "
                f"{config.pooler_input_layers}"
            )
        config.pooler_input_layers = layers


class ProbeLoadingMixin:
    """`from_pretrained` rules of the probe models (module docstring). Loading is transformers' (its load report and
    `output_loading_info` as they are): a backbone checkpoint gets a fresh head, reported MISSING as transformers
    does. A checkpoint without any predictor key (when `_predictor_optional`) builds the model without predictor.
    With `strict=True` anything else that does not match raises a `ValueError`; a fresh head (none of the
    `_head_prefixes` keys in the checkpoint), an absent predictor and, with `keep_predictor=False`, the
    checkpoint's predictor keys are the rules it accepts."""

    _head_prefixes: tuple[str, ...] = ("pooler.", "classifier.")
    _predictor_optional: bool = True

    def _after_loading(self) -> None:
        """Hook run after the weights are in (re-applies the frozen state)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args: Any, strict: bool = False, **kwargs: Any):
        """Load a probe folder (ours or transformers'), a backbone folder (fresh probe) or a Hub repo.

        Besides transformers' arguments: `strict=True` raises on any missing / unexpected / mis-shaped key that the
        class rules do not cover (shapes always raise unless `ignore_mismatched_sizes=True`, as in transformers).
        """
        want_info = kwargs.pop("output_loading_info", False)
        if cls._predictor_optional and "keep_predictor" not in kwargs and _local_checkpoint_lacks_predictor(
            pretrained_model_name_or_path
        ):
            kwargs["keep_predictor"] = False  # an encoder-only folder: build no predictor (nothing to report missing)
        kwargs = _config_with_probe_fields(cls, pretrained_model_name_or_path, kwargs)
        model, info = super().from_pretrained(
            pretrained_model_name_or_path, *model_args, strict=False, output_loading_info=True, **kwargs
        )
        missing, unexpected = set(info["missing_keys"]), set(info["unexpected_keys"])
        own = set(model.state_dict())
        head = {k for k in own if k.startswith(cls._head_prefixes)}
        predictor = {k for k in own if k.startswith("vjepa2.predictor.")}
        if head and head <= missing:
            logger.info(f"{pretrained_model_name_or_path} has no probe weights: the probe head starts fresh")
            missing -= head
        if cls._predictor_optional and predictor and predictor <= missing:
            logger.warning(f"{pretrained_model_name_or_path} has no predictor: the model is built without one")
            missing -= predictor
            model.vjepa2.predictor = None
            model.config.keep_predictor = False
        if not getattr(model.config, "keep_predictor", True):
            unexpected = {k for k in unexpected if not _is_predictor_key(k)}
        if strict:
            mismatched = () if kwargs.get("ignore_mismatched_sizes") else info.get("mismatched_keys", ())
            error = strict_load_error(pretrained_model_name_or_path, cls.__name__, missing, unexpected, mismatched,
                                      info.get("error_msgs", ()))
            if error is not None:
                raise error
        model._after_loading()
        return (model, info) if want_info else model


class VJEPA2ProbeModel(ProbeLoadingMixin, VJEPA2PreTrainedModel):
    """Base of the probe models: a `VJEPA2Model` backbone as `self.vjepa2` plus attentive-pooler heads.

    Holds what the classifier and the anticipation model share: the pooler's construction and initialisation, and
    the frozen-backbone rule (a backbone without trainable encoder parameters stays in eval mode, also after
    `from_pretrained`). Subclasses say through `_backbone_frozen_by_config` whether the config decides.
    """

    _no_split_modules = [
        "VJEPA2Layer",
        "VJEPA2PredictorEmbeddings",
        "VJEPA2PoolerSelfAttentionLayer",
        "VJEPA2PoolerCrossAttentionLayer",
    ]
    vjepa2: VJEPA2Model
    # the losses are per-batch means that ignore `num_items_in_batch`: without this the `Trainer` (seeing `**kwargs`
    # in `forward`) would multiply them by the number of processes
    accepts_loss_kwargs = False

    def _build_pooler(self, num_queries: int) -> VJEPA2AttentivePooler:
        config = self.config
        heads, eps = pooler_heads_and_eps(config)
        return VJEPA2AttentivePooler(
            config.hidden_size,
            num_attention_heads=heads,
            num_self_attention_layers=config.num_pooler_layers,
            num_queries=num_queries,
            layer_norm_eps=eps,
            attention_dropout=config.attention_dropout,
            initializer_range=config.initializer_range,
        )

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, VJEPA2AttentivePooler):
            init_attentive_pooler_weights(module, self.config.initializer_range)

    def _backbone_frozen_by_config(self) -> bool:
        """Whether the backbone is to be frozen after construction and loading."""
        return True

    def freeze_backbone(self) -> None:
        """No gradient for the backbone (encoder and predictor); it stays in eval mode during training."""
        for parameter in self.vjepa2.parameters():
            parameter.requires_grad_(False)
        self.vjepa2.eval()

    def _backbone_needs_grad(self) -> bool:
        return any(parameter.requires_grad for parameter in self.vjepa2.encoder.parameters())

    def train(self, mode: bool = True):
        super().train(mode)
        if not self._backbone_needs_grad():
            self.vjepa2.eval()  # a frozen backbone never runs in training mode (no drop path / dropout)
        return self

    def get_input_embeddings(self) -> nn.Module:
        return self.vjepa2.get_input_embeddings()

    def _after_loading(self) -> None:
        if self._backbone_frozen_by_config():
            self.freeze_backbone()
        else:
            self._freeze_predictor()

    def _freeze_predictor(self) -> None:
        """The classifier never runs the predictor: its parameters must not be trainable (DDP without
        `find_unused_parameters` refuses parameters that never get a gradient)."""
        if self.vjepa2.predictor is not None:
            for parameter in self.vjepa2.predictor.parameters():
                parameter.requires_grad_(False)


class VJEPA2ForVideoClassification(VJEPA2ProbeModel):
    """V-JEPA 2 backbone with the attentive probe and a linear classifier (see the module docstring)."""

    def __init__(self, config: VJEPA2Config) -> None:
        _set_probe_defaults(config)
        super().__init__(config)
        self.num_labels = config.num_labels
        self.vjepa2 = VJEPA2Model(config)
        if not config.keep_predictor:
            self.vjepa2.predictor = None
        self.pooler = self._build_pooler(num_queries=1)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()
        if config.freeze_backbone:
            self.freeze_backbone()
        else:
            self._freeze_predictor()

    # ------------------------------------------------------------------------------------------------------------
    # weights
    # ------------------------------------------------------------------------------------------------------------

    def _backbone_frozen_by_config(self) -> bool:
        return bool(self.config.freeze_backbone)

    def freeze_backbone(self) -> None:
        """No gradient for the backbone (encoder and predictor); it stays in eval mode during training."""
        super().freeze_backbone()
        self.config.freeze_backbone = True

    def unfreeze_backbone(self) -> None:
        """Train the encoder too (full fine-tuning). The predictor, unused here, stays frozen."""
        for parameter in self.vjepa2.encoder.parameters():
            parameter.requires_grad_(True)
        self._freeze_predictor()
        self.config.freeze_backbone = False
        self.vjepa2.encoder.train(self.training)

    def probe_state_dict(self) -> dict[str, torch.Tensor]:
        """The probe's weights only (`pooler.*`, `classifier.*`): what a frozen-backbone run actually trains."""
        return {k: v for k, v in self.state_dict().items() if k.startswith(("pooler.", "classifier."))}

    def load_probe_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load `pooler.*` / `classifier.*` weights (e.g. an [`AttentiveClassifier`] trained on cached features).

        Raises:
            ValueError: if a probe key is missing, unexpected or of the wrong shape.
        """
        check_state_dict(self.probe_state_dict(), state_dict, "probe state dict (pooler.* / classifier.*)")
        with torch.no_grad():
            for key, value in state_dict.items():
                self.get_parameter(key).copy_(value)

    # ------------------------------------------------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------------------------------------------------

    def _video_tokens(self, pixel_values_videos, output_hidden_states=False, output_attentions=False):
        """`(probe input tokens, encoder output)` of a clip (see `get_video_features`)."""
        needs_grad = torch.is_grad_enabled() and self._backbone_needs_grad()
        with torch.set_grad_enabled(needs_grad):
            layers = self.config.pooler_input_layers
            output = self.vjepa2.encoder(
                pixel_values_videos,
                output_layers=layers,
                output_hidden_states=output_hidden_states,
                output_attentions=output_attentions,
            )
            if layers is None:
                features = output.last_hidden_state
            else:
                features = torch.cat(output.intermediate_hidden_states, dim=1)
        return features, output

    @can_return_tuple
    def get_video_features(
        self,
        pixel_values_videos: torch.Tensor,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPooling:
        """Video features under transformers' `get_*_features` contract.

        Args:
            pixel_values_videos (`torch.FloatTensor` of shape `(batch_size, num_frames, num_channels, height, width)`).

        Returns:
            [`BaseModelOutputWithPooling`]: `last_hidden_state` the tokens the probe reads, `(batch_size, num_tokens,
            hidden_size)` (with `pooler_input_layers`, the final-normed outputs of those blocks concatenated along
            tokens, `(batch_size, len(layers) * num_tokens, hidden_size)`: what `encoder_hidden_states` takes);
            `pooler_output` the attentive probe's clip embedding `(batch_size, hidden_size)`, the classifier's
            input; `hidden_states` / `attentions` of the encoder when asked for.
        """
        output_hidden_states, output_attentions, _ = self.resolve_output_flags(output_hidden_states, output_attentions, None)
        features, output = self._video_tokens(pixel_values_videos, output_hidden_states, output_attentions)
        pooled = self.pooler(features.to(self.classifier.weight.dtype))[:, 0]
        return BaseModelOutputWithPooling(
            last_hidden_state=features, pooler_output=pooled, hidden_states=output.hidden_states,
            attentions=output.attentions,
        )

    def _probe_inputs(self, pixel_values_videos, encoder_hidden_states, output_hidden_states, output_attentions):
        """The probe's input tokens `(batch or batch * num_views, num_tokens, hidden_size)`, the number of views
        (None for single-view input) and the encoder's hidden states / attentions when asked for."""
        hidden_states = attentions = None
        num_views = None
        if encoder_hidden_states is not None:
            features = encoder_hidden_states
            if features.ndim == 4:
                batch, num_views = features.shape[:2]
                features = features.reshape(batch * num_views, *features.shape[2:])
            elif features.ndim != 3:
                raise ValueError(
                    "`encoder_hidden_states` must have shape [batch, num_tokens, hidden_size] or [batch, num_views, "
                    f"num_tokens, hidden_size], got {tuple(features.shape)}"
                )
            if features.shape[-1] != self.config.hidden_size:
                raise ValueError(
                    f"`encoder_hidden_states` must have width hidden_size={self.config.hidden_size}, got "
                    f"{features.shape[-1]}"
                )
        elif pixel_values_videos.ndim == 5:
            features, encoder_output = self._video_tokens(pixel_values_videos, output_hidden_states, output_attentions)
            hidden_states, attentions = encoder_output.hidden_states, encoder_output.attentions
        elif pixel_values_videos.ndim == 7:
            batch, num_views, num_segments = pixel_values_videos.shape[:3]
            clips = pixel_values_videos.reshape(batch * num_views * num_segments, *pixel_values_videos.shape[3:])
            features, _ = self._video_tokens(clips)  # (B*V*S, N, D)
            # official ClipAggregation: a view's segments are joined along the token axis
            features = features.reshape(batch * num_views, num_segments * features.shape[1], features.shape[2])
        else:
            raise ValueError(
                "`pixel_values_videos` must have shape [batch, frames, channels, height, width] or, for multi-clip "
                "multi-view evaluation, [batch, num_views, num_segments, frames, channels, height, width]; got "
                f"shape {tuple(pixel_values_videos.shape)}"
            )
        return features, num_views, hidden_states, attentions

    def _loss(self, labels, logits, view_logits):
        """`config.problem_type`'s loss; with several views, each view's logits against the clip's label."""
        labels = labels.to(logits.device)
        if view_logits is None:
            loss = ForSequenceClassificationLoss(labels, logits, self.config)
        else:
            flat_labels = labels.repeat_interleave(view_logits.shape[1], dim=0)
            loss = ForSequenceClassificationLoss(flat_labels, view_logits.flatten(0, 1), self.config)
        return loss

    def forward(
        self,
        pixel_values_videos: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> VJEPA2VideoClassifierOutput | tuple:
        r"""
        Args:
            pixel_values_videos (`torch.FloatTensor`): a clip `(batch_size, num_frames, num_channels, height, width)`,
                or for multi-clip multi-view evaluation `(batch_size, num_views, num_segments, num_frames,
                num_channels, height, width)`.
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*): class ids (float targets for
                regression / multi-label, following `config.problem_type`).
            encoder_hidden_states (`torch.FloatTensor`, *optional*): precomputed probe inputs (cached frozen features,
                see `get_video_features`) of shape `(batch_size, num_tokens, hidden_size)` or `(batch_size,
                num_views, num_tokens, hidden_size)`; the backbone is not run.
            output_hidden_states, output_attentions: return the encoder's (single-view pixel inputs only).

        Returns:
            [`VJEPA2VideoClassifierOutput`].
        """
        output_hidden_states, output_attentions, return_dict = self.resolve_output_flags(
            output_hidden_states, output_attentions, return_dict
        )
        if (pixel_values_videos is None) == (encoder_hidden_states is None):
            raise ValueError("pass exactly one of `pixel_values_videos` and `encoder_hidden_states`")

        features, num_views, hidden_states, attentions = self._probe_inputs(
            pixel_values_videos, encoder_hidden_states, output_hidden_states, output_attentions
        )
        features = features.to(self.classifier.weight.dtype)
        pooled = self.pooler(features)[:, 0]  # (B or B*V, D)
        logits = self.classifier(pooled)
        view_logits = None
        if num_views is not None:
            view_logits = logits.reshape(-1, num_views, logits.shape[-1])
            pooled = pooled.reshape(-1, num_views, pooled.shape[-1])
            if self.config.problem_type in (None, "single_label_classification"):
                # the official eval averages the softmax over views
                logits = torch.log(view_logits.float().softmax(-1).mean(1)).to(view_logits.dtype)
            else:
                logits = view_logits.mean(1)

        loss = self._loss(labels, logits, view_logits) if labels is not None else None
        output = VJEPA2VideoClassifierOutput(
            loss=loss,
            logits=logits,
            hidden_states=hidden_states,
            attentions=attentions,
            pooler_output=pooled,
            view_logits=view_logits,
        )
        return output if return_dict else output.to_tuple()


# probe fields absent from a plain VJEPA2Config / transformers' config.json (transformers only applies
# `from_pretrained` kwargs to attributes the loaded config already has)
_PROBE_CONFIG_FIELDS = ("keep_predictor", "freeze_backbone", "pooler_input_layers", "num_verbs", "num_nouns",
                        "num_actions")
_HUB_KWARGS = ("cache_dir", "revision", "token", "local_files_only", "subfolder", "force_download", "proxies")
_LOADING_KWARGS = _HUB_KWARGS + (
    "dtype", "torch_dtype", "device_map", "attn_implementation", "use_safetensors", "weights_only",
    "ignore_mismatched_sizes", "trust_remote_code", "low_cpu_mem_usage", "max_memory", "offload_folder",
    "quantization_config", "variant", "key_mapping", "tp_plan", "distributed_config", "gguf_file",
)


def _config_with_probe_fields(cls, path, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Move probe-field kwargs (and the other config overrides given with them) onto an explicit config."""
    extra = {k: kwargs.pop(k) for k in _PROBE_CONFIG_FIELDS if k in kwargs}
    if not extra:
        return kwargs
    config = kwargs.pop("config", None)
    if config is None:
        config = cls.config_class.from_pretrained(path, **{k: kwargs[k] for k in _HUB_KWARGS if k in kwargs})
    for key in [k for k in kwargs if k not in _LOADING_KWARGS and hasattr(config, k)]:
        setattr(config, key, kwargs.pop(key))
    for key, value in extra.items():
        setattr(config, key, value)
    kwargs["config"] = config
    return kwargs


def _local_checkpoint_lacks_predictor(path) -> bool:
    """Whether a local model folder's safetensors weights hold no predictor key (False when it cannot tell: a Hub
    repo, `.bin` weights; the predictor rule is then applied after loading)."""
    import json
    import os

    from safetensors import safe_open

    if not isinstance(path, (str, os.PathLike)) or not os.path.isdir(path):
        return False
    index = os.path.join(path, "model.safetensors.index.json")
    single = os.path.join(path, "model.safetensors")
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            keys = json.load(f).get("weight_map", {}).keys()
    elif os.path.isfile(single):
        with safe_open(single, "pt") as f:
            keys = list(f.keys())
    else:
        return False
    return not any(_is_predictor_key(k) for k in keys)


def _is_predictor_key(key: str) -> bool:
    return key.startswith(("vjepa2.predictor.", "predictor."))
