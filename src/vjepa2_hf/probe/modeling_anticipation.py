"""Action anticipation with a frozen V-JEPA 2 encoder and predictor (the EPIC-KITCHENS-100 protocol).

Official model (`evals/action_anticipation_frozen/modelcustom/vit_encoder_predictor_concat_ar.py`, `AnticipativeWrapper`
with `num_steps=1`, and the EK100 `AttentiveClassifier`):

1. `z = encoder(clip)`: the context, `N = T' * H' * W'` tokens (32 frames at 8 fps = 4 s in the paper);
2. the frozen predictor is asked for one future tubelet slice: context positions `0..N-1`, target positions
   `N + H'W' * steps + arange(H'W')` with `steps = int(anticipation_time * fps / tubelet_size)` (1 s at 8 fps: 4), so
   the slices between the end of the context and the anticipated one are skipped; mask token index 1;
3. the probe reads `cat([z, predicted], dim=1)` (context and predicted tokens) with an attentive pooler of **three**
   queries (verb, noun, action, in that order) and three linear heads;
4. loss: sigmoid focal loss (alpha 0.25, gamma 2, one-hot targets, sum reduction) of each head, summed;
   metric: class-mean recall@5 (`vjepa2_hf/probe/metrics/class_mean_recall`).

Config fields (on a [`VJEPA2Config`]): `num_verbs`, `num_nouns`, `num_actions`, and optional `verb_id2label`,
`noun_id2label`, `action_id2label` (class names) and `action_to_verb_noun` (the `(verb, noun)` pair of each action
class). Probe heads and eps as for classification (`pooler_num_attention_heads`, `pooler_layer_norm_eps`;
official: 16 and 1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput, logging

from ..encoder.configuration_vjepa2 import VJEPA2Config
from ..encoder.modeling_vjepa2 import VJEPA2Model
from .modeling_probe import VJEPA2ProbeModel

logger = logging.get_logger(__name__)

__all__ = [
    "VJEPA2ForActionAnticipation",
    "VJEPA2AnticipationOutput",
    "sigmoid_focal_loss",
    "anticipation_steps_from_seconds",
    "anticipation_target_indices",
]


def sigmoid_focal_loss(
    logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "sum"
) -> torch.Tensor:
    """Sigmoid focal loss of integer `labels` `(B,)` (one-hot targets) for `logits` `(B, C)` (official EK100 loss,
    `torchvision.ops.sigmoid_focal_loss` arithmetic)."""
    targets = F.one_hot(labels.long(), logits.shape[-1]).to(logits.dtype)
    probs = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = probs * targets + (1 - probs) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    if reduction == "none":
        return loss
    raise ValueError(f"`reduction` must be 'sum', 'mean' or 'none', got {reduction!r}")


def anticipation_steps_from_seconds(anticipation_time: float, fps: float, tubelet_size: int = 2) -> int:
    """Official `steps = int(anticipation_time * fps / tubelet_size)` (1 s at 8 fps with tubelets of 2: 4)."""
    return int(anticipation_time * fps / tubelet_size)


def anticipation_target_indices(
    grid: tuple[int, int, int], steps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int]]:
    """Context and target token indices of the official anticipation wrapper.

    Args:
        grid: `(T', H', W')` of the context clip.
        steps (`torch.LongTensor` of shape `(batch_size,)`): tubelet slices skipped after the context (>= 0).

    Returns:
        `(context (B, N), target (B, H'W'), extended grid (T' + max(steps) + 1, H', W'))`.
    """
    temporal, height, width = grid
    per_slice = height * width
    num_context = temporal * per_slice
    batch = steps.shape[0]
    context = torch.arange(num_context, device=steps.device).unsqueeze(0).expand(batch, -1)
    target = num_context + per_slice * steps.unsqueeze(1) + torch.arange(per_slice, device=steps.device)
    extended = (temporal + int(steps.max()) + 1, height, width)
    return context, target, extended


@dataclass
class VJEPA2AnticipationOutput(ModelOutput):
    r"""
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): sum of the three focal losses (when all labels given).
        verb_logits (`torch.FloatTensor` of shape `(batch_size, num_verbs)`).
        noun_logits (`torch.FloatTensor` of shape `(batch_size, num_nouns)`).
        action_logits (`torch.FloatTensor` of shape `(batch_size, num_actions)`).
        predicted_hidden_states (`torch.FloatTensor` of shape `(batch_size, H' * W', hidden_size)`): the predictor's
            forecast of the anticipated tubelet slice.
        pooler_output (`torch.FloatTensor` of shape `(batch_size, 3, hidden_size)`): the three pooled queries.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): the encoder's hidden states of the observed clip
            (embeddings, then each block) with `output_hidden_states`.
        attentions (`tuple(torch.FloatTensor)`, *optional*): the encoder's attention maps with `output_attentions`.
    """

    loss: torch.FloatTensor | None = None
    verb_logits: torch.FloatTensor | None = None
    noun_logits: torch.FloatTensor | None = None
    action_logits: torch.FloatTensor | None = None
    predicted_hidden_states: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class VJEPA2ForActionAnticipation(VJEPA2ProbeModel):
    """Frozen V-JEPA 2 encoder + predictor forecasting a future tubelet slice, and a 3-query attentive probe with verb,
    noun and action heads (see the module docstring)."""

    _head_prefixes = ("pooler.", "verb_classifier.", "noun_classifier.", "action_classifier.")
    _predictor_optional = False  # the forecast needs it

    def __init__(self, config: VJEPA2Config) -> None:
        for name in ("num_verbs", "num_nouns", "num_actions"):
            value = getattr(config, name, None)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"the config needs `{name}` (a positive int) for action anticipation, got {value!r}")
        super().__init__(config)
        self.vjepa2 = VJEPA2Model(config)
        self.pooler = self._build_pooler(num_queries=3)
        self.verb_classifier = nn.Linear(config.hidden_size, config.num_verbs)
        self.noun_classifier = nn.Linear(config.hidden_size, config.num_nouns)
        self.action_classifier = nn.Linear(config.hidden_size, config.num_actions)
        self.post_init()
        self.freeze_backbone()

    def train(self, mode: bool = True) -> "VJEPA2ForActionAnticipation":
        super().train(mode)
        self.vjepa2.eval()  # official protocol: encoder and predictor frozen, always in eval mode
        return self

    def forecast(
        self, pixel_values_videos: torch.Tensor, anticipation_steps: int | torch.Tensor = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode the context clip and predict the anticipated tubelet slice.

        Returns:
            `(context tokens (B, N, D), predicted tokens (B, H'W', D))`.
        """
        encoder_output, predicted = self._forecast(pixel_values_videos, anticipation_steps)
        return encoder_output.last_hidden_state, predicted

    def _forecast(self, pixel_values_videos, anticipation_steps, output_hidden_states=False, output_attentions=False):
        """`(encoder output, predicted tokens)` of `forecast`."""
        batch = pixel_values_videos.shape[0]
        steps = torch.as_tensor(anticipation_steps, device=pixel_values_videos.device, dtype=torch.long)
        if steps.ndim == 0:
            steps = steps.expand(batch)
        if steps.shape != (batch,) or int(steps.min()) < 0:
            raise ValueError(
                f"`anticipation_steps` must be a non-negative int or a LongTensor of shape [{batch}], got "
                f"{anticipation_steps!r}"
            )
        with torch.no_grad():
            encoder_output = self.vjepa2.encoder(
                pixel_values_videos, output_hidden_states=output_hidden_states, output_attentions=output_attentions
            )
            context, target, grid = anticipation_target_indices(encoder_output.grid, steps)
            predicted = self.vjepa2.predictor(encoder_output.last_hidden_state, [context], [target], grid, mask_index=1)
        return encoder_output, predicted.last_hidden_state

    def forward(
        self,
        pixel_values_videos: torch.Tensor | None = None,
        anticipation_steps: int | torch.Tensor = 0,
        verb_labels: torch.Tensor | None = None,
        noun_labels: torch.Tensor | None = None,
        action_labels: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> VJEPA2AnticipationOutput | tuple:
        r"""
        Args:
            pixel_values_videos (`torch.FloatTensor` of shape `(batch_size, num_frames, num_channels, height, width)`):
                the observed clip, ending where the anticipation starts.
            anticipation_steps (`int` or `torch.LongTensor` of shape `(batch_size,)`): tubelet slices between the end
                of the clip and the anticipated slice (0 = the slice right after the clip); see
                `anticipation_steps_from_seconds`.
            verb_labels, noun_labels, action_labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*): the
                loss is the sum of the focal losses of the heads whose labels are given.
            encoder_hidden_states (`torch.FloatTensor` of shape `(batch_size, num_tokens, hidden_size)`, *optional*):
                precomputed probe inputs (`cat([context, predicted], 1)`, e.g. cached); the backbone is not run.
            output_hidden_states, output_attentions (`bool`, *optional*): return the encoder's hidden states /
                attention maps (pixel inputs only).

        Returns:
            [`VJEPA2AnticipationOutput`].
        """
        output_hidden_states, output_attentions, return_dict = self.resolve_output_flags(
            output_hidden_states, output_attentions, return_dict
        )
        if (pixel_values_videos is None) == (encoder_hidden_states is None):
            raise ValueError("pass exactly one of `pixel_values_videos` and `encoder_hidden_states`")
        predicted = hidden_states = attentions = None
        if encoder_hidden_states is None:
            encoder_output, predicted = self._forecast(
                pixel_values_videos, anticipation_steps, output_hidden_states, output_attentions
            )
            features = torch.cat([encoder_output.last_hidden_state, predicted], dim=1)
            hidden_states, attentions = encoder_output.hidden_states, encoder_output.attentions
        else:
            features = encoder_hidden_states
        pooled = self.pooler(features.to(self.verb_classifier.weight.dtype))  # (B, 3, D): verb, noun, action
        verb_logits = self.verb_classifier(pooled[:, 0])
        noun_logits = self.noun_classifier(pooled[:, 1])
        action_logits = self.action_classifier(pooled[:, 2])
        loss = None
        for logits, labels in ((verb_logits, verb_labels), (noun_logits, noun_labels), (action_logits, action_labels)):
            if labels is not None:
                term = sigmoid_focal_loss(logits, labels.to(logits.device))
                loss = term if loss is None else loss + term
        output = VJEPA2AnticipationOutput(
            loss=loss,
            verb_logits=verb_logits,
            noun_logits=noun_logits,
            action_logits=action_logits,
            predicted_hidden_states=predicted,
            pooler_output=pooled,
            hidden_states=hidden_states,
            attentions=attentions,
        )
        return output if return_dict else output.to_tuple()
