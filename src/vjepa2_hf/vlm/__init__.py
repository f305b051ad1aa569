"""V-JEPA 2 video-language model: encoder + projector + any causal LLM, for video question answering.

`vjepa2_hf.auto_registration` registers, by name and on first use of transformers' Auto classes / pipelines:

* `AutoConfig` model type `"vjepa2_vlm"` -> [`VJEPA2VLMConfig`];
* `AutoModelForImageTextToText` -> [`VJEPA2VLMForConditionalGeneration`] (not `AutoModelForCausalLM`: the model
  needs pixels next to the text);
* `AutoProcessor` -> [`VJEPA2VLMProcessor`];
* the pipeline task `"video-text-to-text"` -> [`VideoTextToTextPipeline`].
"""

from ..lazy_imports import attach

# submodules are imported on first use of one of their names
_SUBMODULES = {
    "configuration_vjepa2_vlm": ['VJEPA2VLMConfig'],
    "evaluation": ['BENCHMARK_METRICS', 'accuracy', 'evaluate_benchmark_file', 'evaluate_records', 'multi_binary_accuracy', 'paired_accuracy', 'score_predictions'],
    "modeling_vjepa2_vlm": ['VJEPA2VLMCausalLMOutputWithPast', 'VJEPA2VLMForConditionalGeneration', 'VJEPA2VLMPreTrainedModel', 'add_placeholder_tokens'],
    "pipeline_video_text_to_text": ['VideoTextToTextPipeline'],
    "presets": ['VLM_PRESETS', 'assemble_vlm', 'count_parameters', 'memory_requirements', 'vlm_config_from_preset'],
    "processing_vjepa2_vlm": ['VJEPA2VLMProcessor', 'sample_frame_indices'],
    "projectors": ['build_projector'],
    "qa_datasets": ['VideoQACollator', 'VideoQADataset', 'VideoQARecord', 'load_qa_records', 'write_qa_records'],
    "scoring": ['build_messages', 'format_mc_question', 'parse_mc_answer', 'predict_multiple_choice'],
    "tiny": ['build_word_tokenizer', 'tiny_vlm_config'],
}

__getattr__, __dir__ = attach(__name__, _SUBMODULES)

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
