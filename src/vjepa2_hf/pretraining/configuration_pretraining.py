"""The pretraining recipe: a typed, validated view of a YAML config file.

A config has five sections (see the presets in ``vjepa2_hf/pretraining/configs/``)::

    model:         preset, config overrides, initialisation (scratch, a model folder, an official .pt), ...
    data:          weighted sources, frames per clip, crop size, DataLoader workers
    masks:         the multi-block mask configurations (official keys)
    optimization:  steps, batch sizes, AdamW, learning-rate / weight-decay / EMA schedules, precision
    run:           output folder, seed, logging, checkpoints, export, hub

Every key is checked: an unknown key or a wrong value raises a `ValueError` naming it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from ..training.recipes import dataclass_from_mapping, did_you_mean, load_recipe_tree
from .masking import OFFICIAL_MASK_CONFIGS, MaskBlockConfig

__all__ = [
    "ModelArguments",
    "DataSourceArguments",
    "DataArguments",
    "OptimizationArguments",
    "RunArguments",
    "PretrainingConfig",
    "list_pretraining_presets",
    "load_pretraining_config",
]

SOURCE_TYPES = ("synthetic", "natural", "videos")
MIXED_PRECISION = ("no", "bf16", "fp16")


@dataclass
class ModelArguments:
    """Args:
        preset (`str`): `VJEPA2Config.from_preset` name: `tiny`, `vit_large`, `vit_huge`, `vit_giant`, `vit_giant_384`.
        config_overrides (`dict`): fields of `VJEPA2Config` to change (e.g. `drop_path_rate`).
        init_from (`str`, *optional*): where the weights start. `None` / `"scratch"`: official random init. A folder
            saved by `save_pretrained` (a `VJEPA2Model` or `VJEPA2ForPretraining`) or a hub id; a checkpoint folder of
            this trainer (`.../checkpoints/step_XXXXXXXX`); or an official `.pt` (`vitl.pt`, ...: its `encoder`,
            `target_encoder` and `predictor` are loaded).
        init_optimizer (`bool`): also load the optimizer state of `init_from` (trainer checkpoint or official `.pt`;
            the official cooldown does this). The step counter restarts at 0 either way.
        gradient_checkpointing (`bool`): recompute block activations in backward (the official configs do).
        mask_index (`int`): predictor mask token (official: the frames-per-clip group, 0 for a single group).
        freeze_encoder (`bool`): train the predictor only, on a frozen context encoder (the EMA target then stays equal
            to it). Fits a predictor to a released encoder, and is the ablation that shows how much of the loss
            decrease comes from the encoder: on the tiny synthetic recipe a frozen random encoder reaches the same
            loss as a trained one.
    """

    preset: str = "tiny"
    config_overrides: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    init_optimizer: bool = False
    gradient_checkpointing: bool = False
    mask_index: int = 0
    freeze_encoder: bool = False

    def __post_init__(self):
        if self.init_from in ("", "scratch"):
            self.init_from = None
        if self.init_optimizer and self.init_from is None:
            raise ValueError("`model.init_optimizer: true` needs `model.init_from` (a checkpoint to take it from)")
        if self.freeze_encoder and self.init_optimizer:
            raise ValueError("`model.freeze_encoder: true` cannot load an optimizer state (`model.init_optimizer: true`):"
                             " that state also holds the encoder's parameters")
        if not isinstance(self.config_overrides, dict):
            raise ValueError(f"`model.config_overrides` must be a mapping, got {self.config_overrides!r}")
        _check_config_overrides(self.preset, self.config_overrides)


def _check_config_overrides(preset: str, overrides: dict[str, Any]) -> None:
    """Every key a `VJEPA2Config` field (a typo would be stored and ignored) and the preset with them a valid config
    (sizes, heads), checked when the recipe is read, before any model is built."""
    import inspect

    from transformers import PretrainedConfig

    from ..encoder.configuration_vjepa2 import VJEPA2Config

    fields = [*inspect.signature(VJEPA2Config.__init__).parameters, *inspect.signature(PretrainedConfig.__init__).parameters]
    fields = sorted(set(fields) - {"self", "kwargs"} | {"vjepa2_1_objective"})  # the 2.1 objective reads its own
    for key in overrides:
        if key not in fields:
            raise ValueError(f"unknown key {key!r} in `model.config_overrides`{did_you_mean(key, fields)}; expected "
                             f"VJEPA2Config fields such as {', '.join(f for f in fields if 'hidden' in f)}")
    try:
        VJEPA2Config.from_preset(preset, **overrides)
    except (TypeError, ZeroDivisionError) as error:  # a value of the wrong type deep in the config's arithmetic
        raise ValueError(f"`model.config_overrides` {overrides} do not make a valid config: {error}") from None
    except ValueError as error:
        raise ValueError(f"`model` (preset {preset!r}, config_overrides {overrides}): {error}") from None


@dataclass
class DataSourceArguments:
    """One weighted data source.

    Args:
        type (`str`): `"synthetic"`: moving-shapes clips rendered in memory (`vjepa2_hf.video.synthetic`, no files);
            `"natural"`: camera / object motion over real photographs (`vjepa2_hf.video.natural_synthetic`, the
            pretraining split of the photographs; task `direction` means `mixed`); `"videos"`: a CSV (`path label` per line, the official format), a folder of videos / images, or a
            folder written by `vjepa2-hf synth`, decoded with `vjepa2_hf.video`.
        weight (`float`): sampling weight (normalised over the sources; the official K710/SSv2/HowTo mix uses
            0.335/0.100/0.565).
        path (`str`, *optional*): for `videos`.
        num_clips (`int`): for `synthetic`: number of distinct clips (clip `i` depends on `(seed, i)` only).
        seed (`int`): for `synthetic`.
        task (`str`): for `synthetic`: which motion family to render (`direction`, `speed`, `count`, `anticipation`).
        fps (`float`, *optional*): for `videos`: sampling frame rate (official: 4).
    """

    type: str = "synthetic"
    weight: float = 1.0
    path: str | None = None
    num_clips: int = 512
    seed: int = 0
    task: str = "direction"
    fps: float | None = None

    def __post_init__(self):
        if self.type not in SOURCE_TYPES:
            raise ValueError(f"data source `type` must be one of {SOURCE_TYPES}, got {self.type!r}")
        if not float(self.weight) > 0:
            raise ValueError(f"data source `weight` must be > 0, got {self.weight!r}")
        if self.type == "videos" and not self.path:
            raise ValueError("a `videos` data source needs `path` (a CSV file or a folder)")
        if self.type in ("synthetic", "natural") and int(self.num_clips) < 1:
            raise ValueError(f"a `synthetic` data source needs `num_clips` >= 1, got {self.num_clips!r}")


@dataclass
class DataArguments:
    """Args:
        sources (`list[DataSourceArguments]`): the weighted sources.
        frames_per_clip (`int`): frames per clip (official: 16 in the primary phase, 64 in the cooldown).
        crop_size (`int`): square crop (official: 256, 384 for the ViT-g cooldown).
        num_workers (`int`): DataLoader workers per process.
        random_resized_crop_scale (`tuple[float, float]`): area range of the training crop (official [0.3, 1.0]).
        random_resized_crop_ratio (`tuple[float, float]`): aspect-ratio range (official [0.75, 1.35]).
        horizontal_flip (`bool`): random horizontal flip (official: on).
        augment (`bool`): apply the training augmentation at all (off: resize + centre crop).
    """

    sources: list[DataSourceArguments] = field(default_factory=lambda: [DataSourceArguments()])
    frames_per_clip: int = 16
    crop_size: int = 256
    num_workers: int = 0
    random_resized_crop_scale: tuple[float, float] = (0.3, 1.0)
    random_resized_crop_ratio: tuple[float, float] = (0.75, 1.35)
    horizontal_flip: bool = True
    augment: bool = True

    def __post_init__(self):
        self.sources = [
            s if isinstance(s, DataSourceArguments)
            else dataclass_from_mapping(DataSourceArguments, s, f"data.sources[{i}]")
            for i, s in enumerate(self.sources)
        ]
        if not self.sources:
            raise ValueError("`data.sources` must list at least one source")
        if int(self.frames_per_clip) < 1 or int(self.crop_size) < 1:
            raise ValueError(f"`data.frames_per_clip` and `data.crop_size` must be >= 1, got {self.frames_per_clip}, "
                             f"{self.crop_size}")
        if int(self.num_workers) < 0:
            raise ValueError(f"`data.num_workers` must be >= 0, got {self.num_workers}")
        self.random_resized_crop_scale = tuple(float(v) for v in self.random_resized_crop_scale)
        self.random_resized_crop_ratio = tuple(float(v) for v in self.random_resized_crop_ratio)


@dataclass
class OptimizationArguments:
    """Args:
        total_steps (`int`): optimizer updates of this run.
        global_batch_size (`int`): clips per update over all processes (official: 3072).
        micro_batch_size (`int`, *optional*): clips per forward per process (official: 24 per GPU, 12 / 6 in the
            cooldown). Accumulation steps = global / (micro * processes). Default: global / processes.
        start_lr, lr, final_lr (`float`): warmup start, constant value, cooldown end (official 1e-4, 5.25e-4, 1e-6).
        warmup_steps (`int`): linear warmup (official 12,000).
        cooldown_steps (`int`): linear decay to `final_lr` over the last steps (official cooldown phase: all of its
            12,000 steps; 0 in the primary phase).
        weight_decay, final_weight_decay (`float`): AdamW weight decay on weights only (not biases, norms), linearly
            interpolated over the run (official: constant 0.04).
        betas (`tuple[float, float]`), eps (`float`): AdamW (official (0.9, 0.999), 1e-8).
        ema (`tuple[float, float]`): EMA momentum start and end, linearly interpolated over the run (official:
            constant 0.99925; continued pretraining on a new domain: 0.99 - 0.9995 per the maintainers).
        loss_exp (`float`): 1 = L1 (official).
        mixed_precision (`str`): `no`, `bf16` (official) or `fp16`.
        max_grad_norm (`float`, *optional*): gradient clipping (official: none).
    """

    total_steps: int = 100
    global_batch_size: int = 8
    micro_batch_size: int | None = None
    start_lr: float = 1e-4
    lr: float = 5.25e-4
    final_lr: float = 1e-6
    warmup_steps: int = 0
    cooldown_steps: int = 0
    weight_decay: float = 0.04
    final_weight_decay: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    ema: tuple[float, float] = (0.99925, 0.99925)
    loss_exp: float = 1.0
    mixed_precision: str = "no"
    max_grad_norm: float | None = None

    def __post_init__(self):
        if int(self.total_steps) < 1:
            raise ValueError(f"`optimization.total_steps` must be >= 1, got {self.total_steps}")
        if int(self.global_batch_size) < 1:
            raise ValueError(f"`optimization.global_batch_size` must be >= 1, got {self.global_batch_size}")
        if self.micro_batch_size is not None and int(self.micro_batch_size) < 1:
            raise ValueError(f"`optimization.micro_batch_size` must be >= 1 or null, got {self.micro_batch_size}")
        if int(self.warmup_steps) < 0 or int(self.cooldown_steps) < 0:
            raise ValueError(f"`optimization.warmup_steps` and `cooldown_steps` must be >= 0, got {self.warmup_steps}, "
                             f"{self.cooldown_steps}")
        if self.warmup_steps + self.cooldown_steps > self.total_steps:
            raise ValueError(
                f"`optimization.warmup_steps` ({self.warmup_steps}) + `cooldown_steps` ({self.cooldown_steps}) exceed "
                f"`total_steps` ({self.total_steps})"
            )
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"`optimization.mixed_precision` must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        self.betas = tuple(float(b) for b in self.betas)
        self.ema = tuple(float(m) for m in self.ema)
        if len(self.betas) != 2 or len(self.ema) != 2:
            raise ValueError(f"`optimization.betas` and `optimization.ema` must be pairs, got {self.betas}, {self.ema}")
        if not all(0.0 <= m <= 1.0 for m in self.ema):
            raise ValueError(f"`optimization.ema` momenta must be in [0, 1], got {self.ema}")
        if self.final_weight_decay is None:
            self.final_weight_decay = self.weight_decay
        for name in ("start_lr", "lr", "final_lr", "weight_decay", "final_weight_decay", "eps", "loss_exp"):
            setattr(self, name, float(getattr(self, name)))
        if self.loss_exp <= 0:
            raise ValueError(f"`optimization.loss_exp` must be > 0, got {self.loss_exp}")

    def accumulation_steps(self, num_processes: int) -> tuple[int, int]:
        """``(micro_batch_size, accumulation_steps)`` for ``num_processes`` processes; raises a `ValueError` when the
        global batch does not split evenly."""
        micro = self.micro_batch_size
        if micro is None:
            if self.global_batch_size % num_processes:
                raise ValueError(
                    f"`optimization.global_batch_size` ({self.global_batch_size}) must be divisible by the number of "
                    f"processes ({num_processes})"
                )
            micro = self.global_batch_size // num_processes
        if self.global_batch_size % (micro * num_processes):
            raise ValueError(
                f"`optimization.global_batch_size` ({self.global_batch_size}) must be a multiple of "
                f"micro_batch_size x processes ({micro} x {num_processes})"
            )
        return micro, self.global_batch_size // (micro * num_processes)


@dataclass
class RunArguments:
    """Args:
        output_dir (`str`): run folder (checkpoints, logs, plots, final model).
        seed (`int`): model init, data order and masks all derive from it.
        log_every (`int`): steps between logged metrics.
        checkpoint_every (`int`): steps between checkpoints (0: only at the end).
        keep_last_checkpoints (`int`): older checkpoints are deleted.
        checkpoint_hash (`bool`): sha256 of every checkpoint file in its manifest (verified before loading).
        report_to (`list[str]`): Accelerate trackers (`tensorboard`, `wandb`, ...; `[]` for none).
        collapse_std_floor (`float`): warn when the target feature std falls below it (collapse).
        stop_on_collapse (`bool`): stop the run (after a checkpoint) instead of warning.
        export_encoder (`str`): encoder written to `final/` with `save_pretrained`: `"encoder"` (the context encoder,
            what the hub / transformers release) or `"target_encoder"` (EMA, what the official evals load).
        push_to_hub (`bool`), hub_model_id (`str`), hub_private (`bool`): push `final/` at the end.
        progress_bar (`bool`): tqdm bar on the main process.
        cpu_threads (`int`, *optional*): `torch.set_num_threads` for CPU runs (None: PyTorch's default). On a shared
            or oversubscribed machine 1 thread per process can be many times faster than the default.
        compile (`bool`): `torch.compile` the transformer blocks (regional, `VJEPA2ForPretraining.compile_blocks`);
            the first step pays the compile time. Not part of the run identity: a run may resume with it on or off
            (the numbers agree to float rounding).
    """

    output_dir: str = "outputs/vjepa2-pretrain"
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 0
    keep_last_checkpoints: int = 2
    checkpoint_hash: bool = True
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])
    collapse_std_floor: float = 0.05
    stop_on_collapse: bool = False
    export_encoder: str = "encoder"
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_private: bool = True
    progress_bar: bool = True
    cpu_threads: int | None = None
    compile: bool = False

    def __post_init__(self):
        if self.cpu_threads is not None and int(self.cpu_threads) < 1:
            raise ValueError(f"`run.cpu_threads` must be >= 1 or null, got {self.cpu_threads}")
        if self.export_encoder not in ("encoder", "target_encoder"):
            raise ValueError(f"`run.export_encoder` must be 'encoder' or 'target_encoder', got {self.export_encoder!r}")
        if self.push_to_hub and not self.hub_model_id:
            raise ValueError("`run.push_to_hub: true` needs `run.hub_model_id`")
        if int(self.log_every) < 1 or int(self.checkpoint_every) < 0:
            raise ValueError(f"`run.log_every` must be >= 1 and `run.checkpoint_every` >= 0, got {self.log_every}, "
                             f"{self.checkpoint_every}")
        if isinstance(self.report_to, str):
            self.report_to = [] if self.report_to in ("none", "") else [self.report_to]


@dataclass
class PretrainingConfig:
    """A complete pretraining recipe (see the module docstring)."""

    model: ModelArguments = field(default_factory=ModelArguments)
    data: DataArguments = field(default_factory=DataArguments)
    masks: list[MaskBlockConfig] = field(default_factory=lambda: list(OFFICIAL_MASK_CONFIGS))
    optimization: OptimizationArguments = field(default_factory=OptimizationArguments)
    run: RunArguments = field(default_factory=RunArguments)
    description: str = ""

    def __post_init__(self):
        sections = {"model": ModelArguments, "data": DataArguments, "optimization": OptimizationArguments,
                    "run": RunArguments}
        for name, cls in sections.items():
            value = getattr(self, name)
            if not isinstance(value, cls):
                setattr(self, name, dataclass_from_mapping(cls, value, name))
        if not isinstance(self.masks, list) or not self.masks:
            raise ValueError(f"`masks` must list at least one mask configuration, got {self.masks!r}")
        for i, mask in enumerate(self.masks):
            if not isinstance(mask, (MaskBlockConfig, Mapping)):
                raise ValueError(f"`masks[{i}]` must be a mapping, got {type(mask).__name__} {mask!r}")
        self.masks = [m if isinstance(m, MaskBlockConfig) else MaskBlockConfig.from_dict(m) for m in self.masks]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "PretrainingConfig":
        return dataclass_from_mapping(cls, values, "config")

    def to_dict(self) -> dict[str, Any]:
        def convert(value):
            if isinstance(value, MaskBlockConfig):
                return value.to_dict()
            if dataclasses.is_dataclass(value):
                return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
            if isinstance(value, (list, tuple)):
                return [convert(v) for v in value]
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            return value

        return convert(self)

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text


def list_pretraining_presets() -> list[str]:
    """Names of the recipes shipped in ``vjepa2_hf/pretraining/configs/``."""
    folder = resources.files("vjepa2_hf.pretraining") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_pretraining_config(
    path_or_preset: str | os.PathLike | Mapping[str, Any], overrides: Sequence[str] = ()
) -> PretrainingConfig:
    """Read a recipe from a YAML file, a shipped preset name (`list_pretraining_presets()`) or a dict, then apply
    dotted ``section.key=value`` overrides (values parsed as YAML, e.g. ``optimization.total_steps=50``,
    ``data.sources.0.path=/data/k710.csv``).

    Raises:
        FileNotFoundError: neither a file nor a preset of that name exists.
        ValueError: unknown keys or invalid values.
    """
    presets = resources.files("vjepa2_hf.pretraining") / "configs"
    return PretrainingConfig.from_dict(load_recipe_tree(path_or_preset, overrides, presets=presets))
