"""Training of the V-JEPA 2-AC predictor on trajectories, on Accelerate (`vjepa2-hf train-ac --config FILE`).

Recipe (official `app/vjepa_droid/train.py`, `configs/train/vitg16/droid-256px-8f.yaml`): frozen encoder (its
features of every frame can be computed once and cached, since frames are encoded independently), teacher forcing
L1 + 2-step rollout L1 with the fixed indexing, AdamW (0.9, 0.999, eps 1e-8; weight decay 0.04 on weights, none on
biases and norms), the warmup-constant-decay learning rate (7.5e-5 -> 4.25e-4 over the warmup, constant, linear
to 0 over the last steps), bf16 autocast.

Exact resume: the batch of update ``s`` is a pure function of ``(seed, s)`` (windows drawn with
``numpy.random.default_rng([seed, s])``), and optimizer, schedule and RNG states are saved with the atomic,
verified checkpoints of the training engine (`vjepa2_hf.training`); a run resumed from step ``k`` therefore ends with
the same weights as an uninterrupted run.

Several processes (`torchrun`, `accelerate launch`; DDP, or FSDP2 with `accelerate launch --use_fsdp`, see
`vjepa2_hf.training.accelerator_setup`): ``optimization.batch_size`` is the global batch, each process takes its
equal share of the same global draw and the logged losses are averaged over processes, so N processes train and log
what one process does (and a run resumes on another number of processes).

Config file (YAML or JSON), every key checked::

    model:
      encoder: tiny                 # VJEPA2Config preset (random, frozen), or a saved VJEPA2 model folder
      encoder_overrides: {}         # VJEPA2Config fields changed on a preset (e.g. crop_size: 32)
      encoder_seed: 0               # seed of a random encoder
      predictor_preset: tiny        # VJEPA2ACConfig preset
      predictor_overrides: {action_dim: 2, state_dim: 2}
      init_from: null               # a VJEPA2WorldModel folder, or an official AC .pt, to start from
      state_update: additive        # franka | additive (stored with the model, used by rollouts)
    data:
      path: trajectories/           # npz folder, single npz, or LeRobot v2.1 folder (see trajectories.py)
      num_frames: 4
      fps: null                     # target fps (needs the data's fps); null = every frame
      pose_format: euclidean        # franka | euclidean (how actions are computed from poses)
      action_source: auto           # auto | poses | stored
      held_out_fraction: 0.1
      cache_features: true
      crop_aspect: 1.0
    optimization:
      total_steps: 300
      batch_size: 32                # global: split across processes
      warmup_steps: 30
      cooldown_steps: 30
      start_lr: 7.5e-5
      lr: 4.25e-4
      final_lr: 0.0
      weight_decay: 0.04
      auto_steps: 2
      loss_exp: 1.0
      max_grad_norm: null
      mixed_precision: bf16         # no | bf16 | fp16
    run:
      output_dir: runs/ac
      seed: 0
      save_every: 100
      keep_last: 2
      log_every: 10
      resume: auto                  # auto (latest checkpoint of output_dir) | none | a checkpoint folder
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from accelerate.logging import get_logger
from torch import nn

from ..training.accelerator_setup import LaunchMismatchError, build_accelerator, is_fsdp
from ..training.checkpointing import load_checkpoint, save_checkpoint
from ..training.loop import (
    MetricsLog,
    check_finite_loss,
    progress_bar,
    resolve_resume,
    run_steps,
)
from ..training.optimization import build_param_groups
from ..training.recipes import dataclass_from_mapping, load_recipe_tree
from ..training.run_identity import check_run_folder, claim_run_folder, run_identity
from ..training.schedulers import LinearSchedule, ScheduledOptimizer, WarmupConstantCooldownSchedule
from .trajectories import TrajectoryWindowDataset, load_episodes, split_episodes
from .world_model import VJEPA2WorldModel, VJEPA2WorldModelOutput, ac_training_losses

MIXED_PRECISION = ("no", "bf16", "fp16")

logger = get_logger(__name__)


@dataclass
class ACModelArguments:
    encoder: str = "tiny"
    encoder_overrides: dict[str, Any] = field(default_factory=dict)
    encoder_seed: int = 0
    predictor_preset: str = "tiny"
    predictor_overrides: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    state_update: str = "franka"


@dataclass
class ACDataArguments:
    path: str = ""
    num_frames: int = 8
    fps: float | None = None
    source_fps: float | None = None
    pose_format: str = "franka"
    action_source: str = "auto"
    held_out_fraction: float = 0.1
    cache_features: bool = True
    crop_aspect: float = 1.0
    encode_batch_size: int = 64

    def __post_init__(self):
        if not self.path:
            raise ValueError("`data.path` is required (an npz trajectory folder, a .npz file or a LeRobot folder)")
        if self.num_frames < 2:
            raise ValueError(f"`data.num_frames` must be at least 2, got {self.num_frames}")


@dataclass
class ACOptimizationArguments:
    total_steps: int = 94_500
    batch_size: int = 8
    warmup_steps: int = 4_500
    cooldown_steps: int = 4_500
    start_lr: float = 7.5e-5
    lr: float = 4.25e-4
    final_lr: float = 0.0
    weight_decay: float = 0.04
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    auto_steps: int = 2
    loss_exp: float = 1.0
    max_grad_norm: float | None = None
    mixed_precision: str = "bf16"

    def __post_init__(self):
        self.betas = tuple(float(b) for b in self.betas)
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"`optimization.mixed_precision` must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        if self.total_steps < 1 or self.batch_size < 1:
            raise ValueError(f"need total_steps >= 1 and batch_size >= 1, got {self.total_steps}, {self.batch_size}")
        if self.warmup_steps + self.cooldown_steps > self.total_steps:
            raise ValueError(
                f"warmup_steps ({self.warmup_steps}) + cooldown_steps ({self.cooldown_steps}) exceed total_steps "
                f"({self.total_steps})"
            )


@dataclass
class ACRunArguments:
    output_dir: str = "runs/vjepa2-ac"
    seed: int = 0
    save_every: int = 1000
    keep_last: int = 2
    log_every: int = 10
    resume: str = "auto"
    progress_bar: bool = True


@dataclass
class TrainACConfig:
    model: ACModelArguments = field(default_factory=ACModelArguments)
    data: ACDataArguments = field(default_factory=lambda: ACDataArguments(path="."))
    optimization: ACOptimizationArguments = field(default_factory=ACOptimizationArguments)
    run: ACRunArguments = field(default_factory=ACRunArguments)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainACConfig":
        values = dict(values or {})
        sections = {"model": ACModelArguments, "data": ACDataArguments, "optimization": ACOptimizationArguments,
                    "run": ACRunArguments}
        unknown = sorted(set(values) - set(sections))
        if unknown:
            raise ValueError(f"unknown section(s) {unknown} in the train-ac config; expected {sorted(sections)}")
        if "data" not in values:
            raise ValueError("the train-ac config needs a `data` section with `path`")
        return cls(**{name: dataclass_from_mapping(kind, values.get(name, {}), name) for name, kind in sections.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_train_ac_config(path: str | os.PathLike, overrides: list[str] | None = None) -> TrainACConfig:
    """Read a YAML/JSON config; `overrides` are ``section.key=value`` strings (value parsed as YAML 1.2)."""
    return TrainACConfig.from_dict(load_recipe_tree(path, overrides or (), what="train-ac config"))


# ---------------------------------------------------------------------------------------------- modules
class VJEPA2ACTrainingModule(nn.Module):
    """The trainable part (the predictor) with the training losses as `forward`, for `accelerator.prepare`.

    The frozen encoder stays outside (features are cached or computed under `no_grad`), so checkpoints hold only
    the predictor and its optimizer state.
    """

    def __init__(self, predictor: nn.Module, auto_steps: int = 2, loss_exp: float = 1.0) -> None:
        super().__init__()
        self.predictor = predictor
        self._no_split_modules = list(getattr(predictor, "_no_split_modules", None) or [])  # the FSDP units
        self.auto_steps = auto_steps
        self.loss_exp = loss_exp
        if not predictor.config.use_extrinsics:  # unused weights: no gradient, kept as loaded
            predictor.extrinsics_encoder.requires_grad_(False)

    def predict(self, z, actions, states, extrinsics=None) -> torch.Tensor:
        b, t, n, d = z.shape
        out = self.predictor(z.flatten(1, 2), actions, states, extrinsics).last_hidden_state
        out = out.float().view(b, t, n, d)
        if self.predictor.config.normalize_reps:
            out = torch.nn.functional.layer_norm(out, (d,))
        return out

    def forward(self, embeddings, actions, states, extrinsics=None) -> VJEPA2WorldModelOutput:
        return ac_training_losses(self.predict, embeddings, actions, states, extrinsics, self.auto_steps, self.loss_exp)


def build_world_model(args: ACModelArguments, crop_aspect: float = 1.0) -> VJEPA2WorldModel:
    """The world model of a training run: a random or saved frozen encoder plus a fresh (or loaded) predictor."""
    from ..encoder.configuration_vjepa2 import PRESETS, VJEPA2Config
    from ..encoder.modeling_vjepa2 import VJEPA2VisionModel
    from .configuration_vjepa2_ac import VJEPA2ACConfig
    from .convert_vjepa2_ac_checkpoint import convert_vjepa2_ac_checkpoint
    from .modeling_vjepa2_ac import VJEPA2ACPredictor
    from .processing_vjepa2_ac import VJEPA2ACFrameProcessor

    if args.init_from:
        src = Path(args.init_from)
        if src.is_file():
            model = convert_vjepa2_ac_checkpoint(src, state_update=args.state_update)
        else:
            model = VJEPA2WorldModel.from_pretrained(src, state_update=args.state_update)
    else:
        if args.encoder in PRESETS or args.encoder in ("vitl", "vith", "vitg", "vitg-384"):
            torch.manual_seed(args.encoder_seed)
            encoder = VJEPA2VisionModel(VJEPA2Config.from_preset(args.encoder, **args.encoder_overrides))
        else:
            encoder = VJEPA2VisionModel.from_pretrained(args.encoder)
        enc = encoder.config
        overrides = {"hidden_size": enc.hidden_size, "crop_size": enc.crop_size, "patch_size": enc.patch_size,
                     **args.predictor_overrides}
        predictor = VJEPA2ACPredictor(VJEPA2ACConfig.from_preset(args.predictor_preset, **overrides))
        model = VJEPA2WorldModel(encoder, predictor, state_update=args.state_update)
    model.processor = VJEPA2ACFrameProcessor(
        crop_size=model.encoder.config.crop_size, crop_aspect=crop_aspect,
        image_mean=model.processor.image_mean, image_std=model.processor.image_std,
    )
    return model


@torch.no_grad()
def encode_episodes(
    world_model: VJEPA2WorldModel, episodes, batch_size: int = 64, progress: bool = True
) -> list[torch.Tensor]:
    """Normalised encoder features of every frame of every episode: one `(T_e, N, D)` float32 tensor each."""
    from tqdm.auto import tqdm

    out = []
    for ep in tqdm(episodes, desc="encoding frames", disable=not progress):
        frames = ep["frames"]
        feats = [world_model.encode_images(frames[i : i + batch_size]) for i in range(0, len(frames), batch_size)]
        out.append(torch.cat(feats).float().cpu())
    return out


def _fingerprint(world_model: VJEPA2WorldModel, data_path: str, num_episodes: int, crop_aspect: float) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([str(Path(data_path).resolve()), num_episodes, crop_aspect]).encode())
    for name, tensor in sorted(world_model.encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().flatten()[:64].cpu().numpy().tobytes())
        digest.update(str(tuple(tensor.shape)).encode())
    return digest.hexdigest()[:16]


def cached_features(world_model, episodes, cfg: TrainACConfig, progress: bool) -> list[torch.Tensor]:
    """Encode all frames once and keep them in `output_dir/features/` (reused when the fingerprint matches)."""
    from safetensors.torch import load_file, save_file

    folder = Path(cfg.run.output_dir) / "features"
    key = _fingerprint(world_model, cfg.data.path, len(episodes), cfg.data.crop_aspect)
    path = folder / f"features_{key}.safetensors"
    if path.is_file():
        loaded = load_file(path)
        return [loaded[f"episode_{i:06d}"] for i in range(len(episodes))]
    feats = encode_episodes(world_model, episodes, cfg.data.encode_batch_size, progress)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({f"episode_{i:06d}": f.contiguous() for i, f in enumerate(feats)}, str(tmp))
    os.replace(tmp, path)
    return feats


def batch_indices(
    dataset: TrajectoryWindowDataset, seed: int, step: int, batch_size: int, rank: int = 0, num_processes: int = 1
) -> list[int]:
    """Window indices of update `step` on process `rank`: its `batch_size // num_processes` rows of the global batch
    of `batch_size` windows, a pure function of `(seed, step)` (exact resume, on any number of processes)."""
    rng = np.random.default_rng([seed, step])
    drawn = rng.integers(0, len(dataset), size=batch_size).tolist()
    share = batch_size // num_processes
    return drawn[rank * share : (rank + 1) * share]


def collate_windows(items: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for key in items[0]:
        values = [it[key] for it in items]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out


def save_loss_plot(history: list[dict[str, float]], path: str | os.PathLike) -> Path:
    """PNG of the total, teacher-forcing and rollout losses and the learning rate per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, label in (("loss", "total"), ("teacher_forcing_loss", "teacher forcing"), ("rollout_loss", "rollout")):
        ax1.plot(steps, [h[key] for h in history], label=label)
    ax1.set_xlabel("step")
    ax1.set_ylabel("L1")
    ax1.set_title("V-JEPA 2-AC training loss")
    ax1.legend()
    ax2.plot(steps, [h["lr"] for h in history])
    ax2.set_xlabel("step")
    ax2.set_title("learning rate")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@dataclass
