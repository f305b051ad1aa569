"""Self-supervised V-JEPA 2 pretraining: multi-block 3-D masks, EMA target encoder, latent L1, Accelerate loop.

Quick start (CPU, a few minutes)::

    vjepa2-hf pretrain --config tiny --output-dir runs/tiny          # or: pretrain("tiny")
    vjepa2-hf pretrain --config tiny --output-dir runs/tiny --resume # continue after an interruption

Recipes (`vjepa2-hf pretrain --list-presets`): ``tiny``, the official ``vit_{large,huge,giant}_pretrain`` primary
phases and ``vit_{large,huge}_cooldown`` / ``vit_giant_cooldown_384`` (progressive resolution: 64 frames, optimizer
state carried over). Any key can be overridden: ``--set optimization.total_steps=1000``.

Several processes (the global batch, data order and masks do not depend on the process count)::

    torchrun --nproc_per_node 2 -m vjepa2_hf.cli pretrain --config tiny                    # 2 CPU processes, gloo
    accelerate launch --config_file examples/accelerate/ddp_multi_gpu.yaml -m vjepa2_hf.cli pretrain \
        --config vit_large_pretrain --set data.sources.0.path=/data/k710_train_paths.csv
    accelerate launch --config_file examples/accelerate/fsdp_vitg.yaml -m vjepa2_hf.cli pretrain \
        --config vit_giant_pretrain ...                                                    # ViT-g, FSDP2

Continued pretraining on your own videos: ``--set model.init_from=facebook/vjepa2-vitl-fpc64-256`` (a hub /
``save_pretrained`` folder: encoder + predictor, the EMA target starts as the encoder) or ``model.init_from=vitl.pt``
(an official training checkpoint: encoder, target encoder, predictor; add ``model.init_optimizer=true`` for its AdamW
state), with ``data.sources`` pointing at a CSV / folder of your videos. Against collapse: the logs carry
``target_std`` / ``prediction_std`` / ``target_clip_std`` (-> 0 under collapse; ``run.collapse_std_floor`` warns,
``run.stop_on_collapse`` stops); lower the learning rate or raise the EMA momentum (0.99 - 0.9995 per the
maintainers) if they fall.
"""

from ..lazy_imports import attach

# submodules are imported on first use of one of their names
_SUBMODULES = {
    "..training.checkpointing": ['CorruptCheckpointError', 'find_last_checkpoint', 'save_checkpoint', 'verify_checkpoint'],
    "..training.loop": ['NonFiniteLossError'],
    "..training.schedulers": ['LinearSchedule', 'ScheduledOptimizer', 'WarmupConstantCooldownSchedule'],
    "configuration_pretraining": ['PretrainingConfig', 'list_pretraining_presets', 'load_pretraining_config'],
    "data": ['GlobalBatchSampler', 'StepIndexedDataset', 'SyntheticMotionClips'],
    "ema": ['ema_update'],
    "masking": ['MaskBlockConfig', 'MaskedBatch', 'MultiBlockMaskCollator', 'MultiBlockMaskGenerator', 'OFFICIAL_MASK_CONFIGS', 'StepSample'],
    "modeling_pretraining": ['VJEPA2ForPretraining', 'VJEPA2PretrainingOutput'],
    "train_vjepa2": ['PretrainingResult', 'pretrain'],
}

__getattr__, __dir__ = attach(__name__, _SUBMODULES)

__all__ = [
    "CorruptCheckpointError",
    "GlobalBatchSampler",
    "LinearSchedule",
    "MaskBlockConfig",
    "MaskedBatch",
    "MultiBlockMaskCollator",
    "MultiBlockMaskGenerator",
    "NonFiniteLossError",
    "OFFICIAL_MASK_CONFIGS",
    "PretrainingConfig",
    "PretrainingResult",
    "ScheduledOptimizer",
    "StepIndexedDataset",
    "StepSample",
    "SyntheticMotionClips",
    "VJEPA2ForPretraining",
    "VJEPA2PretrainingOutput",
    "WarmupConstantCooldownSchedule",
    "ema_update",
    "find_last_checkpoint",
    "list_pretraining_presets",
    "load_pretraining_config",
    "pretrain",
    "save_checkpoint",
    "verify_checkpoint",
]
