"""Run by `test_multiprocess_vlm.py`, alone or under `torchrun`: `vjepa2-hf train-vlm --config FILE`
(`vjepa2_hf.cli.main`) with the stage `Trainer`'s `train` wrapped so that every rank also writes, per stage, its
process group's world size, its log history and its trained parameters to `<RESULTS>/rank<R>-<stage>.pt`.

    python multiprocess_vlm_worker.py RESULTS CONFIG
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist

from vjepa2_hf.cli import main
from vjepa2_hf.vlm.training import VJEPA2VLMTrainer

results, config = sys.argv[1], sys.argv[2]
train = VJEPA2VLMTrainer.train


def recording_train(self, *args, **kwargs):
    output = train(self, *args, **kwargs)
    rank = int(os.environ.get("RANK", "0"))
    stage = os.path.basename(self.args.output_dir)
    torch.save({
        "world_size": dist.get_world_size() if dist.is_initialized() else 1,
        "backend": dist.get_backend() if dist.is_initialized() else None,
        "log_history": self.state.log_history,
        "trained": {k: v.detach().clone() for k, v in self.model.named_parameters() if v.requires_grad},
    }, os.path.join(results, f"rank{rank}-{stage}.pt"))
    return output


VJEPA2VLMTrainer.train = recording_train
sys.exit(main(["train-vlm", "--config", config]))
