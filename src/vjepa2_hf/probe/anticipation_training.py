"""Training the EK100-style anticipation probe with the `Trainer` (frozen encoder and predictor, cached forecasts).

Data: records `{"video", "context_frames", "verb", "noun"}`; the observed clip is the first `context_frames` frames
(or `frames_per_clip` frames ending there), and the labels describe what happens *after* it. Action classes are the
`(verb, noun)` pairs present in the training records (official EK100 rule); held-out records whose pair never occurs
in training are dropped, and their number is reported.

The synthetic "anticipation" task of `vjepa2_hf.video.synthetic` provides such data with a known answer: a shape moves
in one direction for the first half of the clip, then turns by a rule that depends on its shape. From the first half
only, the next motion (verb = second direction, 8 classes), the object (noun = shape, 3 classes) and their pair
(action) are predictable.

Because encoder and predictor are frozen, `train_anticipation_probe` encodes every clip once
(`cat([context tokens, predicted tokens])`, `VJEPA2ForActionAnticipation.forecast`) and trains the probe on those
features; metrics: class-mean recall@5 (the EK100 metric) and top-1 accuracy of each head.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from transformers import Trainer, TrainingArguments
from transformers.utils import logging

from .modeling_anticipation import VJEPA2ForActionAnticipation

logger = logging.get_logger(__name__)

__all__ = [
    "AnticipationData",
    "AnticipationClipDataset",
    "anticipation_data_from_synthetic",
    "encode_anticipation_features",
    "make_anticipation_metrics",
    "train_anticipation_probe",
]

HEADS = ("verb", "noun", "action")


@dataclass
class AnticipationData:
    """Records and class vocabularies of an anticipation dataset.

    Attributes:
        train, eval: lists of `{"video": path, "context_frames": int, "verb": int, "noun": int, "action": int}`.
        verb_names, noun_names: class names.
        action_pairs: `(verb, noun)` of each action class (pairs seen in training, sorted).
        dropped_eval: held-out records dropped because their action never occurs in training.
    """

    train: list[dict[str, Any]]
    eval: list[dict[str, Any]]
    verb_names: list[str]
    noun_names: list[str]
    action_pairs: list[tuple[int, int]] = field(default_factory=list)
    dropped_eval: int = 0

    @classmethod
    def from_records(cls, train, eval, verb_names, noun_names) -> "AnticipationData":
        pairs = sorted({(r["verb"], r["noun"]) for r in train})
        index = {pair: i for i, pair in enumerate(pairs)}
        train = [dict(r, action=index[(r["verb"], r["noun"])]) for r in train]
        kept = [dict(r, action=index[(r["verb"], r["noun"])]) for r in eval if (r["verb"], r["noun"]) in index]
        return cls(train, kept, list(verb_names), list(noun_names), pairs, len(eval) - len(kept))

    def config_fields(self) -> dict[str, Any]:
        """Fields for the model's `VJEPA2Config` (class counts and names)."""
        return {
            "num_verbs": len(self.verb_names),
            "num_nouns": len(self.noun_names),
            "num_actions": len(self.action_pairs),
            "verb_id2label": dict(enumerate(self.verb_names)),
            "noun_id2label": dict(enumerate(self.noun_names)),
            "action_id2label": {
                i: f"{self.verb_names[v]} {self.noun_names[n]}" for i, (v, n) in enumerate(self.action_pairs)
            },
            "action_to_verb_noun": [list(p) for p in self.action_pairs],
        }


def anticipation_data_from_synthetic(path: str | os.PathLike) -> AnticipationData:
    """Records of a folder written by `generate_motion_dataset(..., task="anticipation")`: the context is the first
    `switch_frame` frames, verb = the direction after the turn, noun = the shape."""
    from ..video.synthetic import DIRECTION_NAMES, SHAPES, load_dataset_info

    info = load_dataset_info(path)
    if info.get("task") != "anticipation":
        raise ValueError(f"`path` must hold a synthetic 'anticipation' dataset, got task {info.get('task')!r} in {path}")
    rows = [json.loads(line) for line in open(os.path.join(path, "metadata.jsonl"), encoding="utf-8") if line.strip()]
    records: dict[str, list] = {"train": [], "test": []}
    for row in rows:
        records[row["split"]].append(
            {
                "video": os.path.join(os.fspath(path), row["path"]),
                "context_frames": int(row["switch_frame"]),
                "verb": int(row["second_direction"]),
                "noun": SHAPES.index(row["shape"]),
            }
        )
    return AnticipationData.from_records(records["train"], records["test"], DIRECTION_NAMES, SHAPES)


