"""V-JEPA 2 video-language model: encoder + projector + any causal LLM, for video question answering.

Importing this package registers, in-process:

* `AutoConfig` model type `"vjepa2_vlm"` -> [`VJEPA2VLMConfig`];
* `AutoModelForImageTextToText` -> [`VJEPA2VLMForConditionalGeneration`] (not `AutoModelForCausalLM`: the model
  needs pixels next to the text);
* `AutoProcessor` -> [`VJEPA2VLMProcessor`];
* the pipeline task `"video-text-to-text"` -> [`VideoTextToTextPipeline`].
"""

from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_vjepa2_vlm import VJEPA2VLMConfig
from .evaluation import (
    BENCHMARK_METRICS,
    accuracy,
    evaluate_benchmark_file,
    evaluate_records,
    multi_binary_accuracy,
    paired_accuracy,
    score_predictions,
)
from .modeling_vjepa2_vlm import (
    VJEPA2VLMCausalLMOutputWithPast,
    VJEPA2VLMForConditionalGeneration,
    VJEPA2VLMPreTrainedModel,
    add_placeholder_tokens,
)
from .pipeline_video_text_to_text import VideoTextToTextPipeline
from .presets import VLM_PRESETS, assemble_vlm, count_parameters, memory_requirements, vlm_config_from_preset
from .processing_vjepa2_vlm import VJEPA2VLMProcessor, sample_frame_indices
from .projectors import build_projector
from .qa_datasets import VideoQACollator, VideoQADataset, VideoQARecord, load_qa_records, write_qa_records
from .scoring import build_messages, format_mc_question, parse_mc_answer, predict_multiple_choice
from .tiny import build_word_tokenizer, tiny_vlm_config

AutoConfig.register(VJEPA2VLMConfig.model_type, VJEPA2VLMConfig, exist_ok=True)
AutoModelForImageTextToText.register(VJEPA2VLMConfig, VJEPA2VLMForConditionalGeneration, exist_ok=True)
AutoProcessor.register(VJEPA2VLMConfig, VJEPA2VLMProcessor, exist_ok=True)
PIPELINE_REGISTRY.register_pipeline(
    "video-text-to-text",
    pipeline_class=VideoTextToTextPipeline,
    pt_model=AutoModelForImageTextToText,
    type="multimodal",
)

__all__ = [
    "BENCHMARK_METRICS",
    "VJEPA2VLMCausalLMOutputWithPast",
    "VJEPA2VLMConfig",
    "VJEPA2VLMForConditionalGeneration",
    "VJEPA2VLMPreTrainedModel",
    "VJEPA2VLMProcessor",
    "VLM_PRESETS",
    "VideoQACollator",
    "VideoQADataset",
    "VideoQARecord",
    "VideoTextToTextPipeline",
    "accuracy",
    "add_placeholder_tokens",
    "assemble_vlm",
    "build_messages",
    "build_projector",
    "build_word_tokenizer",
    "count_parameters",
    "evaluate_benchmark_file",
    "evaluate_records",
    "format_mc_question",
    "load_qa_records",
    "memory_requirements",
    "multi_binary_accuracy",
    "paired_accuracy",
    "parse_mc_answer",
    "predict_multiple_choice",
    "sample_frame_indices",
    "score_predictions",
    "tiny_vlm_config",
    "vlm_config_from_preset",
    "write_qa_records",
]
