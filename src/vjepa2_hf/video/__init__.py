"""Video input for V-JEPA 2: decoding (PyAV), official clip sampling, the video processor and training transform,
`datasets` integration, weighted mixing, tar-shard streaming, and the synthetic moving-shapes datasets."""

from ..lazy_imports import attach

# submodules are imported on first use of one of their names
_SUBMODULES = {
    "bad_files": ['BadFileHandler', 'TooManyBadFilesError'],
    "decoding": ['VideoDecodeError', 'VideoMetadata', 'VideoReader', 'get_video_metadata', 'read_video'],
    "encoding": ['write_video'],
    "mixing": ['WeightedMixDataset', 'WeightedMixSampler'],
    "sampling": ['ClipSampler', 'VideoTooShortError', 'load_clips', 'sample_clip_indices'],
    "streaming": ['VideoShardStream', 'write_video_shards'],
    "synthetic": ['generate_motion_dataset', 'render_motion_clip', 'sample_motion_spec'],
    "transforms": ['MultiViewEvalTransform', 'VideoTrainTransform'],
    "video_datasets": ['VideoClipDataset', 'VideoClipTransform', 'VideoCollator', 'dataset_from_csv', 'dataset_from_folder', 'dataset_from_synthetic', 'load_video_sample', 'prepare_video_column'],
    "video_processing_vjepa2": ['VJEPA2VideoProcessor'],
}

__getattr__, __dir__ = attach(__name__, _SUBMODULES)

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
