"""V-JEPA 2 self-supervised pretraining on Accelerate (one process, DDP over N processes, or FSDP).

    vjepa2-hf pretrain --config tiny --set run.output_dir=runs/tiny
    accelerate launch --multi_gpu --num_processes 8 -m vjepa2_hf.pretraining.train_vjepa2 --config vit_large_pretrain
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

import argparse
import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.logging import get_logger
from accelerate.utils import DistributedType, ProjectConfiguration, set_seed
from torch.utils.data import DataLoader, Dataset

from .checkpointing import find_last_checkpoint, load_checkpoint, save_checkpoint
from .configuration_pretraining import DataArguments, PretrainingConfig, load_pretraining_config
from .data import GlobalBatchSampler, StepIndexedDataset, SyntheticMotionClips
from .initialization import build_pretraining_model
from .masking import MultiBlockMaskCollator
from .modeling_pretraining import export_vjepa2_model
from .optimization import build_adamw, build_param_groups
from .schedulers import LinearSchedule, ScheduledOptimizer, WarmupConstantCooldownSchedule

logger = get_logger(__name__)

__all__ = ["NonFiniteLossError", "PretrainingResult", "TrainingState", "build_sources", "pretrain", "main"]

METRIC_NAMES = ("loss", "target_std", "prediction_std", "target_clip_std", "context_std")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped before applying that step."""


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


class TrainingState:
    """Step counter and metric history, checkpointed with the run (Accelerate custom object)."""

    def __init__(self) -> None:
        self.step = 0
        self.history: list[dict[str, float]] = []

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "history": json.dumps(self.history)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])
        self.history = json.loads(state["history"])


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


def _flat_hparams(config: PretrainingConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}" if prefix else k, v)
        elif isinstance(value, (int, float, str, bool)):
            out[prefix] = value
        else:
            out[prefix] = json.dumps(value)

    walk("", config.to_dict())
    return out


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


def _has_accelerator() -> bool:
    accelerator_api = getattr(torch, "accelerator", None)
    if accelerator_api is not None:
        return bool(accelerator_api.is_available())
    return torch.cuda.is_available()  # pragma: no cover - torch < 2.6


def _release_accelerator_state(mixed_precision: str) -> None:
    """Accelerate keeps one process-wide state; a second run in the same Python process (a notebook running the
    primary phase then the cooldown) may ask for another precision. Reset the precision part of that state, keeping
    the distributed setup."""
    from accelerate.state import AcceleratorState

    if AcceleratorState._shared_state and AcceleratorState().mixed_precision != mixed_precision:
        AcceleratorState._reset_state(reset_partial_state=False)


def _resolve_resume(resume: bool | str | os.PathLike | None, output_dir: Path) -> Path | None:
    if resume in (None, False):
        return None
    if resume in (True, "auto", "latest", "true"):
        found = find_last_checkpoint(output_dir)
        if found is None:
            logger.warning(f"--resume: no checkpoint in {output_dir}/checkpoints, starting from step 0")
        return found
    path = Path(resume)
    if not path.exists():
        raise FileNotFoundError(f"--resume checkpoint {str(path)!r} does not exist")
    return path


