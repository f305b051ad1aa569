"""V-JEPA 2 self-supervised pretraining on Accelerate (one process, DDP over N processes, or FSDP).

    vjepa2-hf pretrain --config tiny --set run.output_dir=runs/tiny
    accelerate launch --multi_gpu --num_processes 8 -m vjepa2_hf.cli pretrain --config vit_large_pretrain
    python -c "from vjepa2_hf.pretraining import pretrain; pretrain('tiny')"

One optimizer step (official ``app/vjepa/train.py``): for each accumulation micro-batch, the EMA target encoder
encodes the full clips (no gradient), the context encoder sees the visible tokens of each mask configuration, the
predictor predicts the masked tokens, loss = mean L1 to the layer-normed targets averaged over the mask
configurations; then AdamW (weight decay on weights only) with the scheduled learning rate, then the EMA update of the
target encoder with the scheduled momentum.

Reproducibility: data order, augmentations and masks are functions of ``(seed, step)`` for the **global** batch
(`GlobalBatchSampler`, `MultiBlockMaskCollator`), so the same config gives the same global batches on 1 or N
processes, and ``--resume`` only needs the step. A checkpoint (every ``run.checkpoint_every`` steps, atomic, verified
before loading) holds the model with its EMA target, the optimizer, the schedule position, the loss history and every
process's RNG state.

Faults: a non-finite loss stops the run before the optimizer step with `NonFiniteLossError` (the last checkpoint is
left untouched); a truncated checkpoint raises `CorruptCheckpointError` before anything is loaded.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from torch.utils.data import DataLoader, Dataset

from ..training.accelerator_setup import build_accelerator, is_fsdp
from ..training.checkpointing import load_checkpoint, save_checkpoint
from ..training.compilation import accelerator_type, require_torch_compile
from ..training.loop import (
    MetricsLog,
    NonFiniteLossError,
    TrainingState,
    check_finite_loss,
    flat_hparams,
    progress_bar,
    resolve_resume,
    run_steps,
)
from ..training.optimization import build_adamw
from ..training.run_identity import check_run_folder, claim_run_folder, run_identity
from ..training.schedulers import LinearSchedule, ScheduledOptimizer, WarmupConstantCooldownSchedule
from .configuration_pretraining import DataArguments, PretrainingConfig, load_pretraining_config
from .data import GlobalBatchSampler, NaturalMotionClips, StepIndexedDataset, SyntheticMotionClips
from .initialization import build_pretraining_model
from .masking import MultiBlockMaskCollator
from .modeling_pretraining import export_vjepa2_model
from .optimization import build_param_groups

logger = get_logger(__name__)

__all__ = ["NonFiniteLossError", "PretrainingResult", "TrainingState", "build_sources", "describe_training_input",
           "plot_history", "pretrain"]

METRIC_NAMES = ("loss", "target_std", "prediction_std", "target_clip_std", "context_std")
# what `--overwrite` deletes besides the checkpoints, the final model and run.json
RUN_STATE_FILES = ("metrics.jsonl", "loss_curve.png", "logs")
# settings that change how fast a run goes, not its result: left out of the run identity
_NOT_IDENTITY = {"data": ("num_workers",), "optimization": ("micro_batch_size",)}


@dataclass
class PretrainingResult:
    """What `pretrain` returns.

    Attributes:
        output_dir: the run folder.
        final_model_dir: `save_pretrained` folder of the exported `VJEPA2Model` (None if the run stopped early).
        last_checkpoint: the latest checkpoint directory.
        step: optimizer steps done.
        history: one dict per step: `step`, `loss`, `mask_loss_{j}`, the std monitors, `lr`, `momentum`,
            `clips_per_second`.
        stopped: None when the run completed, else the reason (`"collapse"`).
    """

    output_dir: Path
    final_model_dir: Path | None
    last_checkpoint: Path | None
    step: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str | None = None


def build_sources(data: DataArguments, train: bool = True) -> tuple[list[Dataset], list[float]]:
    """The datasets and weights of ``data.sources``; every item is a normalised clip ``[T, 3, crop, crop]``."""
    sources, weights = [], []
    for i, source in enumerate(data.sources):
        if source.type == "synthetic":
            dataset = SyntheticMotionClips(
                num_clips=source.num_clips,
                num_frames=data.frames_per_clip,
                size=data.crop_size,
                seed=source.seed,
                task=source.task,
                horizontal_flip=train and data.augment and data.horizontal_flip,
            )
        elif source.type == "natural":
            dataset = NaturalMotionClips(source.num_clips, data.frames_per_clip, data.crop_size, seed=source.seed,
                                         task=source.task if source.task != "direction" else "mixed")
        elif source.type == "videos":
            dataset = _video_source(source, data, train)
        else:  # pragma: no cover - validated by the config
            raise ValueError(f"data.sources[{i}].type {source.type!r} is not supported")
        sources.append(dataset)
        weights.append(float(source.weight))
    return sources, weights


def _video_source(source, data: DataArguments, train: bool) -> Dataset:
    from .video_source import VideoClipSource

    return VideoClipSource(
        path=source.path,
        frames_per_clip=data.frames_per_clip,
        crop_size=data.crop_size,
        fps=source.fps,
        train=train and data.augment,
        random_resized_crop_scale=data.random_resized_crop_scale,
        random_resized_crop_ratio=data.random_resized_crop_ratio,
        horizontal_flip=data.horizontal_flip,
    )


def plot_history(history: Sequence[Mapping[str, float]], path: str | os.PathLike, title: str = "") -> Path | None:
    """Write a PNG of the loss curves (total and per mask config) and the std monitors."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, (ax_loss, ax_std) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(steps, [h["loss"] for h in history], label="loss", color="black", linewidth=1.5)
    for key in sorted(k for k in history[0] if k.startswith("mask_loss_")):
        ax_loss.plot(steps, [h[key] for h in history], label=key.replace("_", " "), linewidth=0.8, alpha=0.8)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("L1 loss")
    ax_loss.set_title(title or "V-JEPA 2 pretraining loss")
    ax_loss.legend()
    for key in ("target_std", "prediction_std", "target_clip_std"):
        ax_std.plot(steps, [h[key] for h in history], label=key)
    ax_std.set_xlabel("step")
    ax_std.set_title("feature spread (collapse -> 0)")
    ax_std.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@dataclass
