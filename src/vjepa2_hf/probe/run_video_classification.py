"""Attentive probing (or LoRA / full fine-tuning) of V-JEPA 2 on labelled videos with the `Trainer`.

    vjepa2-hf probe --model facebook/vjepa2-vitl-fpc64-256 --data my_videos/ --output-dir probe-out \
        --num-train-epochs 20 --learning-rate 1e-3 --cache-features
    vjepa2-hf probe config.json                                          # the same arguments as a JSON file

Written like transformers' `run_image_classification.py`: `ModelArguments`, `DataArguments` and `TrainingArguments`
(parsed by `HfArgumentParser` in `vjepa2_hf.commands.probe`), the package's `VJEPA2VideoProcessor` (evaluation
transform), `VideoClipDataset` and `VideoCollator` for decoding, metrics from the `evaluate` modules shipped in `vjepa2_hf/probe/metrics` (accuracy, top-5
accuracy, class-mean recall@5), then `save_pretrained` of the model and the processor, a model card from
`model_cards/video_classification.md`, and optionally a transformers-format export and a Hub push.

Data (`--data`): a folder written by `generate_motion_dataset` (its train / test split), a folder of class
subfolders (with `train/` and `test/` (or `val/`) subfolders, or split by `--eval-fraction`), an official-format
list `path label` per line (`--data train.csv --eval-data val.csv`), or a Hub dataset name with a video column.

Models (`--model`): a backbone folder / Hub repo (ours or transformers' `facebook/vjepa2-*`: the probe starts
fresh), a classifier folder (continues from its probe), or a preset name (`tiny`, `vit_large`, ...: a randomly
initialised backbone, the "random encoder" baseline).

`--cache-features`: with a frozen backbone, every clip is encoded once (no augmentation) and the probe trains on the
stored features, so several probe epochs do not re-run the encoder. They are kept in `--feature-cache-dir`
(`*.safetensors`, reused by later runs with the same model, data and sampling), or by default in
`<output_dir>/feature_cache`, removed when the run ends: the saved model folder holds no cache. `--lora-rank R`: LoRA adapters (PEFT) on the
encoder's attention and MLP projections, trained with the probe; the saved model has them merged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PrinterCallback, ProgressCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.utils import logging

from ..encoder.configuration_vjepa2 import PRESET_ALIASES, PRESETS, VJEPA2Config
from ..training.launch_environment import check_trainer_launch, needs_cpu_processes, trainer_launch_arguments
from ..training.trainer_checkpoints import resolve_trainer_resume
from .attentive_pooler import OFFICIAL_PROBE_LAYER_NORM_EPS, OFFICIAL_PROBE_NUM_HEADS
from .modeling_probe import VJEPA2ForVideoClassification

logger = logging.get_logger(__name__)

__all__ = [
    "ModelArguments",
    "DataArguments",
    "ProbeRunResult",
    "CachedFeatureDataset",
    "MultiViewCollator",
    "load_video_splits",
    "build_probe_model",
    "encode_dataset",
    "make_compute_metrics",
    "run_probe",
    "default_training_arguments",
    "load_probe_arguments",
    "probe_arguments_from_values",
]

LORA_TARGET_MODULES = r"vjepa2\.encoder\.layer\.\d+\.(attention\.(qkv|proj)|mlp\.(fc1|fc2))"


@dataclass
class ModelArguments:
    """What to probe and how."""

    model: str = field(
        metadata={
            "help": "Backbone or classifier folder / Hub repo (ours or transformers'), or a preset name (tiny, "
            "vit_large, ...) for a randomly initialised backbone.",
            "aliases": ["--model_name_or_path"],
        }
    )
    freeze_backbone: bool = field(default=True, metadata={"help": "Frozen backbone (attentive probing). "
                                                          "--no-freeze-backbone fine-tunes the encoder."})
    probe_num_attention_heads: int | None = field(
        default=None, metadata={"help": "Probe heads (default: the encoder's, as transformers; official probes: 16)."}
    )
    probe_layer_norm_eps: float | None = field(
        default=None, metadata={"help": "Probe LayerNorm eps (default: the encoder's; official probes: 1e-5)."}
    )
    official_probe: bool = field(
        default=False, metadata={"help": "Use the released probes' 16 heads and eps 1e-5 (overrides the two above)."}
    )
    num_pooler_layers: int | None = field(
        default=None, metadata={"help": "Self-attention blocks of the probe before its cross-attention (default 3)."}
    )
    pooler_input_layers: str | None = field(
        default=None,
        metadata={"help": "Multi-level probe: comma-separated encoder blocks whose outputs are concatenated along "
                          "tokens (official ViT-L: 17,19,21,23)."},
    )
    cache_features: bool = field(
        default=False, metadata={"help": "Encode each clip once with the frozen backbone and train on the features."}
    )
    feature_cache_dir: str | None = field(
        default=None,
        metadata={"help": "Where --cache-features keeps the features, reused by later runs with the same model, data "
                          "and sampling (default: inside the output folder, removed when the run ends)."},
    )
    lora_rank: int = field(default=0, metadata={"help": "LoRA rank on the encoder (0 = no LoRA)."})
    lora_alpha: float = field(default=16.0, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    export_transformers: bool = field(
        default=False,
        metadata={"help": "Also write <output_dir>/transformers: the classifier in transformers' own format."},
    )
    push_to_hub_repo: str | None = field(
        default=None, metadata={"help": "Upload the output folder (or the transformers export) to this Hub repo."}
    )
    seed_model: int = field(default=0, metadata={"help": "Seed of a randomly initialised backbone or probe."})


@dataclass
class DataArguments:
    """Which videos and how to sample them."""

    data: str = field(
        metadata={"help": "Synthetic folder, folder of class subfolders, `path label` list file, or Hub dataset.",
                  "aliases": ["--data_dir"]}
    )
    eval_data: str | None = field(default=None, metadata={"help": "Held-out list file / folder (optional)."})
    eval_fraction: float = field(
        default=0.2, metadata={"help": "Held-out fraction when the data has no split (stratified, seeded)."}
    )
    train_split: str = field(default="train", metadata={"help": "Split name for Hub / synthetic data."})
    eval_split: str = field(default="test", metadata={"help": "Held-out split name for Hub / synthetic data."})
    video_column: str = field(default="video", metadata={"help": "Video column of a Hub dataset."})
    label_column: str = field(default="label", metadata={"help": "Label column."})
    frames_per_clip: int | None = field(
        default=None, metadata={"help": "Frames per clip (default: the model's num_frames / frames_per_clip)."}
    )
    frame_step: int = field(default=4, metadata={"help": "Step between sampled frames (official SSv2: 4)."})
    num_segments: int = field(default=1, metadata={"help": "Temporal segments per video (official SSv2: 2)."})
    num_views: int = field(default=1, metadata={"help": "Spatial views at evaluation (official: 3)."})
    crop_size: int | None = field(default=None, metadata={"help": "Crop size (default: the model's crop_size)."})
    do_resize: bool = field(
        default=True,
        metadata={"help": "Resize the short side to crop*256/224 before the centre crop (--no-do-resize for clips "
                          "already at the crop size, e.g. the synthetic data)."},
    )
    augment: bool = field(
        default=False,
        metadata={"help": "Random-resized-crop augmentation in training (no flip; not with --cache-features)."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use at most this many training videos."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use at most this many held-out videos."})
    feature_batch_size: int = field(default=16, metadata={"help": "Batch size when caching features."})


@dataclass
class ProbeRunResult:
    """What `run_probe` returns.

    Attributes:
        output_dir: the saved model folder.
        metrics: final held-out metrics (`eval_accuracy`, `eval_top5_accuracy`, `eval_class_mean_recall@5`,
            `eval_loss`) and training figures (`train_loss`, `train_runtime`, `feature_seconds`, ...).
        log_history: the Trainer's log history (training loss per logging step, eval metrics per epoch).
        model: the trained classifier (eval mode, LoRA merged).
        processor: the `VJEPA2VideoProcessor` saved with it.
        id2label: class names.
        num_train, num_eval: videos in each split.
    """

    output_dir: str
    metrics: dict[str, float]
    log_history: list[dict[str, Any]]
    model: VJEPA2ForVideoClassification
    processor: Any
    id2label: dict[int, str]
    num_train: int
    num_eval: int


# --------------------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------------------


def _label_names(dataset, label_column: str) -> list[str] | None:
    feature = dataset.features.get(label_column)
    names = getattr(feature, "names", None)
    return list(names) if names else None


def _stratified_split(dataset, label_column: str, fraction: float, seed: int):
    labels = np.asarray(dataset[label_column])
    rng = np.random.default_rng(seed)
    eval_idx = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = max(1, int(round(fraction * len(idx)))) if len(idx) > 1 else 0
        eval_idx.extend(idx[:n].tolist())
    eval_set = set(eval_idx)
    train_idx = [i for i in range(len(labels)) if i not in eval_set]
    return dataset.select(train_idx), dataset.select(sorted(eval_idx))


def load_video_splits(data_args: DataArguments, seed: int = 0):
    """Train and held-out `datasets.Dataset`s (columns `video`, `label`) and the class names.

    Returns:
        `(train, eval, id2label)`.
    """
    from ..video.video_datasets import dataset_from_csv, dataset_from_folder, dataset_from_synthetic, prepare_video_column

    data = data_args.data
    names: list[str] | None = None
    if os.path.isdir(data) and os.path.isfile(os.path.join(data, "dataset_info.json")):
        from ..video.synthetic import load_dataset_info

        info = load_dataset_info(data)
        train = dataset_from_synthetic(data, data_args.train_split if data_args.train_split != "test" else "train")
        evaluation = dataset_from_synthetic(data, "test") if data_args.eval_data is None else None
        names = list(info["class_names"])
    elif os.path.isdir(data):
        subdirs = {d.lower(): d for d in os.listdir(data) if os.path.isdir(os.path.join(data, d))}
        held_out = next((subdirs[k] for k in ("test", "val", "validation") if k in subdirs), None)
        if "train" in subdirs and held_out is not None:
            train = dataset_from_folder(os.path.join(data, subdirs["train"]))
            evaluation = dataset_from_folder(os.path.join(data, held_out))
            if _label_names(train, "label") != _label_names(evaluation, "label"):
                raise ValueError(
                    f"the class subfolders of {data}/{subdirs['train']} and {data}/{held_out} differ: "
                    f"{_label_names(train, 'label')} vs {_label_names(evaluation, 'label')}"
                )
        else:
            train, evaluation = _stratified_split(dataset_from_folder(data), "label", data_args.eval_fraction, seed)
        names = _label_names(train, "label")
    elif os.path.isfile(data):
        train = dataset_from_csv(data)
        evaluation = None
        names = _label_names(train, "label")
    else:
        import datasets

        try:
            loaded = datasets.load_dataset(data)
        except Exception as error:  # noqa: BLE001 - name the argument in the message
            raise FileNotFoundError(
                f"`--data` {data!r} is neither a local folder / list file nor a loadable dataset ({error})"
            ) from error
        if data_args.train_split not in loaded:
            raise ValueError(f"`train_split` {data_args.train_split!r} not in {data} (splits: {list(loaded)})")
        train = prepare_video_column(loaded[data_args.train_split], data_args.video_column)
        evaluation = None
        if data_args.eval_split in loaded:
            evaluation = prepare_video_column(loaded[data_args.eval_split], data_args.video_column)
        if data_args.video_column != "video":
            train = train.rename_column(data_args.video_column, "video")
            if evaluation is not None:
                evaluation = evaluation.rename_column(data_args.video_column, "video")
        if data_args.label_column != "label":
            train = train.rename_column(data_args.label_column, "label")
            if evaluation is not None:
                evaluation = evaluation.rename_column(data_args.label_column, "label")
        names = _label_names(train, "label")
    if data_args.eval_data is not None:
        if os.path.isdir(data_args.eval_data):
            evaluation = dataset_from_folder(data_args.eval_data)
        elif os.path.isfile(data_args.eval_data):
            evaluation = dataset_from_csv(data_args.eval_data)
        else:
            raise FileNotFoundError(f"`--eval-data` {data_args.eval_data} is neither a folder nor a list file")
    if evaluation is None:
        train, evaluation = _stratified_split(train, "label", data_args.eval_fraction, seed)
    if data_args.max_train_samples is not None:
        train = train.select(range(min(data_args.max_train_samples, len(train))))
    if data_args.max_eval_samples is not None:
        evaluation = evaluation.select(range(min(data_args.max_eval_samples, len(evaluation))))
    labels = [int(v) for v in train["label"]] + [int(v) for v in evaluation["label"]]
    num_labels = max(labels) + 1
    if names is None or len(names) < num_labels:
        names = [f"LABEL_{i}" for i in range(num_labels)]
    return train, evaluation, {i: str(n) for i, n in enumerate(names)}


class MultiViewCollator:
    """`VideoCollator`, then `[B, S*V, T, C, H, W]` (segment-major, as `VideoClipDataset` returns multi-clip samples)
    -> `[B, V, S, T, C, H, W]`, the model's multi-view layout (`VJEPA2VideoProcessor.views_first`). Single-clip
    batches pass unchanged."""

    def __init__(self, num_segments: int = 1, num_views: int = 1) -> None:
        from ..video.video_datasets import VideoCollator

        self.num_segments = int(num_segments)
        self.num_views = int(num_views)
        self.collator = VideoCollator()

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(features)
        if self.num_segments * self.num_views > 1:
            from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor

            batch["pixel_values_videos"] = VJEPA2VideoProcessor.views_first(
                batch["pixel_values_videos"], self.num_segments, self.num_views
            )
        return batch


class CachedFeatureDataset(torch.utils.data.Dataset):
    """Cached probe inputs: `dataset[i] = {"encoder_hidden_states": (tokens, D) or (views, tokens, D), "labels": int}`."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        if features.shape[0] != labels.shape[0]:
            raise ValueError(f"{features.shape[0]} cached features for {labels.shape[0]} labels")
        self.features = features
        self.labels = labels

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"encoder_hidden_states": self.features[index].float(), "labels": int(self.labels[index])}


