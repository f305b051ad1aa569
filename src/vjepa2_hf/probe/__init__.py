"""Frozen-backbone evaluation of V-JEPA 2: the attentive probe, video classification, action anticipation, probing
with the Trainer, the video-classification pipeline, model cards, Hub upload and transformers-format export."""

from __future__ import annotations

from ..lazy_imports import attach

# submodules (the Trainer, pipelines and the Hub included) are imported on first use of one of their names
_SUBMODULES = {
    "attentive_pooler": [
        "OFFICIAL_PROBE_LAYER_NORM_EPS", "OFFICIAL_PROBE_NUM_HEADS", "AttentiveClassifier", "AttentiveProbeResult",
        "VJEPA2AttentivePooler", "evaluate_attentive_probe", "train_attentive_probe",
    ],
    "convert_probe_checkpoint": ["convert_official_probe", "internal_probe_to_official", "official_probe_to_internal"],
    "modeling_anticipation": ["VJEPA2AnticipationOutput", "VJEPA2ForActionAnticipation", "sigmoid_focal_loss"],
    "modeling_probe": ["VJEPA2ForVideoClassification", "VJEPA2VideoClassifierOutput"],
    "run_video_classification": [
        "run_probe", "ModelArguments", "DataArguments", "ProbeRunResult", "default_training_arguments",
    ],
    "pipeline_video_classification": [
        "VJEPA2VideoClassificationPipeline", "VideoClassificationTaskPipeline", "register_video_classification_pipeline",
    ],
    "export": ["export_classifier_to_transformers"],
    "hub": ["push_folder_to_hub"],
    "model_card": ["write_video_classification_card"],
    "anticipation_training": ["train_anticipation_probe"],
}
_LAZY = [name for module in list(_SUBMODULES)[4:] for name in _SUBMODULES[module]]

__getattr__, __dir__ = attach(__name__, _SUBMODULES)

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


def register_probe_classes() -> None:
    """Deprecated: `import vjepa2_hf` registers `VJEPA2ForVideoClassification` with
    `AutoModelForVideoClassification` and the `video-classification` task, like every capability's classes (see
    `vjepa2_hf.auto_registration`)."""
    import warnings

    from ..auto_registration import register_auto_classes

    warnings.warn("register_probe_classes() is deprecated: `import vjepa2_hf` registers the probe's classes",
                  FutureWarning, stacklevel=2)
    register_auto_classes()