class _Run:
    """Everything one pretraining run holds between its build, its steps and its end."""

    config: PretrainingConfig
    accelerator: Accelerator
    model: torch.nn.Module
    unwrapped: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: ScheduledOptimizer
    momentum_schedule: LinearSchedule
    state: TrainingState
    model_config: dict[str, Any]
    num_params: dict[str, int]
    last_checkpoint: Path | None = None

    @property
    def output_dir(self) -> Path:
        return Path(self.config.run.output_dir)

    def checkpoint(self) -> Path:
        run = self.config.run
        self.last_checkpoint = save_checkpoint(
            self.accelerator,
            self.output_dir,
            self.state.step,
            keep_last=run.keep_last_checkpoints,
            with_hash=run.checkpoint_hash,
            metadata={"model_config": self.model_config, "pretraining_config": self.config.to_dict()},
        )
        return self.last_checkpoint


def _build_accelerator(config: PretrainingConfig) -> Accelerator:
    opt, run = config.optimization, config.run
    output_dir = Path(run.output_dir)
    accelerator = build_accelerator(
        "pretrain",
        opt.mixed_precision,
        log_with=list(run.report_to) or None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)],
    )
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        config.to_yaml(output_dir / "pretraining_config.yaml")
    set_seed(run.seed)
    if run.cpu_threads is not None and accelerator.device.type == "cpu":
        torch.set_num_threads(int(run.cpu_threads))
    return accelerator


