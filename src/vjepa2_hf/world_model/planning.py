"""Cross-entropy-method planning toward a goal embedding, on pure tensors.

`cem` is generic over the action dimension: it samples a Gaussian over the *free* action dimensions of every step
of the horizon, projects the samples onto a constraint set, asks a rollout function for the final predicted frame
of every candidate, scores candidates with an energy (mean L1 to the goal embedding, as V-JEPA 2-AC), and refits
mean and std to the `topk` lowest-energy candidates, with momentum.

Constraints (`ActionConstraint`):

* `BoxConstraint`: per-coordinate clipping (the official planner clips Franka translations to ``+-maxnorm`` and the
  gripper to ``+-0.75``);
* `L1BallConstraint`: Euclidean projection of each step's action onto an L1 ball (the paper: radius 0.075).

`official_cem` is the official notebook planner (`notebooks/utils/mpc_utils.py::cem`) expressed with `cem`: for
7-D Franka actions it samples ``(dx, dy, dz, gripper)``, fixes the rotation deltas to 0, uses separate momenta for
translation and gripper, optionally forces the gripper closed from a given step, and rounds small gripper values
of the returned plan to 0. Given the same seed and the same world model it returns the same plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

RolloutFn = Callable[[torch.Tensor], torch.Tensor]
EnergyFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SampleHook = Callable[[torch.Tensor, int], torch.Tensor]


# ---------------------------------------------------------------------------------------------- energy
def l1_energy(predicted: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between each candidate's predicted frame and the goal (the V-JEPA 2-AC energy).

    Args:
        predicted (`torch.Tensor` of shape `(num_samples, ...)`), e.g. `(S, tokens_per_frame, hidden_size)`: the
            last predicted frame of each candidate (layer-normalised).
        goal (`torch.Tensor`): the goal embedding, of shape `predicted.shape[1:]` or `(1, *predicted.shape[1:])`
            or `predicted.shape`.

    Returns:
        `torch.Tensor` of shape `(num_samples,)`, float32 whatever the dtype of the predictions (bf16/fp16 world
        models): the energies that rank candidates are computed in float32.
    """
    if goal.shape == predicted.shape[1:]:
        goal = goal.unsqueeze(0)
    if goal.shape[1:] != predicted.shape[1:] or goal.shape[0] not in (1, predicted.shape[0]):
        raise ValueError(
            f"`goal` must have shape {tuple(predicted.shape[1:])} (one goal frame, e.g. (tokens_per_frame, "
            f"hidden_size)) to match the predictions {tuple(predicted.shape)}, got {tuple(goal.shape)}"
        )
    if predicted.dtype == torch.float32 and goal.dtype == torch.float32:
        return (predicted - goal).abs().flatten(1).mean(dim=1)
    # low-precision predictions: the difference and the mean in float32, a chunk of samples at a time so that
    # no float32 copy of all predictions is held
    goal = goal.float()
    chunk = max(1, (1 << 24) // max(1, predicted[0].numel()))
    return torch.cat(
        [(p.float() - goal).abs().flatten(1).mean(dim=1) for p in predicted.split(chunk)]
    )


# ---------------------------------------------------------------------------------------------- constraints
class ActionConstraint:
    """Projection of sampled actions onto a feasible set. Subclasses implement `__call__`."""

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:  # (S, F) -> (S, F)
        raise NotImplementedError

    def contains(self, actions: torch.Tensor, atol: float = 1e-6) -> torch.Tensor:
        """Boolean `(S,)`: whether each action already satisfies the constraint."""
        return (self(actions) - actions).abs().amax(dim=-1) <= atol


@dataclass
class BoxConstraint(ActionConstraint):
    """Clip every coordinate to ``[low, high]`` (scalars or one value per free dimension)."""

    low: float | Sequence[float]
    high: float | Sequence[float]

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        low = torch.as_tensor(self.low, dtype=actions.dtype, device=actions.device)
        high = torch.as_tensor(self.high, dtype=actions.dtype, device=actions.device)
        if (low > high).any():
            raise ValueError(f"BoxConstraint needs low <= high, got low={self.low}, high={self.high}")
        return torch.maximum(torch.minimum(actions, high), low)


def project_l1_ball(x: torch.Tensor, radius: float) -> torch.Tensor:
    """Euclidean projection of each row of `x` `(S, F)` onto ``{v : ||v||_1 <= radius}`` (Duchi et al., 2008)."""
    if radius <= 0:
        raise ValueError(f"the L1-ball radius must be positive, got {radius}")
    absx = x.abs()
    inside = absx.sum(dim=-1, keepdim=True) <= radius
    u, _ = absx.sort(dim=-1, descending=True)
    css = u.cumsum(dim=-1)
    j = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype)
    cond = u - (css - radius) / j > 0
    rho = cond.to(torch.int64).cumsum(dim=-1).argmax(dim=-1, keepdim=True)  # last index where cond holds
    theta = (css.gather(-1, rho) - radius) / (rho + 1).to(x.dtype)
    projected = x.sign() * (absx - theta).clamp_min(0.0)
    return torch.where(inside, x, projected)


