"""The V-JEPA 2.1 pretraining objective (official `app/vjepa_2_1/train.py::train_step`), an option of
[`VJEPA2ForPretraining`] used for V-JEPA 2.1 configs.

One step on a batch of one modality (clips, or images as one-frame clips):

1. targets: the target encoder's hierarchical features of the full input (`num_distillation_outputs` levels
   concatenated), each level layer-normalised without affine parameters (eps 1e-5);
2. per mask configuration `j`: the context encoder's hierarchical features of the context tokens go through the
   predictor (modality embedding of the input), which predicts the target tokens **and** the context tokens;
3. `loss = mean_j L1(pred_j, targets[target_j]) + lambda * mean_j mean(|ctx_j - targets[context_j]| / d_j)` with
   `d_j` the distance weights of `mask_distances.py` (or 1 without `weight_distance_loss`), `|.|` raised to
   `loss_exp` and divided by it as in V-JEPA 2;
4. `lambda` is 0 before `lambda_warmup_start`, grows linearly to `lambda_value_{video,image}` at
   `lambda_warmup_end`, then holds (official `Lambda_LinearWarmupHold`, 15k -> 30k steps).

Image and video batches are mixed as the official recipe does across ranks (DDP averages the ranks' gradients):
`mixed_modality_forward` averages the losses of a list of batches.

Settings come from `VJEPA21Objective`, read from `config.vjepa2_1_objective` (a dict; a recipe sets it in
`model.config_overrides`), or passed to `forward(..., objective=...)`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from ..encoder.modeling_vjepa2 import apply_masks
from .mask_distances import context_distances
from .modeling_pretraining import TARGET_LAYER_NORM_EPS, VJEPA2PretrainingOutput, _token_std

__all__ = [
    "VJEPA21Objective",
    "VJEPA21PretrainingOutput",
    "normalize_levels",
    "vjepa2_1_forward",
    "mixed_modality_forward",
]


@dataclass
class VJEPA21Objective:
    """Settings of the 2.1 objective (official `loss` / `model` config keys in brackets).

    Args:
        lambda_value_video, lambda_value_image (`float`): weight of the context loss for video / image batches
            (`lambda_value_vid`, `lambda_value_img`; 0.5 in the released configs).
        lambda_progressive (`bool`): warm lambda up (`lambda_progressive`); otherwise use it from step 0.
        lambda_warmup_start, lambda_warmup_end (`int`): the warm-up window in optimizer steps (15000, 30000).
        weight_distance_loss (`bool`): weight context tokens by `1 / d` (`weight_distance_loss`, on in the releases).
        offset_context_loss (`bool`): official `offset_context_loss` (needs a grid of >= 16 rows).
        predict_all (`bool`): add the context loss at all (`predict_all`; needs `return_all_tokens`).
    """

    lambda_value_video: float = 0.5
    lambda_value_image: float = 0.5
    lambda_progressive: bool = True
    lambda_warmup_start: int = 15_000
    lambda_warmup_end: int = 30_000
    weight_distance_loss: bool = True
    offset_context_loss: bool = False
    predict_all: bool = True

    def __post_init__(self) -> None:
        if self.lambda_warmup_end <= self.lambda_warmup_start:
            raise ValueError(
                f"`lambda_warmup_end` ({self.lambda_warmup_end}) must be > `lambda_warmup_start` "
                f"({self.lambda_warmup_start})"
            )

    @classmethod
    def from_config(cls, config) -> "VJEPA21Objective":
        values = getattr(config, "vjepa2_1_objective", None) or {}
        if not isinstance(values, Mapping):
            raise ValueError(f"`config.vjepa2_1_objective` must be a dict, got {type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in `vjepa2_1_objective`; expected a subset of {sorted(names)}")
        return cls(**values)

    def context_lambda(self, global_step: int | None, modality: str) -> float:
        value = self.lambda_value_image if modality == "image" else self.lambda_value_video
        if not self.lambda_progressive:
            return value
        if global_step is None:
            raise ValueError("the 2.1 objective warms lambda up: pass `global_step` (the optimizer step) to forward")
        if global_step < self.lambda_warmup_start:
            return 0.0
        if global_step >= self.lambda_warmup_end:
            return value
        return value * (global_step - self.lambda_warmup_start) / (self.lambda_warmup_end - self.lambda_warmup_start)


@dataclass
class VJEPA21PretrainingOutput(VJEPA2PretrainingOutput):
    r"""[`VJEPA2PretrainingOutput`] plus the parts of the 2.1 loss.

    Args:
        prediction_loss (`torch.FloatTensor` of shape `()`): loss on the masked tokens (no gradient).
        context_loss (`torch.FloatTensor` of shape `()`): distance-weighted loss on the context tokens (no gradient).
        context_lambda (`float`): the lambda of this step.
        modality (`str`): `"video"` or `"image"`.
    """

    prediction_loss: torch.FloatTensor | None = None
    context_loss: torch.FloatTensor | None = None
    context_lambda: float | None = None
    modality: str | None = None


def normalize_levels(features: torch.Tensor, levels: int) -> torch.Tensor:
    """Affine-free LayerNorm (eps 1e-5) of each of the `levels` channel blocks of `features` `(..., levels * D)`."""
    chunks = features.chunk(levels, dim=-1)
    return torch.cat([F.layer_norm(c, (c.shape[-1],), eps=TARGET_LAYER_NORM_EPS) for c in chunks], dim=-1)


def _masked_l1(prediction: torch.Tensor, target: torch.Tensor, loss_exp: float, weight=None) -> torch.Tensor:
    error = torch.abs(prediction - target) ** loss_exp
    if weight is not None:
        error = error * (1.0 / weight.unsqueeze(-1))
    return torch.mean(error) / loss_exp


def _check(model, objective: VJEPA21Objective) -> None:
    config = model.config
    levels = config.num_hierarchical_levels
    if config.pred_output_size != levels * config.hidden_size:
        raise ValueError(
            f"the predictor outputs {config.pred_output_size} channels (teacher_embed_dim) but the targets have "
            f"{levels} x {config.hidden_size}: distilling into a student needs its teacher, which this objective "
            "does not hold; train with teacher_embed_dim=None"
        )
    if objective.predict_all and not config.return_all_tokens:
        raise ValueError("`predict_all` needs a predictor with `return_all_tokens=True`")


def vjepa2_1_forward(
    model,
    pixel_values_videos: torch.Tensor,
    context_mask: Sequence[torch.Tensor],
    target_mask: Sequence[torch.Tensor],
    mask_index: int = 0,
    loss_exp: float = 1.0,
    global_step: int | None = None,
    objective: VJEPA21Objective | None = None,
    output_predictions: bool = False,
) -> VJEPA21PretrainingOutput:
    """The 2.1 loss of one batch (one modality); see the module docstring. `model` is a `VJEPA2ForPretraining`
    with a V-JEPA 2.1 config; arguments as its `forward`, plus `global_step` (for the lambda schedule)."""
    objective = objective or VJEPA21Objective.from_config(model.config)
    _check(model, objective)
    context_mask = [context_mask] if isinstance(context_mask, torch.Tensor) else list(context_mask)
    target_mask = [target_mask] if isinstance(target_mask, torch.Tensor) else list(target_mask)
    if not context_mask or len(context_mask) != len(target_mask):
        raise ValueError(
            "`context_mask` and `target_mask` must be non-empty lists with one index tensor [batch, K] per mask "
            f"configuration, got {len(context_mask)} and {len(target_mask)} entries"
        )
    grid = model.get_grid(pixel_values_videos)
    modality = "image" if model.encoder.embeddings.is_image(pixel_values_videos) else "video"
    levels = model.config.num_hierarchical_levels
    with torch.no_grad():
        full = model.target_encoder(pixel_values_videos, output_hierarchical=True).hierarchical_hidden_state
        targets_full = normalize_levels(full, levels)
    context_lambda = objective.context_lambda(global_step, modality) if objective.predict_all else 0.0
    prediction_losses, context_losses, predictions, targets, context_stds = [], [], [], [], []
    for context, target in zip(context_mask, target_mask):
        encoded = model.encoder(pixel_values_videos, visible_mask=context, output_hierarchical=True)
        out = model.predictor(encoded.hierarchical_hidden_state, [context], [target], grid=grid,
                              mask_index=mask_index, modality=modality)
        target_states = apply_masks(targets_full, [target.to(targets_full.device)])
        prediction_losses.append(_masked_l1(out.last_hidden_state, target_states, loss_exp))
        if objective.predict_all:
            weight = context_distances(context, target, grid, objective.offset_context_loss).to(targets_full.device)
            context_states = apply_masks(targets_full, [context.to(targets_full.device)])
            weight = weight if objective.weight_distance_loss else None
            context_losses.append(_masked_l1(out.context_hidden_state, context_states, loss_exp, weight))
        predictions.append(out.last_hidden_state)
        targets.append(target_states)
        context_stds.append(_token_std(encoded.last_hidden_state))
    mask_losses = torch.stack([loss.float() for loss in prediction_losses])
    prediction_loss = mask_losses.mean()
    context_loss = torch.stack(context_losses).float().mean() if context_losses else prediction_loss.new_zeros(())
    loss = prediction_loss + context_lambda * context_loss
    with torch.no_grad():
        clip_means = targets_full.float().mean(dim=1)
        return VJEPA21PretrainingOutput(
            loss=loss,
            mask_losses=mask_losses.detach(),
            target_std=_token_std(targets_full),
            prediction_std=torch.stack([_token_std(p) for p in predictions]).mean(),
            target_clip_std=clip_means.std(dim=0).mean() if clip_means.shape[0] > 1 else clip_means.new_zeros(()),
            context_std=torch.stack(context_stds).mean(),
            predictions=tuple(predictions) if output_predictions else None,
            targets=tuple(targets) if output_predictions else None,
            prediction_loss=prediction_loss.detach(),
            context_loss=context_loss.detach(),
            context_lambda=context_lambda,
            modality=modality,
        )


def mixed_modality_forward(
    model, batches: Sequence[Mapping[str, Any]], global_step: int | None = None, **kwargs
) -> tuple[torch.Tensor, list[VJEPA21PretrainingOutput]]:
    """Mean 2.1 loss over batches of different modalities (e.g. one video and one image batch), the gradient that
    the official recipe's DDP average over its video and image ranks gives.

    Args:
        batches: each a mapping with `pixel_values_videos`, `context_mask`, `target_mask` (images as one-frame
            clips `(B, 1, C, H, W)`).
        global_step, kwargs: passed to `vjepa2_1_forward`.

    Returns:
        `(loss, outputs)`: the mean loss and each batch's output.
    """
    if not batches:
        raise ValueError("`batches` must hold at least one batch")
    outputs = [
        vjepa2_1_forward(model, b["pixel_values_videos"], b["context_mask"], b["target_mask"],
                         global_step=global_step, **kwargs)
        for b in batches
    ]
    return torch.stack([o.loss for o in outputs]).mean(), outputs