def pretrain(
    config: PretrainingConfig | str | os.PathLike | Mapping[str, Any],
    resume: bool | str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    callbacks: Sequence[Callable[[int, dict[str, float], torch.nn.Module], None]] = (),
) -> PretrainingResult:
    """Run (or resume) V-JEPA 2 pretraining.

    Args:
        config: a `PretrainingConfig`, a YAML file, a preset name (`list_pretraining_presets()`) or a dict.
        resume: `True` / `"auto"`: continue from the latest checkpoint in `run.output_dir` (from scratch if there is
            none); a path: continue from that checkpoint; `None` / `False`: start fresh.
        overrides: dotted `section.key=value` overrides applied to a file / preset config.
        callbacks: called on every process after every optimizer step as `callback(step, metrics, model)`.

    Returns:
        [`PretrainingResult`].

    Raises:
        NonFiniteLossError: the loss became NaN / inf (nothing is saved for that step).
        CorruptCheckpointError: the checkpoint to resume from is truncated or modified.
    """
    if not isinstance(config, PretrainingConfig):
        config = load_pretraining_config(config, overrides)
    elif overrides:
        config = load_pretraining_config(config.to_dict(), overrides)
    opt, run = config.optimization, config.run
    output_dir = Path(run.output_dir)

    _release_accelerator_state(opt.mixed_precision)
    accelerator = Accelerator(
        # Without any accelerator, `cpu=True` is what makes Accelerate use DDP over gloo under torchrun /
        # `accelerate launch --multi_gpu` on CPU processes (otherwise each process would train alone).
        cpu=not _has_accelerator(),
        mixed_precision=opt.mixed_precision,
        log_with=list(run.report_to) or None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)],
    )
    world = accelerator.num_processes
    micro_batch, accumulation = opt.accumulation_steps(world)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        config.to_yaml(output_dir / "pretraining_config.yaml")
    set_seed(run.seed)
    if run.cpu_threads is not None and accelerator.device.type == "cpu":
        torch.set_num_threads(int(run.cpu_threads))

    # ---- model and optimizer ---------------------------------------------------------------------------------
    model, optimizer_state_loader = build_pretraining_model(config.model)
    if config.model.freeze_encoder:
        model.encoder.requires_grad_(False)
        logger.info("model.freeze_encoder: training the predictor only; the EMA target stays equal to the encoder")
    if config.model.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    param_groups = build_param_groups(model, opt.weight_decay)
    sharded = accelerator.distributed_type == DistributedType.FSDP  # parameters become DTensors in `prepare`
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
    unwrapped = accelerator.unwrap_model(model)

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
    momentum_schedule = LinearSchedule(opt.ema[0], opt.ema[1], opt.total_steps)
    state = TrainingState()
    accelerator.register_for_checkpointing(schedule, state)

    resume_from = _resolve_resume(resume, output_dir)
    if resume_from is not None:
        manifest = load_checkpoint(accelerator, resume_from, check_hash=run.checkpoint_hash)
        saved = manifest.get("metadata", {}).get("pretraining_config", {})
        current = config.to_dict()
        changed = [k for k in ("data", "masks", "optimization") if saved.get(k) != current.get(k)]
        if changed:
            logger.warning(f"resuming with a config whose {changed} differ from the checkpoint's: the run will not "
                           "reproduce an uninterrupted one")
        logger.info(f"resumed from {resume_from} at step {state.step}", main_process_only=True)
    last_checkpoint = resume_from

    # ---- data ------------------------------------------------------------------------------------------------
    sources, weights = build_sources(config.data, train=True)
    sampler = GlobalBatchSampler(
        [len(s) for s in sources],
        weights,
        global_batch_size=opt.global_batch_size,
        micro_batch_size=micro_batch,
        num_processes=world,
        process_index=accelerator.process_index,
        seed=run.seed,
        start_step=state.step,
        total_steps=opt.total_steps,
    )
    collator = MultiBlockMaskCollator(
        config.masks, patch_size=unwrapped.config.patch_size, tubelet_size=unwrapped.config.tubelet_size,
        seed=run.seed,
    )
    loader = DataLoader(
        StepIndexedDataset(sources, seed=run.seed),
        batch_sampler=sampler,
        collate_fn=collator,
        num_workers=config.data.num_workers,
        persistent_workers=config.data.num_workers > 0,
        pin_memory=accelerator.device.type == "cuda",
    )

    if run.report_to:
        accelerator.init_trackers("vjepa2_pretraining", config=_flat_hparams(config))
    metrics_file = output_dir / "metrics.jsonl"
    if accelerator.is_main_process:  # rewrite from the (possibly resumed) history: drops steps after the checkpoint
        with open(metrics_file, "w") as f:
            for entry in state.history:
                f.write(json.dumps(entry) + "\n")
    logger.info(
        f"pretraining {config.model.preset}: encoder {num_params['encoder'] / 1e6:.2f}M, predictor "
        f"{num_params['predictor'] / 1e6:.2f}M params; {world} process(es) x {accumulation} accumulation x "
        f"{micro_batch} clips = global batch {opt.global_batch_size}; steps {state.step} -> {opt.total_steps}",
        main_process_only=True,
    )

    def checkpoint() -> Path:
        return save_checkpoint(
            accelerator,
            output_dir,
            state.step,
            keep_last=run.keep_last_checkpoints,
            with_hash=run.checkpoint_hash,
            metadata={"model_config": model_config, "pretraining_config": config.to_dict()},
        )

    progress = None
    if run.progress_bar and accelerator.is_main_process:
        from tqdm.auto import tqdm

        progress = tqdm(total=opt.total_steps, initial=state.step, desc="pretrain", dynamic_ncols=True)

    stopped = None
    batches = iter(loader)
    device = accelerator.device
    num_masks = len(config.masks)
    smoothed_rate = None
    while state.step < opt.total_steps:
        start = time.perf_counter()
        sums = torch.zeros(len(METRIC_NAMES) + num_masks, device=device)
        for micro in range(accumulation):
            batch = next(batches).to(device)
            sync = contextlib.nullcontext() if micro == accumulation - 1 else accelerator.no_sync(model)
            with sync:
                output = model(
                    batch.pixel_values_videos,
                    batch.context_masks,
                    batch.target_masks,
                    mask_index=config.model.mask_index,
                    loss_exp=opt.loss_exp,
                )
                accelerator.backward(output.loss / accumulation)
            sums += torch.stack(
                [getattr(output, name).detach().float() for name in METRIC_NAMES] + list(output.mask_losses.float())
            )
        values = accelerator.reduce(sums / accumulation, reduction="mean").tolist()
        metrics = dict(zip(METRIC_NAMES, values[: len(METRIC_NAMES)]))
        metrics.update({f"mask_loss_{j}": v for j, v in enumerate(values[len(METRIC_NAMES):])})
        if not math.isfinite(metrics["loss"]):
            optimizer.zero_grad(set_to_none=True)
            where = f"the last good checkpoint is {last_checkpoint}" if last_checkpoint else "no checkpoint was written"
            message = (
                f"non-finite loss ({metrics['loss']}) at step {state.step + 1}: stopping before the optimizer step; "
                f"{where}. Lower optimization.lr, raise the EMA momentum, use bf16 instead of fp16, or check the data."
            )
            if progress is not None:
                progress.close()
            accelerator.end_training()
            raise NonFiniteLossError(message)
        if opt.max_grad_norm is not None:
            metrics["grad_norm"] = float(accelerator.clip_grad_norm_(model.parameters(), opt.max_grad_norm))
        metrics["lr"] = schedule.step()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        momentum = momentum_schedule.value_at(state.step + 1)
        if not config.model.freeze_encoder:  # the EMA of a frozen encoder is itself (skipped: exact, and no cost)
            unwrapped.update_target_encoder(momentum)
        state.step += 1

        elapsed = time.perf_counter() - start
        rate = opt.global_batch_size / max(elapsed, 1e-9)
        smoothed_rate = rate if smoothed_rate is None else 0.9 * smoothed_rate + 0.1 * rate
        metrics.update(step=state.step, momentum=momentum, clips_per_second=rate)
        state.history.append(metrics)
        if accelerator.is_main_process:
            with open(metrics_file, "a") as f:
                f.write(json.dumps(metrics) + "\n")
        if state.step % run.log_every == 0 or state.step == opt.total_steps:
            if run.report_to:
                accelerator.log({f"train/{k}": v for k, v in metrics.items() if k != "step"}, step=state.step)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{metrics['loss']:.4f}", clips_s=f"{smoothed_rate:.1f}",
                                 tgt_std=f"{metrics['target_std']:.3f}", refresh=False)
        if metrics["target_std"] < run.collapse_std_floor:
            logger.warning(
                f"step {state.step}: target feature std {metrics['target_std']:.4f} is below the collapse floor "
                f"{run.collapse_std_floor} (representation collapse?). Consider a lower learning rate or a higher EMA "
                "momentum.",
                main_process_only=True,
            )
            if run.stop_on_collapse:
                stopped = "collapse"
        for callback in callbacks:
            callback(state.step, metrics, unwrapped)
        if stopped or (run.checkpoint_every and state.step % run.checkpoint_every == 0) or state.step == opt.total_steps:
            last_checkpoint = checkpoint()
        if stopped:
            break
    if progress is not None:
        progress.close()

    final_dir = None
    if accelerator.is_main_process:
        plot_history(state.history, output_dir / "loss_curve.png", title=f"V-JEPA 2 pretraining ({config.model.preset})")
    if stopped is None:
        final_dir = output_dir / "final"
        full_state = accelerator.get_state_dict(model)  # gathered on the main process (DDP / FSDP)
        if accelerator.is_main_process:
            exported = export_vjepa2_model(unwrapped.config, full_state, run.export_encoder)
            exported.save_pretrained(str(final_dir))
            if run.push_to_hub:
                exported.push_to_hub(run.hub_model_id, private=run.hub_private,
                                     commit_message=f"V-JEPA 2 pretraining, step {state.step}")
        accelerator.wait_for_everyone()
    accelerator.end_training()
    return PretrainingResult(
        output_dir=output_dir,
        final_model_dir=final_dir,
        last_checkpoint=last_checkpoint,
        step=state.step,
        history=list(state.history),
        stopped=stopped,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None,
                        help="YAML recipe file or preset name (tiny, vit_large_pretrain, vit_large_cooldown, ...)")
    parser.add_argument("--resume", nargs="?", const="auto", default=None,
                        help="continue from the latest checkpoint of run.output_dir, or from the given checkpoint")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value (repeatable), e.g. --set optimization.total_steps=50")
    parser.add_argument("--output-dir", default=None, help="shortcut for --set run.output_dir=...")
    parser.add_argument("--list-presets", action="store_true", help="print the shipped recipes and exit")