class _ACData:
    """The world model of a run and its training / held-out windows."""

    world_model: VJEPA2WorldModel
    train_set: TrajectoryWindowDataset
    held_set: TrajectoryWindowDataset | None


def _check_data(cfg: TrainACConfig, pcfg, sample: Mapping[str, Any]) -> None:
    if cfg.data.num_frames - 1 > pcfg.max_frames:
        raise ValueError(
            f"`data.num_frames` = {cfg.data.num_frames} needs {cfg.data.num_frames - 1} predictor frames; the predictor "
            f"supports at most {pcfg.max_frames} (raise `frames_per_clip` in `model.predictor_overrides`)"
        )
    if sample["states"].shape[1] != pcfg.state_dim:
        raise ValueError(
            f"the data's states are {sample['states'].shape[1]}-D but the predictor expects state_dim={pcfg.state_dim}"
        )


def _build_data(cfg: TrainACConfig, accelerator, progress: bool) -> _ACData:
    """Episodes -> train / held-out split -> windows (on cached encoder features, or on processed frames)."""
    episodes, meta = load_episodes(cfg.data.path, fps=cfg.data.source_fps)
    train_eps, held_eps = split_episodes(episodes, cfg.data.held_out_fraction, seed=cfg.run.seed) \
        if len(episodes) > 1 else (episodes, [])
    world_model = build_world_model(cfg.model, cfg.data.crop_aspect)
    world_model.encoder.to(accelerator.device)
    pcfg = world_model.config
    _check_data(cfg, pcfg, train_eps[0])
    source_fps = cfg.data.source_fps or meta.get("fps")
    window_kwargs = dict(
        num_frames=cfg.data.num_frames, fps=cfg.data.fps, source_fps=source_fps if cfg.data.fps else None,
        action_source=cfg.data.action_source, pose_format=cfg.data.pose_format,
    )
    if cfg.data.cache_features:
        with accelerator.main_process_first():  # the main process encodes and writes the cache, the others read it
            feats = cached_features(world_model, episodes, cfg, progress)
        by_id = {id(ep): f for ep, f in zip(episodes, feats)}

        def windows(eps):
            return TrajectoryWindowDataset(eps, features=[by_id[id(e)] for e in eps], **window_kwargs)
    else:

        def windows(eps):
            return TrajectoryWindowDataset(eps, transform=world_model.processor, **window_kwargs)

    train_set = windows(train_eps)
    held_set = windows(held_eps) if held_eps else None
    action_dim = train_set.window(0, train_set.index[0][1])["actions"].shape[-1] if train_set.index else None
    if action_dim != pcfg.action_dim:
        raise ValueError(f"the data's actions are {action_dim}-D but the predictor expects action_dim={pcfg.action_dim}")
    return _ACData(world_model, train_set, held_set)