def _build_run(config: PretrainingConfig, accelerator: Accelerator) -> _Run:
    """The model, its AdamW (official groups) and the learning-rate / weight-decay / EMA schedules, prepared."""
    opt = config.optimization
    model, optimizer_state_loader = build_pretraining_model(config.model)
    if config.model.freeze_encoder:
        model.encoder.requires_grad_(False)
        logger.info("model.freeze_encoder: training the predictor only; the EMA target stays equal to the encoder")
    if config.model.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if config.run.compile:  # in place, before `prepare`, so DDP / FSDP2 wrap the compiled blocks as they are
        model.compile_blocks()
    model.train()
    param_groups = build_param_groups(model, opt.weight_decay)
    sharded = is_fsdp(accelerator)  # parameters become DTensors in `prepare`
    optimizer = build_adamw(
        param_groups, lr=opt.start_lr, betas=opt.betas, eps=opt.eps, fused=False if sharded else None
    )
    if optimizer_state_loader is not None:
        optimizer.load_state_dict(optimizer_state_loader(param_groups))
        logger.info(f"loaded the optimizer state of {config.model.init_from}")
    model_config = model.config.to_dict()
    num_params = {
        "encoder": sum(p.numel() for p in model.encoder.parameters()),
        "predictor": sum(p.numel() for p in model.predictor.parameters()),
    }
    model, optimizer = accelerator.prepare(model, optimizer)
    schedule = ScheduledOptimizer(
        optimizer,
        WarmupConstantCooldownSchedule(
            peak_lr=opt.lr,
            total_steps=opt.total_steps,
            warmup_steps=opt.warmup_steps,
            start_lr=opt.start_lr,
            cooldown_steps=opt.cooldown_steps,
            final_lr=opt.final_lr,
        ),
        LinearSchedule(opt.weight_decay, opt.final_weight_decay, opt.total_steps),
    )
    state = TrainingState()
    accelerator.register_for_checkpointing(schedule, state)
    return _Run(
        config=config, accelerator=accelerator, model=model, unwrapped=accelerator.unwrap_model(model),
        optimizer=optimizer, schedule=schedule, momentum_schedule=LinearSchedule(opt.ema[0], opt.ema[1], opt.total_steps),
        state=state, model_config=model_config, num_params=num_params,
    )


def pretraining_identity(config: PretrainingConfig) -> dict[str, Any]:
    """The run identity (`vjepa2_hf.training.run_identity`): model, masks and optimization sections, seed, data."""
    tree = config.to_dict()
    for section, keys in _NOT_IDENTITY.items():
        tree[section] = {k: v for k, v in tree[section].items() if k not in keys}
    recipe = {k: tree[k] for k in ("model", "masks", "optimization")}
    recipe["run"] = {k: tree["run"][k] for k in ("export_encoder", "collapse_std_floor", "stop_on_collapse")}
    return run_identity("pretrain", recipe, config.run.seed, tree["data"])


def _resume(run: _Run, resume: bool | str | os.PathLike | None) -> None:
    resume_from = resolve_resume(resume, run.output_dir)
    if resume_from is not None:
        manifest = load_checkpoint(run.accelerator, resume_from, check_hash=run.config.run.checkpoint_hash)
        saved = manifest.get("metadata", {}).get("pretraining_config", {})
        current = run.config.to_dict()
        changed = [k for k in ("data", "masks", "optimization") if saved.get(k) != current.get(k)]
        if changed:
            logger.warning(f"resuming with a config whose {changed} differ from the checkpoint's: the run will not "
                           "reproduce an uninterrupted one")
        logger.info(f"resumed from {resume_from} at step {run.state.step}", main_process_only=True)
    run.last_checkpoint = resume_from


