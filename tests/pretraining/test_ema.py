"""The EMA update in float32 (`vjepa2_hf.pretraining.ema`)."""

from __future__ import annotations

import torch
from torch import nn

from vjepa2_hf.pretraining.ema import ema_update


def test_low_precision_target_is_updated_in_float32_and_rounded_once():
    torch.manual_seed(0)
    online = nn.Linear(64, 64)
    target = nn.Linear(64, 64).to(torch.bfloat16)
    start = {k: v.float().clone() for k, v in target.state_dict().items()}
    ema_update(target, online, 0.999)
    for name, value in target.state_dict().items():
        expected = (0.999 * start[name] + 0.001 * online.state_dict()[name].float()).to(torch.bfloat16)
        # within one bf16 rounding of the float32 result (rounding the online weights to bf16 first, or lerping in
        # bf16, moves many entries by a whole bf16 step)
        assert torch.equal(value, expected), name


def test_float32_target_matches_the_formula():
    torch.manual_seed(0)
    online, target = nn.Linear(8, 8), nn.Linear(8, 8)
    start = {k: v.clone() for k, v in target.state_dict().items()}
    ema_update(target, online, 0.9)
    for name, value in target.state_dict().items():
        torch.testing.assert_close(value, 0.9 * start[name] + 0.1 * online.state_dict()[name], rtol=0, atol=1e-7)