class AnticipationClipDataset(torch.utils.data.Dataset):
    """`dataset[i] = {"pixel_values_videos": [T, C, H, W], "verb_labels", "noun_labels", "action_labels"}`: the last
    `frames_per_clip` frames before `context_frames` (clamped at frame 0, as the official sampler clamps negative
    indices), processed by `processor`."""

    def __init__(self, records: Sequence[dict[str, Any]], processor, frames_per_clip: int, frame_step: int = 1) -> None:
        if not records:
            raise ValueError("`records` is empty")
        self.records = list(records)
        self.processor = processor
        self.frames_per_clip = int(frames_per_clip)
        self.frame_step = int(frame_step)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from ..video.decoding import VideoReader

        record = self.records[index]
        end = int(record["context_frames"])
        indices = np.clip(end - self.frame_step * np.arange(self.frames_per_clip, 0, -1), 0, None)
        with VideoReader(record["video"]) as reader:
            frames = reader.get_frames(indices)
        pixels = self.processor(frames, return_tensors="pt")["pixel_values_videos"][0]
        return {
            "pixel_values_videos": pixels,
            "verb_labels": int(record["verb"]),
            "noun_labels": int(record["noun"]),
            "action_labels": int(record["action"]),
        }


class _FeatureDataset(torch.utils.data.Dataset):
    def __init__(self, features: torch.Tensor, labels: dict[str, torch.Tensor]) -> None:
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {"encoder_hidden_states": self.features[index].float()}
        item.update({f"{h}_labels": int(self.labels[h][index]) for h in HEADS})
        return item


@torch.no_grad()
def encode_anticipation_features(
    model: VJEPA2ForActionAnticipation,
    dataset: AnticipationClipDataset,
    anticipation_steps: int = 0,
    batch_size: int = 16,
    progress: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """`cat([context, predicted], 1)` of every clip (float16) and the three label tensors."""
    from tqdm.auto import tqdm

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    device = next(model.parameters()).device
    features, labels = [], {h: [] for h in HEADS}
    for batch in tqdm(loader, desc="forecast", disable=not progress, leave=False):
        context, predicted = model.forecast(batch["pixel_values_videos"].to(device), anticipation_steps)
        features.append(torch.cat([context, predicted], dim=1).to(torch.float16).cpu())
        for head in HEADS:
            labels[head].append(batch[f"{head}_labels"])
    return torch.cat(features), {h: torch.cat(v) for h, v in labels.items()}


def make_anticipation_metrics(num_classes: dict[str, int], k: int = 5):
    """`compute_metrics`: `{head}_class_mean_recall@k` (k capped at the head's classes) and `{head}_accuracy`."""
    from .metrics import load_metric

    recall = load_metric("class_mean_recall")
    top_k = load_metric("top_k_accuracy")

    def compute_metrics(eval_prediction) -> dict[str, float]:
        logits = eval_prediction.predictions
        labels = eval_prediction.label_ids
        out = {}
        for i, head in enumerate(HEADS):
            kk = min(k, num_classes[head])
            out.update({f"{head}_{name}": v for name, v in
                        recall.compute(predictions=logits[i], references=labels[i], k=kk).items()})
            out[f"{head}_accuracy"] = top_k.compute(predictions=logits[i], references=labels[i], k=1)["accuracy"]
        return out

    return compute_metrics


def _three_logits(outputs, labels):
    return tuple(outputs[:3]) if isinstance(outputs, (tuple, list)) else outputs


def train_anticipation_probe(
    model: VJEPA2ForActionAnticipation,
    data: AnticipationData,
    processor,
    training_args: TrainingArguments,
    *,
    frames_per_clip: int | None = None,
    anticipation_steps: int = 0,
    progress: bool = True,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Train the 3-query probe of `model` on cached forecasts; returns `(final eval metrics, log history)`.

    `training_args` should set `remove_unused_columns=False` (as `default_training_arguments` does); the label names
    are set here (`verb_labels`, `noun_labels`, `action_labels`).
    """
    from ..encoder.configuration_vjepa2 import clip_num_frames

    frames = clip_num_frames(model.config, frames_per_clip or None)
    if data.dropped_eval:
        logger.warning(f"{data.dropped_eval} held-out clips have an action never seen in training: dropped (EK100 rule)")
    model.to(training_args.device)
    sets = {}
    for split, records in (("train", data.train), ("eval", data.eval)):
        clips = AnticipationClipDataset(records, processor, frames)
        features, labels = encode_anticipation_features(model, clips, anticipation_steps, progress=progress)
        sets[split] = _FeatureDataset(features, labels)
    training_args.label_names = [f"{h}_labels" for h in HEADS]
    training_args.remove_unused_columns = False
    training_args.disable_tqdm = training_args.disable_tqdm or not progress
    num_classes = {"verb": model.config.num_verbs, "noun": model.config.num_nouns, "action": model.config.num_actions}
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=sets["train"],
        eval_dataset=sets["eval"],
        compute_metrics=make_anticipation_metrics(num_classes),
        preprocess_logits_for_metrics=_three_logits,
    )
    train_output = trainer.train()
    metrics = {k: float(v) for k, v in trainer.evaluate().items() if isinstance(v, (int, float))}
    metrics.update({k: float(v) for k, v in train_output.metrics.items() if isinstance(v, (int, float))})
    metrics["dropped_eval"] = float(data.dropped_eval)
    model.eval()
    return metrics, list(trainer.state.log_history)