def _build_loader(run: _Run) -> DataLoader:
    """Global batches as a pure function of ``(seed, step)``, starting at the (possibly resumed) step."""
    config, accelerator = run.config, run.accelerator
    opt = config.optimization
    micro_batch, _ = opt.accumulation_steps(accelerator.num_processes)
    sources, weights = build_sources(config.data, train=True)
    sampler = GlobalBatchSampler(
        [len(s) for s in sources],
        weights,
        global_batch_size=opt.global_batch_size,
        micro_batch_size=micro_batch,
        num_processes=accelerator.num_processes,
        process_index=accelerator.process_index,
        seed=config.run.seed,
        start_step=run.state.step,
        total_steps=opt.total_steps,
    )
    collator = MultiBlockMaskCollator(
        config.masks, patch_size=run.unwrapped.config.patch_size, tubelet_size=run.unwrapped.config.tubelet_size,
        seed=config.run.seed,
    )
    return DataLoader(
        StepIndexedDataset(sources, seed=config.run.seed),
        batch_sampler=sampler,
        collate_fn=collator,
        num_workers=config.data.num_workers,
        persistent_workers=config.data.num_workers > 0,
        pin_memory=accelerator.device.type == "cuda",
    )


def _forward_backward(run: _Run, batches) -> dict[str, float]:
    """The accumulated forward / backward of one optimizer step; the metrics averaged over micro-batches and
    processes."""
    config, accelerator, model = run.config, run.accelerator, run.model
    _, accumulation = config.optimization.accumulation_steps(accelerator.num_processes)
    sums = torch.zeros(len(METRIC_NAMES) + len(config.masks), device=accelerator.device)
    for micro in range(accumulation):
        batch = next(batches).to(accelerator.device)
        sync = contextlib.nullcontext() if micro == accumulation - 1 else accelerator.no_sync(model)
        with sync:
            output = model(
                batch.pixel_values_videos,
                batch.context_masks,
                batch.target_masks,
                mask_index=config.model.mask_index,
                loss_exp=config.optimization.loss_exp,
                global_step=run.state.step,  # the V-JEPA 2.1 objective's lambda schedule; 2.0 ignores it
            )
            accelerator.backward(output.loss / accumulation)
        sums += torch.stack(
            [getattr(output, name).detach().float() for name in METRIC_NAMES] + list(output.mask_losses.float())
        )
    values = accelerator.reduce(sums / accumulation, reduction="mean").tolist()
    metrics = dict(zip(METRIC_NAMES, values[: len(METRIC_NAMES)]))
    metrics.update({f"mask_loss_{j}": v for j, v in enumerate(values[len(METRIC_NAMES):])})
    return metrics


def _optimizer_step(run: _Run, metrics: dict[str, float]) -> None:
    """Clip, AdamW at the scheduled learning rate, then the EMA update of the target encoder."""
    opt, accelerator = run.config.optimization, run.accelerator
    if opt.max_grad_norm is not None:
        metrics["grad_norm"] = float(accelerator.clip_grad_norm_(run.model.parameters(), opt.max_grad_norm))
    metrics["lr"] = run.schedule.step()
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    momentum = run.momentum_schedule.value_at(run.state.step + 1)
    if not run.config.model.freeze_encoder:  # the EMA of a frozen encoder is itself (skipped: exact, and no cost)
        run.unwrapped.update_target_encoder(momentum)
    run.state.step += 1
    metrics.update(step=run.state.step, momentum=momentum)


def _collapsed(run: _Run, metrics: Mapping[str, float]) -> bool:
    """Warn when the target features collapse; True when the recipe says to stop on it."""
    floor = run.config.run.collapse_std_floor
    if metrics["target_std"] >= floor:
        return False
    logger.warning(
        f"step {run.state.step}: target feature std {metrics['target_std']:.4f} is below the collapse floor "
        f"{floor} (representation collapse?). Consider a lower learning rate or a higher EMA momentum.",
        main_process_only=True,
    )
    return run.config.run.stop_on_collapse