def run_from_args(args: argparse.Namespace) -> int:
    from .checkpointing import CorruptCheckpointError
    from .configuration_pretraining import list_pretraining_presets

    if args.list_presets:
        print("\n".join(list_pretraining_presets()))
        return 0
    if not args.config:
        print("vjepa2-hf pretrain: error: --config FILE_OR_PRESET is required (see --list-presets)", file=sys.stderr)
        return 2
    overrides = list(args.overrides)
    if args.output_dir:
        overrides.append(f"run.output_dir={args.output_dir}")
    try:
        result = pretrain(args.config, resume=args.resume, overrides=overrides)
    except (NonFiniteLossError, CorruptCheckpointError) as error:
        print(f"vjepa2-hf pretrain: error: {error}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as error:  # bad config or input: the message says what and where
        print(f"vjepa2-hf pretrain: error: {error}", file=sys.stderr)
        return 2
    if result.stopped:
        print(f"stopped early ({result.stopped}) at step {result.step}; last checkpoint {result.last_checkpoint}")
        return 2
    if int(os.environ.get("RANK", "0")) != 0:  # one summary line per run, not per process
        return 0
    last = result.history[-1] if result.history else {}
    print(
        f"done: {result.step} steps, final loss {last.get('loss', float('nan')):.4f}, target std "
        f"{last.get('target_std', float('nan')):.3f}; model in {result.final_model_dir}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vjepa2_hf.pretraining.train_vjepa2", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
