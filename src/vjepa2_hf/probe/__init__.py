"""Frozen-backbone evaluation of V-JEPA 2: the attentive probe, video classification, action anticipation, probing
with the Trainer, the video-classification pipeline, model cards, Hub upload and transformers-format export."""

from __future__ import annotations

import importlib
from typing import Any

from .attentive_pooler import (
    OFFICIAL_PROBE_LAYER_NORM_EPS,
    OFFICIAL_PROBE_NUM_HEADS,
    AttentiveClassifier,
    AttentiveProbeResult,
    VJEPA2AttentivePooler,
    evaluate_attentive_probe,
    train_attentive_probe,
)
from .convert_probe_checkpoint import convert_official_probe, internal_probe_to_official, official_probe_to_internal
from .modeling_anticipation import VJEPA2AnticipationOutput, VJEPA2ForActionAnticipation, sigmoid_focal_loss
from .modeling_probe import VJEPA2ForVideoClassification, VJEPA2VideoClassifierOutput

# heavier modules (Trainer, pipelines, Hub) load on first use
_LAZY = {
    "run_probe": "run_video_classification",
    "ModelArguments": "run_video_classification",
    "DataArguments": "run_video_classification",
    "ProbeRunResult": "run_video_classification",
    "default_training_arguments": "run_video_classification",
    "VJEPA2VideoClassificationPipeline": "pipeline_video_classification",
    "register_video_classification_pipeline": "pipeline_video_classification",
    "export_classifier_to_transformers": "export",
    "push_folder_to_hub": "hub",
    "write_video_classification_card": "model_card",
    "train_anticipation_probe": "anticipation_training",
}

__all__ = [
    "OFFICIAL_PROBE_LAYER_NORM_EPS",
    "OFFICIAL_PROBE_NUM_HEADS",
    "AttentiveClassifier",
    "AttentiveProbeResult",
    "VJEPA2AnticipationOutput",
    "VJEPA2AttentivePooler",
    "VJEPA2ForActionAnticipation",
    "VJEPA2ForVideoClassification",
    "VJEPA2VideoClassifierOutput",
    "convert_official_probe",
    "evaluate_attentive_probe",
    "internal_probe_to_official",
    "official_probe_to_internal",
    "register_probe_classes",
    "sigmoid_focal_loss",
    "train_attentive_probe",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_probe_classes() -> None:
    """Register `VJEPA2ForVideoClassification` with `AutoModelForVideoClassification` and install the PyAV-based
    `video-classification` pipeline (called by `vjepa2_hf.register_auto_classes`)."""
    from transformers import AutoModelForVideoClassification

    from ..encoder.configuration_vjepa2 import VJEPA2Config
    from .pipeline_video_classification import register_video_classification_pipeline

    AutoModelForVideoClassification.register(VJEPA2Config, VJEPA2ForVideoClassification, exist_ok=True)
    register_video_classification_pipeline()
