"""Video input for V-JEPA 2: decoding (PyAV), official clip sampling, the video processor and training transform,
`datasets` integration, weighted mixing, tar-shard streaming, and the synthetic moving-shapes datasets."""

from .bad_files import BadFileHandler, TooManyBadFilesError
from .decoding import VideoDecodeError, VideoMetadata, VideoReader, get_video_metadata, read_video
from .encoding import write_video
from .mixing import WeightedMixDataset, WeightedMixSampler
from .sampling import ClipSampler, VideoTooShortError, load_clips, sample_clip_indices
from .streaming import VideoShardStream, write_video_shards
from .synthetic import generate_motion_dataset, render_motion_clip, sample_motion_spec
from .transforms import MultiViewEvalTransform, VideoTrainTransform
from .video_datasets import (
    VideoClipDataset,
    VideoClipTransform,
    VideoCollator,
    dataset_from_csv,
    dataset_from_folder,
    dataset_from_synthetic,
    load_video_sample,
    prepare_video_column,
)
from .video_processing_vjepa2 import VJEPA2VideoProcessor

__all__ = [
    "BadFileHandler",
    "ClipSampler",
    "MultiViewEvalTransform",
    "TooManyBadFilesError",
    "VJEPA2VideoProcessor",
    "VideoClipDataset",
    "VideoClipTransform",
    "VideoCollator",
    "VideoDecodeError",
    "VideoMetadata",
    "VideoReader",
    "VideoShardStream",
    "VideoTooShortError",
    "VideoTrainTransform",
    "WeightedMixDataset",
    "WeightedMixSampler",
    "dataset_from_csv",
    "dataset_from_folder",
    "dataset_from_synthetic",
    "generate_motion_dataset",
    "get_video_metadata",
    "load_clips",
    "load_video_sample",
    "prepare_video_column",
    "read_video",
    "render_motion_clip",
    "sample_clip_indices",
    "sample_motion_spec",
    "write_video",
    "write_video_shards",
]