def _train(run: _Run, callbacks: Sequence[Callable], metrics_log: MetricsLog, progress) -> str | None:
    """The steps on the engine's loop; returns why it stopped early (None when it completed)."""
    opt, rcfg = run.config.optimization, run.config.run
    batches = iter(_build_loader(run))
    smoothed_rate: list[float] = []

    def step(i: int) -> dict[str, float]:
        start = time.perf_counter()
        metrics = _forward_backward(run, batches)
        if not math.isfinite(metrics["loss"]):
            run.optimizer.zero_grad(set_to_none=True)
            run.accelerator.end_training()
            check_finite_loss(metrics["loss"], i, run.last_checkpoint, advice=_NAN_ADVICE)
        _optimizer_step(run, metrics)
        rate = opt.global_batch_size / max(time.perf_counter() - start, 1e-9)
        smoothed_rate[:] = [0.9 * smoothed_rate[0] + 0.1 * rate if smoothed_rate else rate]
        metrics["clips_per_second"] = rate
        return metrics

    def after_step(i: int, metrics: dict[str, float]) -> str | None:
        for callback in callbacks:  # first: what they add to `metrics` (e.g. "eval/knn") reaches the trackers
            callback(i, metrics, run.unwrapped)
        added = any("/" in k for k in metrics)
        if rcfg.report_to and (i % rcfg.log_every == 0 or i == opt.total_steps or added):
            run.accelerator.log({k if "/" in k else f"train/{k}": v for k, v in metrics.items() if k != "step"},
                                step=i)
        return "collapse" if _collapsed(run, metrics) else None

    def postfix(metrics: Mapping[str, float]) -> dict[str, str]:
        return dict(loss=f"{metrics['loss']:.4f}", clips_s=f"{smoothed_rate[0]:.1f}",
                    tgt_std=f"{metrics['target_std']:.3f}")

    return run_steps(
        range(run.state.step + 1, opt.total_steps + 1), step, history=run.state.history, metrics_log=metrics_log,
        checkpoint=lambda i: run.checkpoint(), checkpoint_every=rcfg.checkpoint_every, total_steps=opt.total_steps,
        progress=progress, postfix=postfix, after_step=after_step,
    )


def describe_training_input(model_config, data: DataArguments):
    """Record the clips pretraining saw in the exported model: `crop_size`, `frames_per_clip` and `num_frames` of
    `model_config` set to the data's, and the `VJEPA2VideoProcessor` that reproduces those clips (returned, to be
    saved beside the weights). Clips rendered at the crop size (`synthetic`, `natural`) are reproduced without a
    resize; decoded videos (`videos`) with the evaluation resize to the crop."""
    from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor

    model_config.crop_size = int(data.crop_size)
    model_config.frames_per_clip = int(data.frames_per_clip)
    model_config.num_frames = int(data.frames_per_clip)
    rendered = all(source.type in ("synthetic", "natural") for source in data.sources)
    return VJEPA2VideoProcessor.for_model_config(model_config, int(data.frames_per_clip), do_resize=not rendered)


_NAN_ADVICE = "Lower optimization.lr, raise the EMA momentum, use bf16 instead of fp16, or check the data."


def _finalise(run: _Run, stopped: str | None) -> PretrainingResult:
    """The loss plot, the exported `VJEPA2Model` in `final/` (and its Hub push) when the run completed."""
    config, accelerator, state = run.config, run.accelerator, run.state
    final_dir = None
    if accelerator.is_main_process:
        plot_history(state.history, run.output_dir / "loss_curve.png",
                     title=f"V-JEPA 2 pretraining ({config.model.preset})")
    if stopped is None:
        final_dir = run.output_dir / "final"
        full_state = accelerator.get_state_dict(run.model)  # gathered on the main process (DDP / FSDP)
        if accelerator.is_main_process:
            exported = export_vjepa2_model(run.unwrapped.config, full_state, config.run.export_encoder)
            processor = describe_training_input(exported.config, config.data)
            exported.save_pretrained(str(final_dir))
            processor.save_pretrained(str(final_dir))
            if config.run.push_to_hub:
                exported.push_to_hub(config.run.hub_model_id, private=config.run.hub_private,
                                     commit_message=f"V-JEPA 2 pretraining, step {state.step}")
        accelerator.wait_for_everyone()
    accelerator.end_training()
    return PretrainingResult(
        output_dir=run.output_dir,
        final_model_dir=final_dir,
        last_checkpoint=run.last_checkpoint,
        step=state.step,
        history=list(state.history),
        stopped=stopped,
    )