def _build_optimizer(module: VJEPA2ACTrainingModule, opt: ACOptimizationArguments):
    """AdamW (weight decay on the predictor's weights only) and the warmup-constant-cooldown schedule."""
    groups = build_param_groups(module, opt.weight_decay, parts=("predictor",))
    optimizer = torch.optim.AdamW(groups, lr=opt.start_lr, betas=opt.betas, eps=opt.eps)
    schedule = ScheduledOptimizer(
        optimizer,
        WarmupConstantCooldownSchedule(
            peak_lr=opt.lr, total_steps=opt.total_steps, warmup_steps=opt.warmup_steps, start_lr=opt.start_lr,
            cooldown_steps=opt.cooldown_steps, final_lr=opt.final_lr,
        ),
        LinearSchedule(opt.weight_decay, opt.weight_decay, opt.total_steps),
    )
    return optimizer, schedule


def _ac_batch(data: _ACData, cfg: TrainACConfig, step: int, accelerator):
    """This process's windows of update `step`: embeddings (cached or encoded now), actions, states, extrinsics."""
    dataset, device = data.train_set, accelerator.device
    rows = batch_indices(dataset, cfg.run.seed, step, cfg.optimization.batch_size, accelerator.process_index,
                         accelerator.num_processes)
    batch = collate_windows([dataset[i] for i in rows])
    actions = batch["actions"].to(device)
    states = batch["states"].to(device)
    use_extrinsics = data.world_model.config.use_extrinsics
    extr = batch["extrinsics"].to(device) if "extrinsics" in batch and use_extrinsics else None
    if "embeddings" in batch:
        z = batch["embeddings"].to(device)
    else:
        z = data.world_model.encode(batch["frames"].to(device))
    return z, actions, states, extr