# --------------------------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------------------------


def _is_preset(name: str) -> bool:
    return not os.path.exists(name) and (name in PRESETS or name in PRESET_ALIASES)


def build_probe_model(model_args: ModelArguments, id2label: dict[int, str], num_frames: int | None = None):
    """The classifier to train: from a backbone / classifier folder or Hub repo, or a random backbone for a preset."""
    num_labels = len(id2label)
    overrides: dict[str, Any] = {}
    heads, eps = model_args.probe_num_attention_heads, model_args.probe_layer_norm_eps
    if model_args.official_probe:
        heads, eps = OFFICIAL_PROBE_NUM_HEADS, OFFICIAL_PROBE_LAYER_NORM_EPS
    if heads is not None:
        overrides["pooler_num_attention_heads"] = heads
    if eps is not None:
        overrides["pooler_layer_norm_eps"] = eps
    if model_args.num_pooler_layers is not None:
        overrides["num_pooler_layers"] = model_args.num_pooler_layers
    if model_args.pooler_input_layers:
        try:
            overrides["pooler_input_layers"] = [int(v) for v in model_args.pooler_input_layers.split(",")]
        except ValueError as error:
            raise ValueError(
                f"`pooler_input_layers` must be comma-separated integers, got {model_args.pooler_input_layers!r}"
            ) from error
    label2id = {v: k for k, v in id2label.items()}
    if _is_preset(model_args.model):
        config = VJEPA2Config.from_preset(model_args.model, num_labels=num_labels, **overrides)
        config.id2label, config.label2id = dict(id2label), label2id
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(model_args.seed_model)
            model = VJEPA2ForVideoClassification(config)
        logger.info(f"randomly initialised {model_args.model} backbone (seed {model_args.seed_model})")
    else:
        from ..model_size import load_checked_config  # sizes checked on the meta device before building

        config = load_checked_config(VJEPA2Config, VJEPA2ForVideoClassification, model_args.model,
                                     what=f"--model {model_args.model}")
        same_head = getattr(config, "num_labels", None) == num_labels
        for key, value in overrides.items():
            setattr(config, key, value)
        config.num_labels = num_labels
        config.id2label, config.label2id = dict(id2label), label2id
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(model_args.seed_model)
            model = VJEPA2ForVideoClassification.from_pretrained(
                model_args.model, config=config, ignore_mismatched_sizes=not same_head
            )
    if num_frames is not None:
        model.config.num_frames = int(num_frames)
    if model_args.freeze_backbone:
        model.freeze_backbone()
    else:
        model.unfreeze_backbone()
    return model


