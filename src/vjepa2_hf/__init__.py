"""vjepa2-hf: V-JEPA 2 as first-class Hugging Face transformers models."""

from .auto_registration import register_auto_classes
from .encoder import (
    HUB_REPOS,
    VJEPA2Config,
    VJEPA2EncoderOutput,
    VJEPA2Model,
    VJEPA2ModelOutput,
    VJEPA2PredictorOutput,
    VJEPA2PreTrainedModel,
    VJEPA2VisionModel,
    convert_official_checkpoint,
    export_to_official,
    export_to_transformers,
)

from .video import (
    ClipSampler,
    MultiViewEvalTransform,
    VideoClipDataset,
    VideoClipTransform,
    VideoCollator,
    VideoReader,
    VideoShardStream,
    VideoTrainTransform,
    VJEPA2VideoProcessor,
    WeightedMixDataset,
    WeightedMixSampler,
    dataset_from_csv,
    dataset_from_folder,
    dataset_from_synthetic,
    generate_motion_dataset,
    read_video,
    render_motion_clip,
    write_video_shards,
)

__version__ = "0.1.0"

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
]
