"""A `video-text-to-text` pipeline for [`VJEPA2VLMForConditionalGeneration`].

transformers 5.24 ships no video question-answering pipeline (`video-text-to-text` exists only as a Hub tag, and
`any-to-any` needs torchvision and a model in `MODEL_FOR_MULTIMODAL_LM_MAPPING`). Importing `vjepa2_hf.vlm` registers
this one with `PIPELINE_REGISTRY`:

```python
>>> from transformers import pipeline
>>> import vjepa2_hf.vlm  # registers the task, the config, the model and the processor
>>> pipe = pipeline("video-text-to-text", model="path/to/vlm")            # or model=model, processor=processor
>>> pipe("clip.mp4", question="Which way does the square move?", options=["left", "right", "up", "down"])
{'answer': 'right', 'option_index': 1, 'letter': 'B', 'scores': [...], 'generated_text': None}
>>> pipe({"video": frames, "question": "Describe the video."}, max_new_tokens=32)
{'generated_text': '...', 'answer': '...'}
```

Inputs: a video (file path, `[T, H, W, 3]` array, list of frames) with `question=` (and optional `options=`), or a dict
`{"video", "question", "options"}`; a list of such dicts is a batch. With options the answer is chosen by letter
log-likelihood (`mode="letter"`, default), option-text log-likelihood (`"option"`) or generate-then-parse
(`"generate"`); without options the model generates free text (`max_new_tokens`, default 32).

Deployment: `pipeline("video-text-to-text", model=..., backend="onnxruntime")` (or `"openvino"`) exports the V-JEPA 2
vision encoder (float32; from a float32 copy of the encoder alone when the model is bf16) once into `export_dir` (a
temporary folder when None; a folder holding an export is loaded, not exported again) and runs it with that runtime;
the projector and the language model stay in PyTorch (the LLM is not exported). The pipeline works on a shallow copy
of the model (`vjepa2_hf.vlm.exporting.with_vision_backend`): a model passed in keeps its own encoder.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Pipeline
from transformers.utils import logging

from .scoring import LETTERS, SCORING_MODES, build_messages, letter_token_ids, parse_mc_answer

logger = logging.get_logger(__name__)


class VideoTextToTextPipeline(Pipeline):
    """Video question answering (multiple choice or free form) with a V-JEPA 2 VLM. See the module docstring.

    Construction arguments (`pipeline("video-text-to-text", model=..., backend=...)`):
        backend (`str`, defaults to `"torch"`): `"onnxruntime"` / `"openvino"` run the vision encoder exported
            (float32) by that runtime; projector and language model stay in PyTorch.
        export_dir (`str`, *optional*): where the encoder is exported (or loaded from, when it holds an export);
            a temporary folder when None.
    """

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _pipeline_calls_generate = False

    def __init__(self, *args: Any, backend: str = "torch", export_dir: str | None = None, **kwargs: Any) -> None:
        from ..encoder.exporting import check_backend

        check_backend(backend)  # before the model is built or anything exported
        super().__init__(*args, **kwargs)
        if self.processor is None:
            raise ValueError("the video-text-to-text pipeline needs `processor=` (a VJEPA2VLMProcessor)")
        if backend != "torch":
            from .exporting import with_vision_backend

            if export_dir is None:
                import tempfile

                export_dir = tempfile.mkdtemp(prefix=f"vjepa2-vlm-{backend}-")
                logger.info(f"exporting the VLM's vision encoder for {backend} into {export_dir}")
            self.model = with_vision_backend(self.model, backend, export_dir)

    def _sanitize_parameters(
        self,
        question: str | None = None,
        options: list[str] | None = None,
        mode: str | None = None,
        num_frames: int | None = None,
        max_new_tokens: int | None = None,
        **kwargs: Any,
    ):
        pre: dict[str, Any] = {}
        fwd: dict[str, Any] = {}
        post: dict[str, Any] = {}
        if kwargs:
            raise ValueError(f"unknown arguments for the video-text-to-text pipeline: {sorted(kwargs)}")
        if question is not None:
            pre["question"] = question
        if options is not None:
            pre["options"] = options
        if num_frames is not None:
            pre["num_frames"] = num_frames
        if mode is not None:
            if mode not in SCORING_MODES:
                raise ValueError(f"`mode` must be one of {SCORING_MODES}, got {mode!r}")
            pre["mode"] = mode
        if max_new_tokens is not None:
            fwd["max_new_tokens"] = max_new_tokens
        return pre, fwd, post

    def preprocess(
        self,
        inputs: Any,
        question: str | None = None,
        options: list[str] | None = None,
        mode: str = "letter",
        num_frames: int | None = None,
    ) -> dict[str, Any]:
        if isinstance(inputs, dict):
            video = inputs.get("video")
            question = inputs.get("question", question)
            options = inputs.get("options", options)
            mode = inputs.get("mode", mode)
        else:
            video = inputs
        if video is None:
            raise ValueError("the pipeline input needs a video (a path, a [T, H, W, 3] array or a list of frames)")
        if not question:
            raise ValueError("the pipeline needs a `question` (keyword argument or the input dict's 'question')")
        options = list(options) if options else None
        if mode == "option" and options:
            return {
                "mode": "option",
                "item": {"video": video, "question": question, "options": options},
                "num_frames": num_frames,
            }
        messages = build_messages(video, question, options)
        batch = self.processor.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            num_frames=num_frames,
            padding_side="left",
        )
        return {"mode": mode if options else "free", "batch": dict(batch), "options": options}

    def _forward(self, model_inputs: dict[str, Any], max_new_tokens: int | None = None) -> dict[str, Any]:
        mode = model_inputs["mode"]
        options = model_inputs.get("options")
        if mode == "option":
            from .scoring import predict_multiple_choice

            item = model_inputs["item"]
            pred = predict_multiple_choice(
                self.model, self.processor, [item], mode="option", num_frames=model_inputs["num_frames"]
            )[0]
            return {"mode": mode, "options": item["options"], "index": pred.index, "scores": pred.scores, "text": None}
        batch = {k: v for k, v in model_inputs["batch"].items()}
        dtype = next(p for p in self.model.parameters() if p.is_floating_point()).dtype
        for k, v in batch.items():
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                batch[k] = v.to(dtype)
        if mode == "letter":
            logits = self.model(**batch, logits_to_keep=1).logits[0, -1].float()
            ids = letter_token_ids(self.processor.tokenizer, len(options))
            scores = torch.log_softmax(logits, -1)[ids]
            return {
                "mode": mode,
                "options": options,
                "index": int(scores.argmax()),
                "scores": scores.tolist(),
                "text": None,
            }
        budget = max_new_tokens if max_new_tokens is not None else (8 if mode == "generate" else 32)
        pad = self.processor.tokenizer.pad_token_id
        out = self.model.generate(**batch, max_new_tokens=budget, do_sample=False, pad_token_id=pad)
        text = self.processor.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)[0].strip()
        index = parse_mc_answer(text, options) if options else None
        return {"mode": mode, "options": options, "index": index, "scores": [], "text": text}

    def postprocess(self, model_outputs: dict[str, Any]) -> dict[str, Any]:
        options = model_outputs["options"]
        if not options:
            return {"answer": model_outputs["text"], "generated_text": model_outputs["text"]}
        index = model_outputs["index"]
        return {
            "answer": options[index] if index is not None and index >= 0 else None,
            "option_index": index,
            "letter": LETTERS[index] if index is not None and index >= 0 else None,
            "scores": model_outputs["scores"],
            "generated_text": model_outputs["text"],
        }


__all__ = ["VideoTextToTextPipeline"]