def _apply_lora(model: VJEPA2ForVideoClassification, model_args: ModelArguments):
    from ..lora_utils import apply_lora

    return apply_lora(model, model_args.lora_rank, model_args.lora_alpha, model_args.lora_dropout,
                      LORA_TARGET_MODULES, modules_to_save=["pooler", "classifier"])


# --------------------------------------------------------------------------------------------------------------
# feature caching
# --------------------------------------------------------------------------------------------------------------


def _fingerprint(model: VJEPA2ForVideoClassification, dataset, extra: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    config = {k: v for k, v in model.config.to_dict().items() if k not in ("id2label", "label2id", "_name_or_path")}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.vjepa2.encoder.state_dict().items()):
        flat = tensor.detach().float().flatten()
        digest.update(name.encode())
        digest.update(np.asarray([flat.sum().item(), flat.abs().sum().item(), flat[:: max(1, flat.numel() // 64)][:64].sum().item()]).tobytes())
    digest.update(json.dumps([str(v) for v in dataset.videos], default=str).encode())
    return digest.hexdigest()[:16]


@torch.no_grad()
def encode_dataset(
    model: VJEPA2ForVideoClassification,
    dataset,
    batch_size: int = 16,
    num_segments: int = 1,
    num_views: int = 1,
    description: str = "encode",
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Probe inputs of every clip of a `VideoClipDataset`, with the frozen backbone.

    Returns:
        `(features, labels)`: float16 `(N, tokens, D)` (`(N, views, segments * tokens, D)` for multi-view) and
        `(N,)` labels.
    """
    from tqdm.auto import tqdm

    collate = MultiViewCollator(num_segments, num_views)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    features, labels = [], []
    for batch in tqdm(loader, desc=description, disable=not progress, leave=False):
        pixels = batch["pixel_values_videos"].to(device)
        if pixels.ndim == 5:
            out = model.get_video_features(pixels).last_hidden_state
        else:
            b, v, s = pixels.shape[:3]
            out = model.get_video_features(pixels.reshape(b * v * s, *pixels.shape[3:])).last_hidden_state
            out = out.reshape(b, v, s * out.shape[1], out.shape[2])
            if v == 1:
                out = out[:, 0]
        features.append(out.to(torch.float16).cpu())
        labels.append(batch["labels"])
    model.train(was_training)
    return torch.cat(features), torch.cat(labels)


def _cached_features(model, dataset, cache_dir: Path, key_extra: dict[str, Any], data_args: DataArguments,
                     num_views: int, description: str, progress: bool) -> tuple[CachedFeatureDataset, float]:
    from safetensors.torch import load_file, save_file

    key = _fingerprint(model, dataset, key_extra)
    path = cache_dir / f"{description}-{key}.safetensors"
    start = time.perf_counter()
    if path.is_file():
        stored = load_file(str(path))
        logger.info(f"reusing cached features {path}")
        return CachedFeatureDataset(stored["features"], stored["labels"]), 0.0
    features, labels = encode_dataset(
        model, dataset, data_args.feature_batch_size, data_args.num_segments, num_views, f"encode {description}",
        progress,
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".rank{int(os.environ.get('RANK', '0') or 0)}.tmp")  # ranks of other nodes may write too
    save_file({"features": features.contiguous(), "labels": labels.contiguous()}, str(tmp))
    os.replace(tmp, path)
    return CachedFeatureDataset(features, labels), time.perf_counter() - start


# --------------------------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------------------------


def make_compute_metrics(num_labels: int):
    """`compute_metrics` for the Trainer: `accuracy`, `top5_accuracy` (k capped at the number of classes) and
    `class_mean_recall@5`, from the shipped `evaluate` modules."""
    from .metrics import load_metric

    top_k = load_metric("top_k_accuracy")
    recall = load_metric("class_mean_recall")
    k = min(5, num_labels)

    def compute_metrics(eval_prediction) -> dict[str, float]:
        logits = eval_prediction.predictions
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        labels = eval_prediction.label_ids
        out = top_k.compute(predictions=logits, references=labels, k=[1, 5] if k == 5 else [1, k])
        out.update(recall.compute(predictions=logits, references=labels, k=k))
        return out

    return compute_metrics


def _logits_only(logits, labels):
    return logits[0] if isinstance(logits, (tuple, list)) else logits


# --------------------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------------------


def default_training_arguments(output_dir: str, **overrides: Any) -> TrainingArguments:
    """The probe recipe as `TrainingArguments`: AdamW, lr 1e-3, weight decay 0.01, cosine to 0 without warmup (the
    official probe schedule), evaluation every epoch, no intermediate checkpoints, no external loggers."""
    values = dict(
        output_dir=output_dir,
        num_train_epochs=20,
        learning_rate=1e-3,
        weight_decay=0.01,
        lr_scheduler_type="cosine",
        warmup_steps=0,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=32,
        eval_strategy="epoch",
        logging_strategy="epoch",
        save_strategy="no",
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        seed=0,
    )
    values.update(overrides)
    # DeepSpeed / FSDP / a launcher precision refused; several CPU processes join a gloo group
    return TrainingArguments(**trainer_launch_arguments("probe", values))


class _ProbeTrainer(Trainer):
    """`Trainer` whose resume reads the checkpoint's weights in the model's own layout (fused ``qkv``), strictly:
    the stock loader (``load_state_dict(strict=False)``) would skip the split ``query``/``key``/``value`` weights
    that `save_pretrained` writes and silently keep the backbone the run started from."""

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        from safetensors.torch import load_file

        from ..encoder.convert_vjepa2_checkpoint import fuse_qkv

        weights = Path(resume_from_checkpoint) / "model.safetensors"
        target = self.model if model is None else model
        if not weights.is_file() or (Path(resume_from_checkpoint) / "adapter_config.json").is_file():
            return super()._load_from_checkpoint(resume_from_checkpoint, model)  # LoRA adapters, sharded weights
        target.load_state_dict(fuse_qkv(load_file(str(weights))), strict=True)


class _EpochSetter(TrainerCallback):
    """New clip positions / augmentations every epoch (`VideoClipDataset.set_epoch`)."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(int(state.epoch or 0))


def _check_probe_arguments(model_args: ModelArguments, data_args: DataArguments) -> None:
    if model_args.lora_rank and model_args.cache_features:
        raise ValueError("`cache_features` needs a frozen backbone; it cannot be combined with `lora_rank` > 0")
    if model_args.cache_features and not model_args.freeze_backbone:
        raise ValueError("`cache_features` needs a frozen backbone; drop --no-freeze-backbone or --cache-features")
    if model_args.cache_features and data_args.augment:
        raise ValueError("`augment` has no effect on cached features: pass one of --augment and --cache-features")
    if data_args.num_segments < 1 or data_args.num_views < 1:
        raise ValueError(
            f"`num_segments` and `num_views` must be >= 1, got {data_args.num_segments} and {data_args.num_views}"
        )
    if data_args.frames_per_clip is not None and data_args.frames_per_clip < 1:
        raise ValueError(f"`frames_per_clip` must be >= 1 (or absent: the model's), got {data_args.frames_per_clip}")


def _check_training_arguments(training_args: TrainingArguments) -> None:
    """The Trainer runs zero steps on these and saves an untrained probe: refuse them before anything is built."""
    if not training_args.num_train_epochs > 0 and training_args.max_steps <= 0:
        raise ValueError(f"`num_train_epochs` must be > 0 (or `max_steps` >= 1), got {training_args.num_train_epochs}")
    if not training_args.learning_rate >= 0:
        raise ValueError(f"`learning_rate` must be >= 0, got {training_args.learning_rate}")
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
        if getattr(training_args, name) < 1:
            raise ValueError(f"`{name}` must be >= 1, got {getattr(training_args, name)}")


@dataclass
class _ProbeData:
    """What the Trainer of a probe run reads: datasets (clips or cached features), collators, the processor."""

    processor: Any
    frames: int
    train_set: Any  # the clip dataset (its epoch moves the random clip positions)
    train_dataset: Any
    eval_dataset: Any
    collator: Any = None
    eval_collator: Any = None
    feature_seconds: float = 0.0


def _build_probe_data(model_probe, model_args: ModelArguments, data_args: DataArguments,
                      training_args: TrainingArguments, train_data, eval_data, progress: bool) -> _ProbeData:
    """Clip datasets with the processor (multi-view at evaluation), or the frozen backbone's cached features."""
    from ..encoder.configuration_vjepa2 import clip_num_frames
    from ..video.sampling import ClipSampler
    from ..video.transforms import VideoTrainTransform
    from ..video.video_datasets import VideoClipDataset
    from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor

    config = model_probe.config
    frames = clip_num_frames(config, data_args.frames_per_clip or None)
    config.num_frames = frames
    crop = int(data_args.crop_size or config.crop_size)
    config.crop_size = crop  # the saved classifier records the resolution it was trained at
    processor = VJEPA2VideoProcessor(crop_size=crop, do_resize=data_args.do_resize, num_frames=frames)
    eval_transform = processor.view_transform(data_args.num_views)
    train_transform = processor
    if data_args.augment:
        train_transform = VideoTrainTransform(crop, random_resize_scale=(0.3, 1.0), random_horizontal_flip=False)
    sampling = dict(frames_per_clip=frames, frame_step=data_args.frame_step, num_clips=data_args.num_segments,
                    allow_clip_overlap=True)
    seed = training_args.seed
    train_set = VideoClipDataset(train_data, train_transform, ClipSampler(random_clip_sampling=True, **sampling), seed=seed)
    # Deviation: the official eval draws a random clip position even at validation; ours is deterministic.
    eval_set = VideoClipDataset(
        eval_data, eval_transform, ClipSampler(random_clip_sampling=False, **sampling), seed=seed, on_error="raise",
    )
    if not model_args.cache_features:
        return _ProbeData(processor, frames, train_set, train_set, eval_set,
                          collator=MultiViewCollator(data_args.num_segments, 1),
                          eval_collator=MultiViewCollator(data_args.num_segments, data_args.num_views))
    model_probe.to(training_args.device)
    cache_dir = _feature_cache_dir(model_args, training_args)
    key = {"crop": crop, "resize": data_args.do_resize, **sampling, "views": data_args.num_views}
    # training features without random clip positions: the cache is a fixed set
    fixed_train = VideoClipDataset(
        train_data, processor, ClipSampler(random_clip_sampling=False, **sampling), seed=seed, on_error="raise",
    )
    # rank 0 encodes and writes the cache while the other ranks wait, then they read it (once on a shared filesystem)
    with training_args.main_process_first(local=False, desc="feature cache"):
        train_dataset, t_train = _cached_features(model_probe, fixed_train, cache_dir, key, data_args, 1, "train",
                                                  progress)
        eval_dataset, t_eval = _cached_features(model_probe, eval_set, cache_dir, key, data_args,
                                                data_args.num_views, "eval", progress)
    return _ProbeData(processor, frames, train_set, train_dataset, eval_dataset, feature_seconds=t_train + t_eval)


def _feature_cache_dir(model_args: ModelArguments, training_args: TrainingArguments) -> Path:
    """`feature_cache_dir` (kept), else `<output_dir>/feature_cache` (removed by `_remove_run_cache`)."""
    if model_args.feature_cache_dir:
        return Path(model_args.feature_cache_dir)
    return Path(training_args.output_dir) / "feature_cache"


def _remove_run_cache(model_args: ModelArguments, training_args: TrainingArguments, trainer) -> None:
    """The default cache lives in the output folder only while the run needs it (every process is done with it)."""
    if not model_args.cache_features or model_args.feature_cache_dir:
        return
    trainer.accelerator.wait_for_everyone()
    if training_args.should_save:
        shutil.rmtree(_feature_cache_dir(model_args, training_args), ignore_errors=True)


def _card_values(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments,
                 metrics: dict[str, float], frames: int, num_train: int, num_eval: int,
                 data_description: str | None) -> dict[str, Any]:
    return dict(
        base_model=model_args.model,
        dataset=data_args.data,
        dataset_description=data_description or data_args.data,
        metrics=metrics,
        num_train=num_train,
        num_eval=num_eval,
        model_path=model_args.push_to_hub_repo,
        training={
            "epochs": training_args.num_train_epochs,
            "learning_rate": training_args.learning_rate,
            "weight_decay": training_args.weight_decay,
            "batch_size": training_args.per_device_train_batch_size,
            "scheduler": str(training_args.lr_scheduler_type),
            "frozen_backbone": model_args.freeze_backbone,
            "lora_rank": model_args.lora_rank,
            "cached_features": model_args.cache_features,
            "frames_per_clip": frames,
            "frame_step": data_args.frame_step,
            "segments_x_views": f"{data_args.num_segments}x{data_args.num_views}",
            "bf16": bool(training_args.bf16),
        },
    )


def _save_probe_folder(output_dir: Path, model_probe, processor, model_args: ModelArguments, data_args: DataArguments,
                       training_args: TrainingArguments, metrics: dict[str, float], card_values: dict[str, Any],
                       card_note: str) -> None:
    """Weights, processor, metrics, arguments and model card; the transformers export and the Hub push if asked."""
    from .model_card import write_video_classification_card

    model_probe.save_pretrained(str(output_dir))
    processor.save_pretrained(str(output_dir))
    with open(output_dir / "all_results.json", "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
    with open(output_dir / "training_args.json", "w") as f:
        json.dump(
            {"model": dataclasses.asdict(model_args), "data": dataclasses.asdict(data_args),
             "training": training_args.to_dict()},
            f, indent=2, default=str,
        )
    write_video_classification_card(output_dir, model_probe, backbone_note=card_note, **card_values)
    if model_args.export_transformers:
        from .export import export_classifier_to_transformers

        export_dir = export_classifier_to_transformers(model_probe, output_dir / "transformers", processor=processor)
        note = (
            "This folder is in transformers' own format (`model_type: vjepa2`): "
            "`transformers.AutoModelForVideoClassification.from_pretrained` loads it without vjepa2-hf. "
            + card_note
        )
        write_video_classification_card(export_dir, model_probe, backbone_note=note, **card_values)
    if model_args.push_to_hub_repo:
        from .hub import push_folder_to_hub

        folder = output_dir / "transformers" if model_args.export_transformers else output_dir
        push_folder_to_hub(folder, model_args.push_to_hub_repo)


class _BarWithoutLogLines(ProgressCallback):
    """The Trainer's progress bar without the `{'loss': ...}` lines it prints on every log."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        return None


def _launchable_training_arguments(training_args: TrainingArguments) -> TrainingArguments:
    """Checked values; DeepSpeed / FSDP / a contradicting launcher precision refused; several CPU processes under a
    launcher run as one gloo group (`use_cpu`), else each rank would train alone."""
    _check_training_arguments(training_args)
    check_trainer_launch("probe", vars(training_args))
    if needs_cpu_processes() and not training_args.use_cpu:
        training_args = dataclasses.replace(training_args, use_cpu=True)
    return training_args


def run_probe(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: TrainingArguments,
    *,
    progress: bool = True,
    data_description: str | None = None,
    card_note: str = "",
    quiet_logs: bool = False,
) -> ProbeRunResult:
    """Train and evaluate a probe, save the model folder (weights, processor, model card, metrics).

    Args:
        model_args, data_args, training_args: see the dataclasses (`default_training_arguments` gives the recipe).
        progress: tqdm bars (feature caching, Trainer).
        data_description: one line about the data for the model card (default: `data_args.data`).
        card_note: an extra sentence for the model card.
        quiet_logs: keep the Trainer's progress bar but do not print its `{'loss': ...}` log lines.

    Returns:
        [`ProbeRunResult`].
    """
    _check_probe_arguments(model_args, data_args)
    training_args = _launchable_training_arguments(training_args)
    resume = resolve_trainer_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    start = time.perf_counter()
    train_data, eval_data, id2label = load_video_splits(data_args, seed=training_args.seed)
    model_probe = build_probe_model(model_args, id2label, num_frames=data_args.frames_per_clip)
    data = _build_probe_data(model_probe, model_args, data_args, training_args, train_data, eval_data, progress)
    model = _apply_lora(model_probe, model_args) if model_args.lora_rank else model_probe
    training_args.disable_tqdm = training_args.disable_tqdm or not progress
    trainer = _ProbeTrainer(
        model=model,
        args=training_args,
        train_dataset=data.train_dataset,
        eval_dataset=data.eval_dataset,
        data_collator=data.collator,
        compute_metrics=make_compute_metrics(len(id2label)),
        preprocess_logits_for_metrics=_logits_only,
        callbacks=[_EpochSetter(data.train_set)] if not model_args.cache_features else None,
    )
    if quiet_logs and progress:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(_BarWithoutLogLines)
    if not progress:  # without bars the Trainer prints every log dict instead (PrinterCallback): quiet means neither
        trainer.remove_callback(PrinterCallback)
    if data.collator is not None and data_args.num_views > 1:
        # training reads one view; evaluation all of them
        trainer.get_eval_dataloader = _eval_loader_with(trainer, data.eval_collator)
    train_output = trainer.train(resume_from_checkpoint=resume)
    eval_metrics = trainer.evaluate()
    if model_args.lora_rank:
        model_probe = model.merge_and_unload()
    model_probe.eval()

    metrics = {k: float(v) for k, v in eval_metrics.items() if isinstance(v, (int, float))}
    metrics.update({k: float(v) for k, v in train_output.metrics.items() if isinstance(v, (int, float))})
    metrics["feature_seconds"] = data.feature_seconds
    metrics["total_seconds"] = time.perf_counter() - start
    metrics["chance_accuracy"] = 1.0 / len(id2label)
    output_dir = Path(training_args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if training_args.should_save:
        card_values = _card_values(model_args, data_args, training_args, metrics, data.frames, len(train_data),
                                   len(eval_data), data_description)
        _save_probe_folder(output_dir, model_probe, data.processor, model_args, data_args, training_args, metrics,
                           card_values, card_note)
    _remove_run_cache(model_args, training_args, trainer)
    return ProbeRunResult(
        output_dir=str(output_dir),
        metrics=metrics,
        log_history=list(trainer.state.log_history),
        model=model_probe,
        processor=data.processor,
        id2label=id2label,
        num_train=len(train_data),
        num_eval=len(eval_data),
    )


def _eval_loader_with(trainer: Trainer, collator):
    original = trainer.get_eval_dataloader

    def get_eval_dataloader(eval_dataset=None):
        saved = trainer.data_collator
        trainer.data_collator = collator
        try:
            return original(eval_dataset)
        finally:
            trainer.data_collator = saved

    return get_eval_dataloader


# --------------------------------------------------------------------------------------------------------------
# arguments from a mapping or a config file (the command line itself is `vjepa2_hf.commands.probe`)
# --------------------------------------------------------------------------------------------------------------


def probe_arguments_from_values(values: dict[str, Any]) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """The three argument dataclasses from one flat mapping of their fields (a config file, or the parsed command
    line). Training arguments not given take the probe recipe of `default_training_arguments` (not the Trainer's
    defaults); without `output_dir` the output goes to `outputs/probe`.

    Raises:
        ValueError: a key is not a field of any of the three.
    """
    if not isinstance(values, dict):
        raise ValueError(f"probe arguments must be a mapping of option names to values, got {type(values).__name__}")
    names = lambda cls: {f.name for f in dataclasses.fields(cls) if f.init}  # noqa: E731
    known = names(ModelArguments) | names(DataArguments) | names(TrainingArguments)
    unknown = sorted(set(values) - known, key=str)
    if unknown:
        import difflib

        close = difflib.get_close_matches(str(unknown[0]), sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown probe arguments: {unknown}{hint}")
    model_args = ModelArguments(**{k: v for k, v in values.items() if k in names(ModelArguments)})
    data_args = DataArguments(**{k: v for k, v in values.items() if k in names(DataArguments)})
    training = {k: v for k, v in values.items() if k in names(TrainingArguments)}
    output_dir = training.pop("output_dir", "outputs/probe")
    return model_args, data_args, default_training_arguments(output_dir, **training)


def load_probe_arguments(path: str | os.PathLike) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """The three argument dataclasses from a `.json` or `.yaml` file holding their fields."""
    from ..recipe_yaml import load_recipe_yaml

    path = Path(path)
    if path.suffix == ".json":
        return probe_arguments_from_values(json.loads(path.read_text()))
    if path.suffix in (".yaml", ".yml"):
        values = load_recipe_yaml(path.read_text())
        if values is None:
            raise ValueError(f"probe config {str(path)!r} is empty")
        return probe_arguments_from_values(values)
    raise ValueError(f"a probe config file must be .json, .yaml or .yml, got {str(path)!r}")
