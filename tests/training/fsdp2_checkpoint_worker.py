"""Run by `test_checkpoint_format.py` under `torchrun --nproc_per_node 2` (gloo, CPU): a tiny `VJEPA2ForPretraining`
sharded with FSDP2 (`fully_shard` on every `VJEPA2Layer`, then the root) is trained 2 steps, checkpointed with
`save_checkpoint`, trained 2 more steps; a fresh sharded model loads the checkpoint and trains the same 2 steps.
Rank 0 writes the world size, whether the parameters were sharded, the loaded-vs-saved differences and the full
weights of both runs after step 4 (safetensors)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from accelerate import Accelerator
from safetensors.torch import save_file
from torch.distributed.fsdp import fully_shard

from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2Layer
from vjepa2_hf.pretraining.masking import MultiBlockMaskCollator
from vjepa2_hf.pretraining.modeling_pretraining import VJEPA2ForPretraining
from vjepa2_hf.pretraining.optimization import build_param_groups
from vjepa2_hf.training.checkpointing import load_checkpoint, save_checkpoint
from vjepa2_hf.training.loop import TrainingState


def global_batch(step: int):
    generator = torch.Generator().manual_seed(100 + step)
    clips = [torch.randn(4, 3, 32, 32, generator=generator) for _ in range(4)]
    return MultiBlockMaskCollator(patch_size=8, tubelet_size=2, seed=0)(clips)


def train(model, optimizer, state: TrainingState, rows, steps: int) -> None:
    for _ in range(steps):
        batch = global_batch(state.step)
        out = model(batch.pixel_values_videos[rows], [m[rows] for m in batch.context_masks],
                    [m[rows] for m in batch.target_masks])
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        model.update_target_encoder(0.9)
        state.step += 1
        state.history.append({"step": state.step, "loss": float(out.loss.detach())})


def build(accelerator: Accelerator, sharded: bool):
    """A model + AdamW (+ a `TrainingState`) registered with the accelerator as `prepare` would."""
    torch.manual_seed(0)
    model = VJEPA2ForPretraining(VJEPA2Config.from_preset("tiny"))
    if sharded:
        for module in model.modules():
            if isinstance(module, VJEPA2Layer):
                fully_shard(module)
        fully_shard(model)
    else:
        model = accelerator.prepare(model)
    optimizer = torch.optim.AdamW(build_param_groups(model, 0.04), lr=1e-3)
    state = TrainingState()
    accelerator._models[:], accelerator._optimizers[:], accelerator._custom_objects[:] = [model], [optimizer], [state]
    return model, optimizer, state


def full_weights(model) -> dict[str, torch.Tensor]:
    return {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone() for k, v in
            model.state_dict().items()}


def main(out_dir: str) -> None:
    torch.set_num_threads(1)
    accelerator = Accelerator(cpu=True)
    rank, world = accelerator.process_index, accelerator.num_processes
    rows = slice(rank * 4 // world, (rank + 1) * 4 // world)
    model, optimizer, state = build(accelerator, sharded=True)
    train(model, optimizer, state, rows, 2)
    saved = full_weights(model)
    checkpoint = save_checkpoint(accelerator, out_dir, state.step)
    train(model, optimizer, state, rows, 2)
    uninterrupted = full_weights(model)

    model, optimizer, state = build(accelerator, sharded=True)
    load_checkpoint(accelerator, checkpoint)
    loaded = full_weights(model)
    loaded_step = state.step
    train(model, optimizer, state, rows, 2)
    resumed = full_weights(model)
    if rank == 0:
        layer = model.encoder.layer[0].mlp.fc1.weight
        report = {
            "world_size": world,
            "sharded_rows": list(layer.to_local().shape) if hasattr(layer, "to_local") else None,
            "full_rows": list(layer.shape),
            "loaded_step": loaded_step,
            "max_loaded_diff": max(float((loaded[k] - saved[k]).abs().max()) for k in saved),
            "max_resumed_diff": max(float((resumed[k] - uninterrupted[k]).abs().max()) for k in saved),
            "checkpoint": str(checkpoint),
        }
        Path(out_dir, "report.json").write_text(json.dumps(report))
        weights = {k: v.contiguous() for k, v in uninterrupted.items()}
        save_file(weights, str(Path(out_dir, "uninterrupted.safetensors")))
    accelerator.wait_for_everyone()


if __name__ == "__main__":
    main(sys.argv[1])
