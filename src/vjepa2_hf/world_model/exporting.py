"""The world model's two hot parts exported, and a world model that runs them (`backend="onnxruntime"` / ...).

* Frame encoding is the encoder's graph (`vjepa2_hf.encoder.exporting.export_encoder`): a frame duplicated into a
  tubelet is a 2-frame clip; the affine-free LayerNorm stays in PyTorch.
* One rollout step of the AC predictor, [`VJEPA2ACRolloutStep`]: the newest frame's tokens, action and state plus
  the keys / values of all past frames as explicit inputs; the prediction and the new frame's keys / values as
  outputs (the caller appends them to its [`VJEPA2ACCache`]). Batch and the number of past frames (0 included)
  are symbolic: one graph serves every step of every rollout.

[`ExportedVJEPA2ACPredictor`] is called like [`VJEPA2ACPredictor`] (same cache object), running several frames one
step at a time (block-causal attention makes that equal to running them together), so `VJEPA2WorldModel.rollout`,
the planners and the policy run unchanged on it. [`with_backend`] swaps both parts of a world model.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torch.export import Dim

from ..encoder.exporting import (
    BACKEND_FORMATS, MAX_SIZE, ExportedVJEPA2Encoder, check_backend, export_encoder, export_program,
    is_exported_folder, load_exported,
)
from .configuration_vjepa2_ac import VJEPA2ACConfig
from .modeling_vjepa2_ac import VJEPA2ACCache, VJEPA2ACPredictor, VJEPA2ACPredictorOutput

__all__ = ["ExportedVJEPA2ACPredictor", "VJEPA2ACRolloutStep", "export_rollout_step", "export_world_model",
           "with_backend"]

ENCODER_DIR, STEP_DIR = "encoder", "rollout_step"


class _StepCache:
    """Explicit-tensor cache of one step: past keys / values `(layers, batch, heads, past_tokens, head_dim)`; keeps
    the new frame's keys / values for the step's outputs."""

    def __init__(self, past_keys: torch.Tensor, past_values: torch.Tensor) -> None:
        self.past_keys, self.past_values = past_keys, past_values
        self.new_keys: list[torch.Tensor] = []
        self.new_values: list[torch.Tensor] = []

    def update(self, layer_idx: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.new_keys.append(key)
        self.new_values.append(value)
        return (torch.cat((self.past_keys[layer_idx], key), dim=2),
                torch.cat((self.past_values[layer_idx], value), dim=2))


class VJEPA2ACRolloutStep(nn.Module):
    """One rollout step of the AC predictor with its key / value cache as explicit inputs and outputs.

    Inputs: `frame` `(batch, tokens_per_frame, hidden_size)` (normalised embedding of the newest frame), `action`
    `(batch, 1, action_dim)`, `state` `(batch, 1, state_dim)`, `past_keys` / `past_values` `(layers, batch, heads,
    past_frames * (cond_tokens + tokens_per_frame), head_dim)`.

    Outputs: `prediction` `(batch, tokens_per_frame, hidden_size)` (the predictor's output; `VJEPA2WorldModel`
    normalises it), `new_keys` / `new_values` `(layers, batch, heads, cond_tokens + tokens_per_frame, head_dim)`.
    """

    def __init__(self, predictor: VJEPA2ACPredictor) -> None:
        super().__init__()
        self.predictor = predictor

    def forward(self, frame, action, state, past_keys, past_values):
        config = self.predictor.config
        per_frame = config.num_cond_tokens + config.tokens_per_frame
        cache = _StepCache(past_keys, past_values)
        out, _, _ = self.predictor.predict_tokens(frame, action, state, None, cache, past_keys.shape[3] // per_frame)
        return out, torch.stack(cache.new_keys), torch.stack(cache.new_values)


def _step_sample(config: VJEPA2ACConfig, past_frames: int = 2, batch: int = 2) -> dict[str, torch.Tensor]:
    per_frame = config.num_cond_tokens + config.tokens_per_frame
    past = (config.pred_num_hidden_layers, batch, config.pred_num_attention_heads, past_frames * per_frame,
            config.head_dim)
    return {"frame": torch.randn(batch, config.tokens_per_frame, config.hidden_size),
            "action": torch.randn(batch, 1, config.action_dim), "state": torch.randn(batch, 1, config.state_dim),
            "past_keys": torch.randn(past), "past_values": torch.randn(past)}


def _step_dynamic_shapes(config: VJEPA2ACConfig) -> dict:
    per_frame = config.num_cond_tokens + config.tokens_per_frame
    batch = Dim("batch", min=1, max=MAX_SIZE)
    past = per_frame * Dim("past_frames", min=0, max=config.max_frames)
    return {"frame": {0: batch}, "action": {0: batch}, "state": {0: batch},
            "past_keys": {1: batch, 3: past}, "past_values": {1: batch, 3: past}}


def export_rollout_step(predictor: VJEPA2ACPredictor, output_dir: str | os.PathLike | None = None,
                        export_format: str = "onnx", int8: bool = False):
    """Export [`VJEPA2ACRolloutStep`] of a float32 predictor (symbolic batch and past frames); returns the
    `ExportedModel` and writes it to `output_dir` when given."""
    if not predictor.config.is_frame_causal:
        raise ValueError("a rollout step with a key/value cache needs block-causal attention (`is_frame_causal`)")
    if predictor.config.use_extrinsics:
        raise ValueError("the exported rollout step takes no extrinsics (`use_extrinsics=False` models only)")
    if predictor.dtype != torch.float32:
        raise ValueError(f"export a float32 predictor (quantize with int8=True), got {predictor.dtype}")
    step = VJEPA2ACRolloutStep(predictor.eval())
    exported = export_program(step, _step_sample(predictor.config), _step_dynamic_shapes(predictor.config),
                              export_format, int8)
    exported.config = predictor.config
    if output_dir is not None:
        exported.save_pretrained(output_dir)
    return exported


def export_world_model(world_model, output_dir: str | os.PathLike, export_format: str = "onnx",
                       int8: bool = False) -> Path:
    """Export both hot parts of a float32 [`VJEPA2WorldModel`]: `output_dir/encoder` (frame encoding, the encoder
    graph) and `output_dir/rollout_step`."""
    out = Path(output_dir)
    export_encoder(world_model.encoder, out / ENCODER_DIR, export_format, int8=int8)
    export_rollout_step(world_model.predictor, out / STEP_DIR, export_format, int8=int8)
    return out


class ExportedVJEPA2ACPredictor(nn.Module):
    """An exported rollout step called like [`VJEPA2ACPredictor`] (float32; frames run one step at a time)."""

    def __init__(self, exported, backend: str) -> None:
        super().__init__()
        self.exported, self.backend, self.config = exported, backend, exported.config
        # no weights in PyTorch: this empty parameter tells callers the device inputs should be on
        self._anchor = nn.Parameter(torch.empty(0), requires_grad=False)

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def new_cache(self) -> VJEPA2ACCache:
        cfg = self.config
        return VJEPA2ACCache(cfg.pred_num_hidden_layers, cfg.num_cond_tokens + cfg.tokens_per_frame)

    def _past(self, cache: VJEPA2ACCache, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        if cache.lengths[0] == 0:
            empty = torch.zeros(cfg.pred_num_hidden_layers, batch, cfg.pred_num_attention_heads, 0, cfg.head_dim)
            return empty, empty
        keys = torch.stack([k[:, :, :n] for k, n in zip(cache.keys, cache.lengths)])
        values = torch.stack([v[:, :, :n] for v, n in zip(cache.values, cache.lengths)])
        return keys.float(), values.float()

    def forward(self, encoder_hidden_states, actions, states, extrinsics=None, cache=None, use_cache=False,
                return_dict=True, output_attentions=None) -> VJEPA2ACPredictorOutput:
        if extrinsics is not None or output_attentions:
            raise ValueError(f"the {self.backend} rollout step takes no extrinsics and returns no attentions")
        cfg = self.config
        batch, num_frames = actions.shape[:2]
        own = cache if cache is not None else self.new_cache()
        frames = encoder_hidden_states.float().reshape(-1, num_frames, cfg.tokens_per_frame, cfg.hidden_size)
        outputs = []
        for t in range(num_frames):
            past_keys, past_values = self._past(own, batch)
            out = self.exported(frame=frames[:, t].expand(batch, -1, -1).contiguous(),
                                action=actions[:, t : t + 1].float().contiguous(),
                                state=states[:, t : t + 1].float().expand(batch, -1, -1).contiguous(),
                                past_keys=past_keys, past_values=past_values)
            prediction, new_keys, new_values = out
            for i in range(cfg.pred_num_hidden_layers):
                own.update(i, new_keys[i], new_values[i])
            outputs.append(prediction)
        x = torch.cat(outputs, dim=1)
        cache = own if (use_cache or cache is not None) else None
        return VJEPA2ACPredictorOutput(last_hidden_state=x, cache=cache) if return_dict else (x, cache)


def with_backend(world_model, backend: str, export_dir: str | os.PathLike | None = None, int8: bool = False,
                 precision: str = "f32"):
    """`world_model` with its encoder and predictor run by `backend` (`"onnxruntime"`, `"openvino"`; `"torch"`
    returns it unchanged). The parts are loaded from `export_dir` when it holds them, else exported there first
    (from a float32 model). `precision`: OpenVINO's inference precision, `"f32"` or `"bf16"`."""
    check_backend(backend)
    if backend == "torch":
        return world_model
    if export_dir is None:
        raise ValueError(f"backend={backend!r} needs an `export_dir` to load the exported parts from (or write them)")
    out = Path(export_dir)
    if not (is_exported_folder(out / ENCODER_DIR) and is_exported_folder(out / STEP_DIR)):
        export_world_model(world_model.float(), out, BACKEND_FORMATS[backend], int8=int8)
    world_model.encoder = ExportedVJEPA2Encoder.from_pretrained(out / ENCODER_DIR, backend, precision)
    world_model.predictor = ExportedVJEPA2ACPredictor(load_exported(out / STEP_DIR, backend, precision), backend)
    return world_model