def _ac_step(accelerator, module, optimizer, schedule, batch, opt, step: int, last_checkpoint) -> dict[str, float]:
    """One update: teacher-forcing + rollout losses, the NaN stop, clipping, AdamW at the scheduled rate."""
    lr = schedule.step()
    with accelerator.autocast():
        out = module(*batch)
    accelerator.backward(out.loss)
    losses = torch.stack([out.loss, out.teacher_forcing_loss, out.rollout_loss]).detach().float()
    loss, teacher_forcing, rollout = accelerator.reduce(losses, reduction="mean").tolist()  # the global batch's
    if not math.isfinite(loss):
        optimizer.zero_grad(set_to_none=True)
        check_finite_loss(loss, step, last_checkpoint)
    if opt.max_grad_norm:
        accelerator.clip_grad_norm_(module.parameters(), opt.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"step": step, "loss": loss, "teacher_forcing_loss": teacher_forcing, "rollout_loss": rollout, "lr": lr}


def _trained_predictor(accelerator, module) -> nn.Module | None:
    """The trained predictor, whole, on the main process (None on the others). Under FSDP its full weights are
    gathered (every process takes part) into an unsharded copy."""
    predictor = accelerator.unwrap_model(module).predictor
    if not is_fsdp(accelerator):
        return predictor if accelerator.is_main_process else None
    from .modeling_vjepa2_ac import VJEPA2ACPredictor

    full = accelerator.get_state_dict(module)
    if not accelerator.is_main_process:
        return None
    whole = VJEPA2ACPredictor(predictor.config)
    whole.load_state_dict({k.removeprefix("predictor."): v for k, v in full.items()})
    return whole


