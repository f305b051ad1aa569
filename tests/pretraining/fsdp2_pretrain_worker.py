"""Run by `test_multiprocess.py` under `torchrun --nproc_per_node 2` (gloo, CPU): `VJEPA2ForPretraining` sharded with
FSDP2 (`fully_shard` on every `VJEPA2Layer`, then the root), as `examples/accelerate/fsdp_vitg.yaml` asks Accelerate
to do on GPUs. Two training steps (forward with two encoder calls, backward, AdamW, EMA update on the local shards),
each rank on its half of the global batch; rank 0 writes the losses and the gathered weights."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard

from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2Layer
from vjepa2_hf.pretraining.masking import MultiBlockMaskCollator
from vjepa2_hf.pretraining.modeling_pretraining import VJEPA2ForPretraining
from vjepa2_hf.pretraining.optimization import build_param_groups


def global_batch(step: int):
    torch.manual_seed(100 + step)
    clips = [torch.randn(4, 3, 32, 32) for _ in range(4)]
    return MultiBlockMaskCollator(patch_size=8, tubelet_size=2, seed=0)([c for c in clips])


def train(model, optimizer, rows, steps: int = 2):
    losses = []
    for step in range(steps):
        batch = global_batch(step)
        out = model(batch.pixel_values_videos[rows], [m[rows] for m in batch.context_masks],
                    [m[rows] for m in batch.target_masks])
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        model.update_target_encoder(0.9)
        losses.append(out.loss.detach())
    return losses


def build():
    torch.manual_seed(0)
    model = VJEPA2ForPretraining(VJEPA2Config.from_preset("tiny"))
    return model


def main(result_path: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    model = build()
    for module in model.modules():
        if isinstance(module, VJEPA2Layer):
            fully_shard(module)
    fully_shard(model)
    optimizer = torch.optim.AdamW(build_param_groups(model, 0.04), lr=1e-3)
    rows = slice(rank * 2, rank * 2 + 2)
    losses = train(model, optimizer, rows)
    losses = [l.clone() for l in losses]
    for l in losses:
        dist.all_reduce(l)
    full = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).clone() for k, v in model.state_dict().items()}
    if rank == 0:
        reference = build()
        ref_optimizer = torch.optim.AdamW(build_param_groups(reference, 0.04), lr=1e-3)
        ref_losses = train(reference, ref_optimizer, slice(0, 4))
        torch.save(
            {
                "world_size": world,
                "losses": [float(l) / world for l in losses],
                "reference_losses": [float(l) for l in ref_losses],
                "max_weight_diff": max(float((full[k] - v).abs().max()) for k, v in reference.state_dict().items()),
                "target_changed": float((full["target_encoder.layer.0.mlp.fc1.weight"]
                                         - build().state_dict()["target_encoder.layer.0.mlp.fc1.weight"]).abs().max()),
            },
            result_path,
        )
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
