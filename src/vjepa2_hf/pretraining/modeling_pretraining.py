"""V-JEPA 2 self-supervised pretraining model: context encoder, predictor and EMA target encoder.

One step (official ``app/vjepa/train.py``):

1. ``h = target_encoder(clip)`` on the **full** clip, without gradient, then ``h = layer_norm(h)`` without affine
   parameters (eps 1e-5): the targets are per-token normalised final-layer features.
2. for each mask configuration ``j``: ``z_j = encoder(clip, visible tokens = context_j)`` (all ``j`` in one packed
   pass, `VJEPA2Encoder.forward_visible_sets`) and
   ``p_j = predictor(z_j, context_j, target_j, mask_index=0)`` (``mask_index`` is the frames-per-clip group; a single
   group uses mask token 0, as the released configs);
3. ``loss_j = mean(|p_j - h[target_j]| ** loss_exp) / loss_exp`` (``loss_exp = 1``: mean L1), and the loss is the
   average over the mask configurations;
4. after the optimizer step, ``target_encoder <- m * target_encoder + (1 - m) * encoder`` (`update_target_encoder`).

Collapse (all clips mapped to the same features) shows as the spread of the features across tokens going to zero:
the output reports ``target_std`` and ``prediction_std`` (std over the batch's tokens of each channel, averaged over
channels; ~1 for healthy normalised targets, -> 0 under collapse) and ``target_clip_std`` (the same over the clips'
mean features), so a run can log them and stop on a floor.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput, logging

from ..encoder.configuration_vjepa2 import VJEPA2Config
from ..encoder.modeling_vjepa2 import (
    VJEPA2Encoder,
    VJEPA2Model,
    VJEPA2EncoderHolder,
    VJEPA2Predictor,
    apply_masks,
)
from .ema import copy_parameters, ema_update

logger = logging.get_logger(__name__)

__all__ = ["VJEPA2PretrainingOutput", "VJEPA2ForPretraining", "TARGET_LAYER_NORM_EPS", "export_vjepa2_model"]

#: eps of the affine-free LayerNorm applied to the targets (official ``F.layer_norm`` default).
TARGET_LAYER_NORM_EPS = 1e-5


@dataclass
class VJEPA2PretrainingOutput(ModelOutput):
    r"""
    Args:
        loss (`torch.FloatTensor` of shape `()`): mean of `mask_losses` (the training objective).
        mask_losses (`torch.FloatTensor` of shape `(num_mask_configs,)`): loss of each mask configuration.
        target_std (`torch.FloatTensor` of shape `()`): std over the target tokens of each channel of the normalised
            targets, averaged over channels (no gradient). Near 0 means collapse.
        prediction_std (`torch.FloatTensor` of shape `()`): the same for the predictions.
        target_clip_std (`torch.FloatTensor` of shape `()`): std over clips of the clips' mean target features,
            averaged over channels (0 when every clip gets the same features; needs a batch of >= 2 clips).
        context_std (`torch.FloatTensor` of shape `()`): the same as `target_std` for the context encoder output.
        predictions (`tuple(torch.FloatTensor)`, *optional*): per mask config, `(batch_size, num_target, hidden_size)`
            predictions (with `output_predictions=True`).
        targets (`tuple(torch.FloatTensor)`, *optional*): per mask config, the matching normalised targets.
    """

    loss: torch.FloatTensor | None = None
    mask_losses: torch.FloatTensor | None = None
    target_std: torch.FloatTensor | None = None
    prediction_std: torch.FloatTensor | None = None
    target_clip_std: torch.FloatTensor | None = None
    context_std: torch.FloatTensor | None = None
    predictions: tuple[torch.FloatTensor, ...] | None = None
    targets: tuple[torch.FloatTensor, ...] | None = None


def _mask_lists(
    context_mask: Sequence[torch.Tensor] | torch.Tensor, target_mask: Sequence[torch.Tensor] | torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """One index tensor per mask configuration, as lists of equal non-zero length."""
    if isinstance(context_mask, torch.Tensor):
        context_mask = [context_mask]
    if isinstance(target_mask, torch.Tensor):
        target_mask = [target_mask]
    context_mask, target_mask = list(context_mask), list(target_mask)
    if not context_mask or len(context_mask) != len(target_mask):
        raise ValueError(
            "`context_mask` and `target_mask` must be non-empty lists with one index tensor [batch, K] per mask "
            f"configuration, got {len(context_mask)} and {len(target_mask)} entries"
        )
    return context_mask, target_mask


def _token_std(features: torch.Tensor) -> torch.Tensor:
    """`(..., D)` -> mean over channels of the std over all tokens (float32, no grad)."""
    flat = features.detach().float().reshape(-1, features.shape[-1])
    if flat.shape[0] < 2:
        return flat.new_zeros(())
    return flat.std(dim=0).mean()


class VJEPA2ForPretraining(VJEPA2EncoderHolder):
    """V-JEPA 2 pretraining: a context ``encoder``, a ``predictor`` and an EMA ``target_encoder`` (no gradient).

    Parameter names of ``encoder.*`` and ``predictor.*`` are those of [`VJEPA2Model`], so the two models exchange
    weights directly (`from_vjepa2_model`, `to_vjepa2_model`). Fresh models use the official initialisation
    (truncated normal std 0.02, residual projections of block ``l`` divided by ``sqrt(2 (l + 1))``, zero mask tokens)
    and start with ``target_encoder == encoder``.

    Example:
        ```python
        from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
        from vjepa2_hf.pretraining import MultiBlockMaskCollator, VJEPA2ForPretraining

        config = VJEPA2Config.from_preset("tiny")
        model = VJEPA2ForPretraining(config)
        batch = MultiBlockMaskCollator(patch_size=8, tubelet_size=2)([torch.randn(8, 3, 64, 64)] * 2)
        out = model(batch.pixel_values_videos, batch.context_masks, batch.target_masks)
        out.loss.backward()
        model.update_target_encoder(0.999)
        ```
    """

    def __init__(self, config: VJEPA2Config) -> None:
        super().__init__(config)
        self.encoder = VJEPA2Encoder(config)
        self.predictor = VJEPA2Predictor(config)
        self.target_encoder = VJEPA2Encoder(config)
        self.post_init()
        self._redraw_residual_projections()
        copy_parameters(self.target_encoder, self.encoder)
        self.target_encoder.requires_grad_(False)
        self.target_encoder.eval()

    @torch.no_grad()
    def _redraw_residual_projections(self) -> None:
        """Official ``_rescale_blocks`` for a fresh model: block ``l`` (0-based) gets ``attention.proj`` and
        ``mlp.fc2`` weights of std ``initializer_range / sqrt(2 (l + 1))``.

        Done here explicitly (redrawn, so it is idempotent) because transformers' weight-init machinery skips
        modules that own no parameters directly in non-transformers code, such as the blocks. Skipped for models
        built on the meta device (``from_pretrained``), whose weights are loaded afterwards.
        """
        std = self.config.initializer_range
        for stack in (self.encoder.layer, self.predictor.layer):
            for idx, layer in enumerate(stack):
                scale = math.sqrt(2.0 * (idx + 1))
                for weight in (layer.attention.proj.weight, layer.mlp.fc2.weight):
                    if weight.device.type == "meta":
                        return
                    nn.init.trunc_normal_(weight, mean=0.0, std=std / scale, a=-2.0 / scale, b=2.0 / scale)

    # -- the target encoder is never trained: keep it in eval mode and without gradients -----------------------
    def train(self, mode: bool = True) -> "VJEPA2ForPretraining":
        super().train(mode)
        self.target_encoder.eval()
        return self

    def compile_blocks(self, **compile_kwargs) -> "VJEPA2ForPretraining":
        """`torch.compile` the transformer blocks of the encoder, the target encoder and the predictor in place
        (regional compilation, `vjepa2_hf.training.compilation.compile_blocks`: `dynamic=True`, so the per-batch token
        counts of the masks do not recompile; parameter names unchanged). The first step pays the compile time."""
        from ..training.compilation import compile_blocks

        compile_blocks([*self.encoder.layer, *self.target_encoder.layer, *self.predictor.layer], **compile_kwargs)
        return self

    @torch.no_grad()
    def update_target_encoder(self, momentum: float) -> None:
        """EMA step ``target <- momentum * target + (1 - momentum) * encoder`` (call after ``optimizer.step()``)."""
        ema_update(self.target_encoder, self.encoder, momentum)

    @torch.no_grad()
    def compute_targets(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """Normalised targets: target-encoder features of the full clip, LayerNorm without affine (eps 1e-5).

        Returns:
            `torch.FloatTensor` of shape `(batch_size, num_tokens, hidden_size)`.
        """
        features = self.target_encoder(pixel_values_videos).last_hidden_state
        return F.layer_norm(features, (features.shape[-1],), eps=TARGET_LAYER_NORM_EPS)

    def forward(
        self,
        pixel_values_videos: torch.Tensor,
        context_mask: Sequence[torch.Tensor],
        target_mask: Sequence[torch.Tensor],
        mask_index: int = 0,
        loss_exp: float = 1.0,
        output_predictions: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> VJEPA2PretrainingOutput | tuple:
        r"""
        Args:
            pixel_values_videos (`torch.FloatTensor` of shape `(batch_size, num_frames, num_channels, height, width)`):
                normalised clips.
            context_mask (`list[torch.LongTensor]`): per mask configuration, `(batch_size, num_context)` indices of
                the tokens the context encoder sees (ascending flat indices of the token grid).
            target_mask (`list[torch.LongTensor]`): per mask configuration, `(batch_size, num_target)` indices of
                the tokens to predict.
            mask_index (`int`, defaults to 0): predictor mask token (the official frames-per-clip group index).
            loss_exp (`float`, defaults to 1.0): the official `loss_exp`; 1 gives the mean L1 loss.
            output_predictions (`bool`): also return the predictions and targets of each mask configuration.
            kwargs: for V-JEPA 2.1 configs, `global_step` and `objective` of `objective_vjepa2_1.vjepa2_1_forward`.

        Returns:
            [`VJEPA2PretrainingOutput`].
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if self.config.is_vjepa2_1:  # V-JEPA 2.1 objective (hierarchical targets, context loss): its own module
            from .objective_vjepa2_1 import vjepa2_1_forward

            output = vjepa2_1_forward(self, pixel_values_videos, context_mask, target_mask, mask_index,
                                      loss_exp, kwargs.get("global_step"), kwargs.get("objective"), output_predictions)
            return output if return_dict else output.to_tuple()
        context_mask, target_mask = _mask_lists(context_mask, target_mask)
        if loss_exp <= 0:
            raise ValueError(f"`loss_exp` must be > 0, got {loss_exp}")
        output = self._masked_prediction_loss(
            pixel_values_videos, context_mask, target_mask, mask_index, loss_exp, output_predictions
        )
        return output if return_dict else output.to_tuple()

    def _masked_prediction_loss(
        self,
        pixel_values_videos: torch.Tensor,
        context_mask: list[torch.Tensor],
        target_mask: list[torch.Tensor],
        mask_index: int,
        loss_exp: float,
        output_predictions: bool,
    ) -> VJEPA2PretrainingOutput:
        """The V-JEPA 2 step: encode each context, predict its targets, L1 (`loss_exp`) against the target encoder."""
        grid = self.get_grid(pixel_values_videos)
        targets_full = self.compute_targets(pixel_values_videos)  # (B, N, D), no grad
        losses, predictions, targets, context_stds = [], [], [], []
        contexts = self.encoder.forward_visible_sets(pixel_values_videos, context_mask)  # per config (B, Kc, D)
        for context_states, context, target in zip(contexts, context_mask, target_mask):
            predicted = self.predictor(
                context_states, [context], [target], grid=grid, mask_index=mask_index
            ).last_hidden_state  # (B, Kt, D)
            target_states = apply_masks(targets_full, [target.to(targets_full.device)])  # (B, Kt, D)
            losses.append(torch.mean(torch.abs(predicted - target_states) ** loss_exp) / loss_exp)
            predictions.append(predicted)
            targets.append(target_states)
            context_stds.append(_token_std(context_states))
        mask_losses = torch.stack([loss.float() for loss in losses])

        with torch.no_grad():
            target_std = _token_std(targets_full)
            prediction_std = torch.stack([_token_std(p) for p in predictions]).mean()
            clip_means = targets_full.detach().float().mean(dim=1)  # (B, D)
            target_clip_std = clip_means.std(dim=0).mean() if clip_means.shape[0] > 1 else clip_means.new_zeros(())
            context_std = torch.stack(context_stds).mean()

        return VJEPA2PretrainingOutput(
            loss=mask_losses.mean(),
            mask_losses=mask_losses.detach(),
            target_std=target_std,
            prediction_std=prediction_std,
            target_clip_std=target_clip_std,
            context_std=context_std,
            predictions=tuple(predictions) if output_predictions else None,
            targets=tuple(targets) if output_predictions else None,
        )

    # -- exchange with VJEPA2Model ----------------------------------------------------------------------------
    @classmethod
    def from_vjepa2_model(
        cls, model: VJEPA2Model | str | os.PathLike, target_encoder_state: dict[str, torch.Tensor] | None = None, **kw
    ) -> "VJEPA2ForPretraining":
        """Start pretraining from a [`VJEPA2Model`] (an instance or a saved / converted folder or hub id).

        The target encoder starts as a copy of the encoder unless ``target_encoder_state`` (a `VJEPA2Encoder` state
        dict, e.g. the official ``target_encoder``) is given. Loading is strict.
        """
        if not isinstance(model, VJEPA2Model):
            model = VJEPA2Model.from_pretrained(model, **kw)
        pretraining = cls(copy.deepcopy(model.config))
        pretraining.encoder.load_state_dict(model.encoder.state_dict(), strict=True)
        pretraining.predictor.load_state_dict(model.predictor.state_dict(), strict=True)
        if target_encoder_state is None:
            copy_parameters(pretraining.target_encoder, pretraining.encoder)
        else:
            pretraining.target_encoder.load_state_dict(target_encoder_state, strict=True)
        pretraining.to(next(model.parameters()).dtype)
        return pretraining

    def to_vjepa2_model(self, encoder: str = "encoder") -> VJEPA2Model:
        """A [`VJEPA2Model`] with this model's predictor and its context (``"encoder"``, what the hub / transformers
        release) or EMA (``"target_encoder"``, what the official evals load) encoder."""
        model = export_vjepa2_model(self.config, self.state_dict(), encoder)
        return model.to(next(self.parameters()).dtype)


def export_vjepa2_model(
    config: VJEPA2Config, state_dict: dict[str, torch.Tensor], encoder: str = "encoder"
) -> VJEPA2Model:
    """Build a [`VJEPA2Model`] from a full `VJEPA2ForPretraining` state dict (e.g. ``accelerator.get_state_dict``,
    which gathers DDP / FSDP weights), taking ``encoder`` (``"encoder"`` or ``"target_encoder"``) and the predictor.
    Loading is strict."""
    if encoder not in ("encoder", "target_encoder"):
        raise ValueError(f"`encoder` must be 'encoder' or 'target_encoder', got {encoder!r}")
    prefix = encoder + "."
    selected = {"encoder." + k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    selected.update({k: v for k, v in state_dict.items() if k.startswith("predictor.")})
    model = VJEPA2Model(copy.deepcopy(config))
    model.load_state_dict(selected, strict=True)
    return model