def _finalise_ac(cfg: TrainACConfig, predictor: nn.Module, data: _ACData, history, summary: dict[str, Any]) -> None:
    """The trained world model in `final/`, its loss plot, the held-out validation and `summary.json`."""
    out_dir = Path(cfg.run.output_dir)
    world_model = data.world_model
    world_model.predictor = predictor
    world_model.predictor.extrinsics_encoder.requires_grad_(True)
    world_model.eval()
    world_model.config.num_frames = cfg.data.num_frames  # the trajectory windows it was trained on (with the
    # resolution, `frame_processor.crop_size`, the folder describes its training input)
    summary["model_dir"] = str(world_model.save_pretrained(out_dir / "final"))
    if history:
        summary["loss_plot"] = str(save_loss_plot(history, out_dir / "loss.png"))
    if data.held_set is not None:
        from .evaluation import offline_validation

        summary["validation"] = offline_validation(world_model, data.held_set, max_windows=256, seed=cfg.run.seed)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))


# what `overwrite` deletes besides the checkpoints, the final model and run.json (the feature cache is kept)
RUN_STATE_FILES = ("train_log.jsonl", "loss.png", "summary.json")


def train_ac_identity(cfg: TrainACConfig) -> dict[str, Any]:
    """The run identity (`vjepa2_hf.training.run_identity`): model and optimization sections, seed, data."""
    tree = cfg.to_dict()
    data = {k: v for k, v in tree["data"].items() if k != "encode_batch_size"}
    return run_identity("train-ac", {k: tree[k] for k in ("model", "optimization")}, cfg.run.seed, data)