def pretrain(
    config: PretrainingConfig | str | os.PathLike | Mapping[str, Any],
    resume: bool | str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    callbacks: Sequence[Callable[[int, dict[str, float], torch.nn.Module], None]] = (),
    overwrite: bool = False,
) -> PretrainingResult:
    """Run (or resume) V-JEPA 2 pretraining.

    Args:
        config: a `PretrainingConfig`, a YAML file, a preset name (`list_pretraining_presets()`) or a dict.
        resume: `True` / `"auto"`: continue from the latest checkpoint in `run.output_dir` (from scratch if there is
            none); a path: continue from that checkpoint; `None` / `False`: start fresh.
        overrides: dotted `section.key=value` overrides applied to a file / preset config.
        callbacks: called on every process after every optimizer step as `callback(step, metrics, model)`.
        overwrite: delete the run state already in `run.output_dir` (checkpoints, final model, logs) and start there.

    Returns:
        [`PretrainingResult`].

    Raises:
        NonFiniteLossError: the loss became NaN / inf (nothing is saved for that step).
        CorruptCheckpointError: the checkpoint to resume from is truncated or modified.
        RunIdentityError: `run.output_dir` holds another run (another recipe, seed, data or package version) and
            `overwrite` is not set, or `resume` asks to continue a run with another identity.
    """
    if not isinstance(config, PretrainingConfig):
        config = load_pretraining_config(config, overrides)
    elif overrides:
        config = load_pretraining_config(config.to_dict(), overrides)
    opt = config.optimization
    if config.run.compile:  # checked before the run folder is touched, not at the first step
        require_torch_compile(accelerator_type(), "run.compile (pretrain --compile)")
    identity = pretraining_identity(config)
    resuming = resume not in (None, False, "none", "")
    explicit = resume if resuming and resume not in (True, "auto", "latest", "true") else None
    check_run_folder(config.run.output_dir, identity, resuming, overwrite, resume_from=explicit)
    accelerator = _build_accelerator(config)
    if accelerator.is_main_process:
        claim_run_folder(config.run.output_dir, identity, overwrite, RUN_STATE_FILES)
    accelerator.wait_for_everyone()
    run = _build_run(config, accelerator)
    _resume(run, resume)
    if config.run.report_to:
        accelerator.init_trackers("vjepa2_pretraining", config=flat_hparams(config.to_dict()))
    metrics_log = MetricsLog(run.output_dir / "metrics.jsonl", enabled=accelerator.is_main_process)
    metrics_log.rewrite(run.state.history)
    micro_batch, accumulation = opt.accumulation_steps(accelerator.num_processes)
    logger.info(
        f"pretraining {config.model.preset}: encoder {run.num_params['encoder'] / 1e6:.2f}M, predictor "
        f"{run.num_params['predictor'] / 1e6:.2f}M params; {accelerator.num_processes} process(es) x {accumulation} "
        f"accumulation x {micro_batch} clips = global batch {opt.global_batch_size}; steps {run.state.step} -> "
        f"{opt.total_steps}",
        main_process_only=True,
    )
    progress = progress_bar(opt.total_steps, run.state.step, "pretrain",
                            config.run.progress_bar and accelerator.is_main_process)
    return _finalise(run, _train(run, callbacks, metrics_log, progress))