@dataclass
class L1BallConstraint(ActionConstraint):
    """Each step's action (restricted to `dims` of the free dimensions, default all) lies in an L1 ball of
    `radius` (the paper's planner: radius 0.075, about 13 cm of end-effector travel). Coordinates outside `dims`
    can additionally be clipped with `box` (e.g. the gripper)."""

    radius: float = 0.075
    dims: Sequence[int] | None = None
    box: BoxConstraint | None = None

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        out = self.box(actions) if self.box is not None else actions.clone()
        if self.dims is None:
            return project_l1_ball(out, self.radius)
        idx = torch.as_tensor(list(self.dims), device=actions.device)
        out[:, idx] = project_l1_ball(actions[:, idx], self.radius)
        return out


# ---------------------------------------------------------------------------------------------- CEM
@dataclass
class CEMOutput:
    """Result of `cem`.

    Args:
        actions (`torch.Tensor` of shape `(horizon, action_dim)`): the plan (final mean, fixed dims filled in).
        mean, std (`torch.Tensor` of shape `(horizon, num_free_dims)`): final sampling distribution.
        energies (`list[float]`): lowest energy found at each iteration.
        best_actions (`torch.Tensor` of shape `(horizon, action_dim)`): the lowest-energy sample of the last
            iteration.
    """

    actions: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    energies: list[float] = field(default_factory=list)
    best_actions: torch.Tensor | None = None


