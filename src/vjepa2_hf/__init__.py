"""vjepa2-hf: V-JEPA 2 as first-class Hugging Face transformers models."""

from .auto_registration import register_auto_classes
from .lazy_imports import attach

# Capabilities are imported on first use of one of their names (`import vjepa2_hf` imports neither torch's heavy
# parts nor transformers' Auto classes); `register_auto_classes` registers with transformers when those load.
_SUBMODULES = {
    "encoder": ['HUB_REPOS', 'VJEPA2Config', 'VJEPA2EncoderOutput', 'VJEPA2Model', 'VJEPA2ModelOutput', 'VJEPA2PreTrainedModel', 'VJEPA2PredictorOutput', 'VJEPA2VisionModel', 'convert_official_checkpoint', 'export_to_official', 'export_to_transformers'],
    "feature_extraction": ['EmbeddingJobResult', 'embed_videos'],
    "pretraining": ['MultiBlockMaskCollator', 'MultiBlockMaskGenerator', 'PretrainingConfig', 'VJEPA2ForPretraining', 'VJEPA2PretrainingOutput', 'load_pretraining_config', 'pretrain'],
    "probe": ['AttentiveClassifier', 'VJEPA2AnticipationOutput', 'VJEPA2AttentivePooler', 'VJEPA2ForActionAnticipation', 'VJEPA2ForVideoClassification', 'VJEPA2VideoClassifierOutput', 'convert_official_probe', 'train_attentive_probe'],
    "probe.pipeline_video_classification": ['VJEPA2VideoClassificationPipeline'],
    "video": ['ClipSampler', 'MultiViewEvalTransform', 'VJEPA2VideoProcessor', 'VideoClipDataset', 'VideoClipTransform', 'VideoCollator', 'VideoReader', 'VideoShardStream', 'VideoTrainTransform', 'WeightedMixDataset', 'WeightedMixSampler', 'dataset_from_csv', 'dataset_from_folder', 'dataset_from_synthetic', 'generate_motion_dataset', 'read_video', 'render_motion_clip', 'write_video_shards'],
    "world_model": ['ReachEnv', 'VJEPA2ACConfig', 'VJEPA2ACPolicy', 'VJEPA2ACPolicyConfig', 'VJEPA2ACPredictor', 'VJEPA2WorldModel', 'cem', 'convert_vjepa2_ac_checkpoint', 'official_cem'],
    "vlm": ['VJEPA2VLMConfig', 'VJEPA2VLMForConditionalGeneration', 'VJEPA2VLMProcessor', 'VLM_PRESETS', 'VideoTextToTextPipeline', 'add_placeholder_tokens', 'assemble_vlm', 'evaluate_benchmark_file', 'load_qa_records', 'predict_multiple_choice', 'vlm_config_from_preset'],
}

__getattr__, __dir__ = attach(__name__, _SUBMODULES)

from ._version import __version__  # noqa: E402

register_auto_classes()

__all__ = [
    "HUB_REPOS",
    "VJEPA2Config",
    "VJEPA2EncoderOutput",
    "VJEPA2Model",
    "VJEPA2ModelOutput",
    "VJEPA2PredictorOutput",
    "VJEPA2PreTrainedModel",
    "VJEPA2VisionModel",
    "convert_official_checkpoint",
    "export_to_official",
    "export_to_transformers",
    "EmbeddingJobResult",
    "embed_videos",
    "ClipSampler",
    "MultiViewEvalTransform",
    "VideoClipDataset",
    "VideoClipTransform",
    "VideoCollator",
    "VideoReader",
    "VideoShardStream",
    "VideoTrainTransform",
    "VJEPA2VideoProcessor",
    "WeightedMixDataset",
    "WeightedMixSampler",
    "dataset_from_csv",
    "dataset_from_folder",
    "dataset_from_synthetic",
    "generate_motion_dataset",
    "read_video",
    "render_motion_clip",
    "write_video_shards",
    "MultiBlockMaskCollator",
    "MultiBlockMaskGenerator",
    "PretrainingConfig",
    "VJEPA2ForPretraining",
    "VJEPA2PretrainingOutput",
    "load_pretraining_config",
    "pretrain",
    "AttentiveClassifier",
    "VJEPA2AnticipationOutput",
    "VJEPA2AttentivePooler",
    "VJEPA2ForActionAnticipation",
    "VJEPA2ForVideoClassification",
    "VJEPA2VideoClassifierOutput",
    "convert_official_probe",
    "train_attentive_probe",
    "VJEPA2VideoClassificationPipeline",
    "VLM_PRESETS",
    "VJEPA2VLMConfig",
    "VJEPA2VLMForConditionalGeneration",
    "VJEPA2VLMProcessor",
    "VideoTextToTextPipeline",
    "add_placeholder_tokens",
    "assemble_vlm",
    "evaluate_benchmark_file",
    "load_qa_records",
    "predict_multiple_choice",
    "vlm_config_from_preset",
    "ReachEnv",
    "VJEPA2ACConfig",
    "VJEPA2ACPolicy",
    "VJEPA2ACPolicyConfig",
    "VJEPA2ACPredictor",
    "VJEPA2WorldModel",
    "cem",
    "convert_vjepa2_ac_checkpoint",
    "official_cem",
]
