"""Feature extraction at corpus scale: `embed_videos` writes V-JEPA 2 embeddings of a video corpus to Parquet shards
(resumable, split over `torchrun` / `accelerate launch` processes, bad files reported and skipped)."""

from .clip_dataset import ClipSampling, VideoClipItems
from .embed_job import BadVideoError, EmbeddingJobResult, TooManyBadInputsError, embed_videos
from .encoder_loading import load_encoder_and_processor
from .inputs import EmbeddingInputs, list_embedding_inputs

__all__ = [
    "BadVideoError",
    "ClipSampling",
    "EmbeddingInputs",
    "EmbeddingJobResult",
    "TooManyBadInputsError",
    "VideoClipItems",
    "embed_videos",
    "list_embedding_inputs",
    "load_encoder_and_processor",
]