def train_ac(cfg: TrainACConfig, stop_after: int | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Run (or resume) a V-JEPA 2-AC training. Returns a summary (losses, validation metrics, paths).

    Args:
        cfg: the run configuration.
        stop_after (`int`, *optional*): stop after this update (simulates an interruption; used by tests).
        overwrite: delete the run state in `run.output_dir` (checkpoints, final model, logs) and start there.

    Raises:
        RunIdentityError: `run.output_dir` holds a run with another identity (recipe, seed, data, package version),
            which this one would resume or mix with, and `overwrite` is not set.
    """
    from accelerate.utils import set_seed

    opt, run = cfg.optimization, cfg.run
    accelerator = build_accelerator("train-ac", opt.mixed_precision)
    if opt.batch_size % accelerator.num_processes:
        raise LaunchMismatchError(
            f"train-ac: optimization.batch_size ({opt.batch_size}, the global batch) must be divisible by the number "
            f"of processes ({accelerator.num_processes})"
        )
    identity = train_ac_identity(cfg)
    resume_setting = None if overwrite else run.resume
    resuming = resume_setting not in (None, "none", "", False)
    explicit = resume_setting if resuming and resume_setting not in ("auto", "latest", True, "true") else None
    check_run_folder(run.output_dir, identity, resuming, overwrite, resume_from=explicit)
    set_seed(run.seed)
    out_dir = Path(run.output_dir)
    if accelerator.is_main_process:
        claim_run_folder(out_dir, identity, overwrite, RUN_STATE_FILES)
        (out_dir / "train_ac_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    show_progress = run.progress_bar and accelerator.is_main_process
    data = _build_data(cfg, accelerator, show_progress)
    module = VJEPA2ACTrainingModule(data.world_model.predictor, opt.auto_steps, opt.loss_exp)
    optimizer, schedule = _build_optimizer(module, opt)
    module, optimizer = accelerator.prepare(module, optimizer)
    accelerator.register_for_checkpointing(schedule)

    accelerator.wait_for_everyone()
    start_step, resume = 0, resolve_resume(resume_setting, out_dir)
    if resume is not None:
        start_step = int(load_checkpoint(accelerator, resume)["step"])
        logger.warning(f"resumed from {resume} at step {start_step}")
    metrics_log = MetricsLog(out_dir / "train_log.jsonl", enabled=accelerator.is_main_process)
    history = metrics_log.read(up_to_step=start_step)
    metrics_log.rewrite(history)

    last = opt.total_steps if stop_after is None else min(stop_after, opt.total_steps)
    last_checkpoint = [resume]

    def step(i: int) -> dict[str, float]:
        batch = _ac_batch(data, cfg, i, accelerator)
        return _ac_step(accelerator, module, optimizer, schedule, batch, opt, i, last_checkpoint[0])

    def checkpoint(i: int) -> None:
        last_checkpoint[0] = save_checkpoint(accelerator, out_dir, i, keep_last=run.keep_last,
                                             metadata={"loss": history[-1]["loss"]})

    module.train()
    t0 = time.perf_counter()
    run_steps(
        range(start_step + 1, last + 1), step, history=history, metrics_log=metrics_log, checkpoint=checkpoint,
        checkpoint_every=run.save_every, total_steps=opt.total_steps,
        progress=progress_bar(last, start_step, "train-ac", show_progress),
        postfix=lambda r: dict(loss=f"{r['loss']:.4f}", lr=f"{r['lr']:.2e}"), postfix_every=run.log_every,
    )
    summary: dict[str, Any] = {"steps": last, "train_seconds": time.perf_counter() - t0,
                               "num_train_windows": len(data.train_set)}
    if history:
        summary["first_loss"] = history[0]["loss"]
        summary["final_loss"] = float(np.mean([h["loss"] for h in history[-10:]]))
    if last == opt.total_steps:
        predictor = _trained_predictor(accelerator, module)
        if accelerator.is_main_process:
            _finalise_ac(cfg, predictor, data, history, summary)
        accelerator.wait_for_everyone()
    return summary


__all__ = [
    "TrainACConfig",
    "VJEPA2ACTrainingModule",
    "batch_indices",
    "build_world_model",
    "encode_episodes",
    "load_train_ac_config",
    "save_loss_plot",
    "train_ac",
    "train_ac_identity",
]
