"""Learning-rate, weight-decay and EMA-momentum schedules of the training engine (V-JEPA 2 pretraining, V-JEPA 2-AC).

The official code (``src/utils/schedulers.py``) steps its schedules *before* use: the first optimizer update
already uses ``start + (1 / warmup) * (ref - start)``. The schedules here are pure functions of the 1-based update
number, ``value_at(step)``, with the same convention, plus a small stateful wrapper that writes the value into the
optimizer's param groups and can be checkpointed.

V-JEPA 2 schedule (paper §2.4, Table 9): linear warmup 1e-4 -> 5.25e-4 over 12k steps, then constant (the
configs' cosine schedule has ``final_lr == lr``); the cooldown phase decays linearly 5.25e-4 -> 1e-6 over 12k
steps. Note that the official cooldown config computes its horizon as ``int(1.25 * epochs * ipe)``, so the
released code stops at ~1.06e-4 instead of reaching 1e-6; here the cooldown ends exactly at ``final_lr`` as the
paper describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch

__all__ = ["WarmupConstantCooldownSchedule", "LinearSchedule", "ScheduledOptimizer"]


@dataclass(frozen=True)
class WarmupConstantCooldownSchedule:
    """``start_lr -> peak_lr`` linearly over ``warmup_steps``, constant, then ``peak_lr -> final_lr`` linearly over
    the last ``cooldown_steps`` of ``total_steps``.

    Args:
        peak_lr (`float`): the constant value after warmup.
        total_steps (`int`): number of optimizer updates of the run.
        warmup_steps (`int`): updates of linear warmup (0 = start at ``peak_lr``).
        start_lr (`float`): value the warmup starts from.
        cooldown_steps (`int`): updates of linear decay at the end (0 = no cooldown).
        final_lr (`float`): value reached at the last update of the cooldown.
    """

    peak_lr: float
    total_steps: int
    warmup_steps: int = 0
    start_lr: float = 0.0
    cooldown_steps: int = 0
    final_lr: float = 0.0

    def __post_init__(self):
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {self.total_steps}")
        if self.warmup_steps < 0 or self.cooldown_steps < 0:
            raise ValueError(f"warmup_steps and cooldown_steps must be >= 0, got {self.warmup_steps}, {self.cooldown_steps}")
        if self.warmup_steps + self.cooldown_steps > self.total_steps:
            raise ValueError(
                f"warmup_steps ({self.warmup_steps}) + cooldown_steps ({self.cooldown_steps}) exceed total_steps "
                f"({self.total_steps})"
            )

    def value_at(self, step: int) -> float:
        """Value used by update number ``step`` (1-based, as the official ``_step`` after its increment)."""
        if step <= self.warmup_steps:
            return self.start_lr + (step / self.warmup_steps) * (self.peak_lr - self.start_lr)
        cooldown_start = self.total_steps - self.cooldown_steps
        if self.cooldown_steps and step > cooldown_start:
            progress = min(1.0, (step - cooldown_start) / self.cooldown_steps)
            return self.peak_lr + progress * (self.final_lr - self.peak_lr)
        return self.peak_lr


@dataclass(frozen=True)
class LinearSchedule:
    """Linear interpolation ``start -> end`` over ``total_steps`` updates, constant afterwards.

    Used for the EMA momentum (official ``momentum_scheduler``: ``ema[0] + i * (ema[1] - ema[0]) / horizon``,
    where ``i`` starts at 0 for the first update) and for weight decay.
    """

    start: float
    end: float
    total_steps: int

    def value_at(self, step: int) -> float:
        """Value for update number ``step`` (1-based); update 1 uses ``start``."""
        if self.total_steps <= 0:
            return self.end
        progress = min(1.0, max(0, step - 1) / self.total_steps)
        return self.start + progress * (self.end - self.start)


class ScheduledOptimizer:
    """Writes the learning rate (and weight decay, on the groups that have decay) of an optimizer from schedules.

    Param groups whose ``weight_decay`` is 0 at construction are never decayed (the official ``WD_exclude``).

    Args:
        optimizer (`torch.optim.Optimizer`): the optimizer (may be wrapped by Accelerate).
        lr_schedule (`WarmupConstantCooldownSchedule`): the learning-rate schedule.
        wd_schedule (`LinearSchedule`, *optional*): the weight-decay schedule (constant 0.04 in V-JEPA 2).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        lr_schedule: WarmupConstantCooldownSchedule,
        wd_schedule: LinearSchedule | None = None,
    ):
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.wd_schedule = wd_schedule
        self._decayed = [float(g.get("weight_decay", 0.0)) > 0 for g in optimizer.param_groups]
        self.last_step = 0

    def step(self) -> float:
        """Advance to the next update and set its learning rate. Call *before* ``optimizer.step()``."""
        self.last_step += 1
        lr = self.lr_schedule.value_at(self.last_step)
        wd = self.wd_schedule.value_at(self.last_step) if self.wd_schedule is not None else None
        for group, decayed in zip(self.optimizer.param_groups, self._decayed):
            group["lr"] = lr
            if wd is not None and decayed:
                group["weight_decay"] = wd
        return lr

    def get_last_lr(self) -> float:
        return self.lr_schedule.value_at(max(1, self.last_step))

    def state_dict(self) -> dict[str, Any]:
        return {"last_step": self.last_step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_step = int(state["last_step"])
