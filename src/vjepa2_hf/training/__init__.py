"""The training engine of the package's hand-written Accelerate loops (V-JEPA 2 pretraining, V-JEPA 2-AC training).

- `recipes`: YAML / JSON recipes, dotted ``section.key=value`` overrides, dataclass validation;
- `optimization`: AdamW parameter groups (weight decay on weights only) and the AdamW constructor;
- `schedulers`: warmup-constant-cooldown and linear schedules, and the checkpointable scheduled optimizer;
- `checkpointing`: atomic, verified checkpoints with exact resume and keep-last, written without pickles
  (`accelerator_state`: what is saved; `state_files`: safetensors + JSON);
- `run_identity`: `run.json`, what defines a run, checked before a job writes into its folder;
- `launch_environment`: what the launcher asks (processes, DeepSpeed / FSDP, mixed precision) and the refusals;
- `loop`: the step loop (`run_steps`), accelerator state, resume resolution, step state, metrics log, trackers,
  progress, the NaN stop.

The engine is model-agnostic: it imports no model or capability package.
"""

from .checkpointing import (
    CorruptCheckpointError,
    find_last_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)
from .loop import (
    MetricsLog,
    NonFiniteLossError,
    TrainingState,
    check_finite_loss,
    flat_hparams,
    has_accelerator,
    progress_bar,
    release_accelerator_state,
    resolve_resume,
    run_steps,
)
from .optimization import build_adamw, build_param_groups, is_decayed
from .recipes import apply_overrides, dataclass_from_mapping, load_recipe_tree, parse_override
from .run_identity import RunIdentityError, check_run_folder, claim_run_folder, run_identity
from .schedulers import LinearSchedule, ScheduledOptimizer, WarmupConstantCooldownSchedule

__all__ = [
    "CorruptCheckpointError",
    "LinearSchedule",
    "MetricsLog",
    "NonFiniteLossError",
    "RunIdentityError",
    "ScheduledOptimizer",
    "TrainingState",
    "WarmupConstantCooldownSchedule",
    "apply_overrides",
    "build_adamw",
    "build_param_groups",
    "check_finite_loss",
    "check_run_folder",
    "claim_run_folder",
    "dataclass_from_mapping",
    "find_last_checkpoint",
    "flat_hparams",
    "has_accelerator",
    "list_checkpoints",
    "load_checkpoint",
    "load_recipe_tree",
    "parse_override",
    "progress_bar",
    "release_accelerator_state",
    "resolve_resume",
    "run_identity",
    "run_steps",
    "save_checkpoint",
    "verify_checkpoint",
]