def _momentum(value, num: int, name: str, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """`(1 - m, m)` per free dim. ``1 - m`` is computed in float64 before the cast, as Python does for the
    official scalar momenta, so the update is bit-identical to the official code."""
    t = torch.as_tensor(value, dtype=torch.float64, device=device)
    if t.ndim == 0:
        t = t.expand(num)
    if t.shape != (num,):
        raise ValueError(f"`{name}` must be a scalar or have {num} values (one per free dim), got {tuple(t.shape)}")
    return (1.0 - t).to(dtype), t.to(dtype)


def _check_cem_sizes(
    free_dims: Sequence[int] | None, action_dim: int, horizon: int, num_samples: int, iterations: int, topk: int
) -> list[int]:
    """The free action dims of `cem`, after checking them and the CEM sizes (`ValueError` naming the argument)."""
    free = list(range(action_dim)) if free_dims is None else [int(d) for d in free_dims]
    if not free or len(set(free)) != len(free) or min(free) < 0 or max(free) >= action_dim:
        raise ValueError(f"`free_dims` must be distinct indices in [0, {action_dim}), got {free_dims}")
    for name, value in (("horizon", horizon), ("num_samples", num_samples), ("iterations", iterations)):
        if value < 1:
            raise ValueError(f"`{name}` must be at least 1, got {value}")
    if not 1 <= topk <= num_samples:
        raise ValueError(f"`topk` must be in [1, num_samples={num_samples}], got {topk}")
    return free


def _sample_candidates(
    mean: torch.Tensor,
    std: torch.Tensor,
    num_samples: int,
    action_dim: int,
    free_idx: torch.Tensor,
    fixed_value: float,
    constraint: ActionConstraint | None,
    sample_hook: SampleHook | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One CEM draw: `(num_samples, horizon, action_dim)` candidates from the per-step `(horizon, F)` mean / std."""
    device, dtype = mean.device, mean.dtype
    nf = mean.shape[-1]
    steps = []
    for h in range(mean.shape[0]):
        noise = torch.randn(num_samples, nf, device=device, generator=generator)
        sample = noise * std[h] + mean[h]
        if constraint is not None:
            sample = constraint(sample)
        full = torch.full((num_samples, action_dim), fixed_value, dtype=dtype, device=device)
        full[:, free_idx] = sample
        if sample_hook is not None:
            full = sample_hook(full, h)
        steps.append(full)
    candidates = torch.stack(steps, dim=1)  # (S, H, A)
    return candidates


def cem(
    rollout_fn: RolloutFn,
    goal: torch.Tensor,
    action_dim: int,
    horizon: int = 1,
    num_samples: int = 800,
    iterations: int = 10,
    topk: int = 10,
    constraint: ActionConstraint | None = None,
    free_dims: Sequence[int] | None = None,
    fixed_value: float = 0.0,
    init_mean: float | torch.Tensor = 0.0,
    init_std: float | Sequence[float] | torch.Tensor = 1.0,
    momentum_mean: float | Sequence[float] = 0.0,
    momentum_std: float | Sequence[float] = 0.0,
    energy_fn: EnergyFn = l1_energy,
    sample_hook: SampleHook | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> CEMOutput:
    """Plan `horizon` actions that bring the predicted final frame closest to `goal` with the cross-entropy method.

    Sampling, the energies and the refit (mean, std, top-k) are float32 whatever the world model's dtype: the
    candidates passed to `rollout_fn` are float32 (a bf16/fp16 world model casts them at its boundary, as
    `VJEPA2WorldModel.rollout` does) and the goal is cast to float32 once per plan.

    Each iteration, for each step ``h`` of the horizon in turn, draws ``torch.randn(num_samples, F)`` (F = number
    of free dims) from `generator` (the global RNG when None), scales and shifts it by the step's std and mean,
    projects it with `constraint`, writes it into full-width actions (other dims = `fixed_value`) and applies
    `sample_hook(actions, h)`. `rollout_fn` then maps the `(S, horizon, action_dim)` candidates to their last
    predicted frames; the `topk` candidates of lowest `energy_fn` give the new mean and (unbiased) std:
    ``mean <- (1 - momentum_mean) * mean_topk + momentum_mean * mean`` (same for the std).

    Args:
        rollout_fn: `(S, horizon, action_dim)` candidate plans -> `(S, ...)` last predicted frame of each.
        goal: goal embedding accepted by `energy_fn` (for `l1_energy`: one frame, e.g. `(N, D)`).
        action_dim: width of an action.
        horizon, num_samples, iterations, topk: CEM sizes (paper: 1, 800, 10, 10).
        constraint: projection of sampled free-dim actions `(S, F)`; None for no constraint.
        free_dims: action dimensions that are optimised (default all); the others are `fixed_value`.
        init_mean, init_std: initial distribution, scalar, per free dim `(F,)`, or `(horizon, F)`.
        momentum_mean, momentum_std: scalar or one value per free dim.
        energy_fn: `(S, ...)` predictions, goal -> `(S,)` energies (lower is better).
        sample_hook: optional `(actions (S, action_dim), h) -> actions` applied after the constraint.
        generator: RNG for the samples.

    Returns:
        [`CEMOutput`].
    """
    free = _check_cem_sizes(free_dims, action_dim, horizon, num_samples, iterations, topk)
    device = goal.device if device is None else device
    dtype = torch.float32  # CEM statistics stay float32; `rollout_fn` casts candidates to the model's dtype
    goal = goal.float() if goal.is_floating_point() else goal  # once per plan, not per iteration
    nf = len(free)
    mean, std = (torch.as_tensor(v, dtype=dtype, device=device).expand(horizon, nf).clone()
                 for v in (init_mean, init_std))
    keep_mean, mm = _momentum(momentum_mean, nf, "momentum_mean", dtype, device)
    keep_std, ms = _momentum(momentum_std, nf, "momentum_std", dtype, device)
    free_idx = torch.as_tensor(free, device=device)

    energies: list[float] = []
    best = None
    for _ in range(iterations):
        candidates = _sample_candidates(
            mean, std, num_samples, action_dim, free_idx, fixed_value, constraint, sample_hook, generator
        )
        final = rollout_fn(candidates)
        energy = energy_fn(final, goal).float()
        if energy.shape != (num_samples,):
            raise ValueError(f"the energy must have shape ({num_samples},), got {tuple(energy.shape)}")
        order = energy.topk(topk, largest=False).indices
        selected = candidates[order]  # (k, H, A); statistics over full actions, then the free dims (official)
        energies.append(float(energy[order[0]]))
        best = candidates[order[0]]
        mean = selected.mean(dim=0)[..., free_idx] * keep_mean + mean * mm
        std = selected.std(dim=0)[..., free_idx] * keep_std + std * ms

    actions = torch.full((horizon, action_dim), fixed_value, dtype=dtype, device=device)
    actions[:, free_idx] = mean
    return CEMOutput(actions=actions, mean=mean, std=std, energies=energies, best_actions=best)


def official_cem(
    rollout_fn: RolloutFn,
    goal: torch.Tensor,
    rollout: int = 1,
    cem_steps: int = 100,
    momentum_mean: float = 0.25,
    momentum_std: float = 0.95,
    momentum_mean_gripper: float = 0.15,
    momentum_std_gripper: float = 0.15,
    samples: int = 100,
    topk: int = 10,
    maxnorm: float = 0.05,
    axis: dict[int, float] | None = None,
    close_gripper: int | None = None,
    energy_fn: EnergyFn = l1_energy,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The official V-JEPA 2-AC planner for 7-D Franka actions (argument names and defaults as the official `cem`).

    Samples ``(dx, dy, dz, gripper)`` per step from N(0, [maxnorm]*3 + [1]); clips the translation to
    ``[-maxnorm, maxnorm]`` and the gripper to ``[-0.75, 0.75]``; pins the coordinates in `axis` (keys index the
    4-D sample: 0-2 translation, 3 gripper); rotation deltas are 0; from step `close_gripper` on the gripper is
    1.0. Mean and std are refit to the top-k with momenta (translation and gripper separately). Returns the plan
    `(rollout, 7)` with gripper values below 0.25 in magnitude rounded to 0 (element 0 of the official
    `(1, rollout, 7)` output, which is what `WorldModel.infer_next_action` returns).
    """
    axis = dict(axis or {})
    if device is None:
        device = goal.device
    free = (0, 1, 2, 6)
    init_mean = torch.zeros(rollout, 4, device=device)
    for ax, value in axis.items():
        init_mean[:, ax] = value
    init_std = torch.tensor([maxnorm, maxnorm, maxnorm, 1.0], device=device)
    box = BoxConstraint(low=[-maxnorm, -maxnorm, -maxnorm, -0.75], high=[maxnorm, maxnorm, maxnorm, 0.75])

    def hook(actions: torch.Tensor, h: int) -> torch.Tensor:
        for ax, value in axis.items():
            actions[:, free[ax]] = value
        if close_gripper is not None and h >= close_gripper:
            actions[:, 6] = 1.0
        return actions

    out = cem(
        rollout_fn,
        goal,
        action_dim=7,
        horizon=rollout,
        num_samples=samples,
        iterations=cem_steps,
        topk=topk,
        constraint=box,
        free_dims=free,
        init_mean=init_mean,
        init_std=init_std,
        momentum_mean=[momentum_mean] * 3 + [momentum_mean_gripper],
        momentum_std=[momentum_std] * 3 + [momentum_std_gripper],
        energy_fn=energy_fn,
        sample_hook=hook,
        generator=generator,
        device=device,
    )
    plan = out.actions.clone()
    grip = plan[:, 6]
    plan[:, 6] = torch.where(grip.abs() < 0.25, torch.zeros_like(grip), grip)
    return plan


def paper_cem(
    rollout_fn: RolloutFn,
    goal: torch.Tensor,
    action_dim: int = 7,
    horizon: int = 1,
    num_samples: int = 800,
    iterations: int = 10,
    topk: int = 10,
    radius: float = 0.075,
    free_dims: Sequence[int] | None = (0, 1, 2, 6),
    ball_dims: Sequence[int] | None = (0, 1, 2),
    gripper_range: float = 0.75,
    generator: torch.Generator | None = None,
    **kwargs,
) -> CEMOutput:
    """The paper's planner settings (800 samples, 10 iterations, top-10, horizon 1, each action in an L1 ball of
    radius 0.075). For 7-D Franka actions the ball is on the translation (indices of `free_dims` given by
    `ball_dims`) and the gripper is clipped to ``+-gripper_range``; for other action spaces pass
    ``free_dims=None, ball_dims=None`` (ball on the whole action)."""
    nf = action_dim if free_dims is None else len(free_dims)
    box = None
    if ball_dims is not None:
        low = [-math.inf] * nf
        high = [math.inf] * nf
        for i in range(nf):
            if i not in ball_dims:
                low[i], high[i] = -gripper_range, gripper_range
        box = BoxConstraint(low, high)
    kwargs.setdefault("init_std", radius)
    return cem(
        rollout_fn,
        goal,
        action_dim=action_dim,
        horizon=horizon,
        num_samples=num_samples,
        iterations=iterations,
        topk=topk,
        constraint=L1BallConstraint(radius, dims=ball_dims, box=box),
        free_dims=free_dims,
        generator=generator,
        **kwargs,
    )


__all__ = [
    "ActionConstraint",
    "BoxConstraint",
    "CEMOutput",
    "L1BallConstraint",
    "cem",
    "l1_energy",
    "official_cem",
    "paper_cem",
    "project_l1_ball",
]
