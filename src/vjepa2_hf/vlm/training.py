"""Stage-wise alignment of V-JEPA 2 with a causal LLM on video QA, with the `Trainer`.

The paper trains progressively (App. E; LLaVA-NeXT / PerceptionLM recipes): first the projector alone, then the LLM
(fully), optionally the encoder ("end-to-end", Table 7). Here a run is a list of stages, each naming what it trains:

| `train:` entry | what becomes trainable |
|---|---|
| `projector` | `multi_modal_projector` |
| `llm` | every parameter of the language model (the paper's setting) |
| `lora` | LoRA adapters (PEFT) on the LLM's attention and MLP projections, for small budgets |
| `encoder` | the V-JEPA 2 encoder (end-to-end) |

Saving keeps only what was trained: after every stage `stage_dir` holds `trained_parts.json` (the base model and the
trained parts), `trainable_weights.safetensors` (the state dict of the trained modules) or, with LoRA, the PEFT
adapter (`adapter_model.safetensors` + `adapter_config.json`, the projector saved through `modules_to_save`), the
processor, and a model card (`README.md`). [`load_trained_vlm`] rebuilds the model from the base and the trained
parts; [`merge_trained_vlm`] folds LoRA into the LLM and writes a standalone model folder.

A run is described by a YAML or JSON file (`vjepa2-hf train-vlm --config FILE`), see [`VLMTrainConfig`].
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.utils import logging

from ..training.launch_environment import check_trainer_launch, is_main_process, trainer_launch_arguments
from .modeling_vjepa2_vlm import VJEPA2VLMForConditionalGeneration
from .processing_vjepa2_vlm import VJEPA2VLMProcessor
from .qa_datasets import VideoQACollator, VideoQADataset, load_qa_records

logger = logging.get_logger(__name__)

TRAINABLE_PARTS = ("projector", "llm", "lora", "encoder")
TRAINED_PARTS_FILE = "trained_parts.json"
TRAINABLE_WEIGHTS_FILE = "trainable_weights.safetensors"
LORA_TARGET_REGEX = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
_PART_PREFIX = {"projector": "multi_modal_projector.", "llm": "language_model.", "encoder": "vision_tower."}


@dataclass
class StageConfig:
    """One training stage.

    Args:
        name: folder name of the stage under `output_dir`.
        train: parts trained in this stage (subset of `projector`, `llm`, `lora`, `encoder`).
        learning_rate, num_train_epochs, max_steps, warmup_steps, lr_scheduler_type, weight_decay: optimisation
            (`warmup_steps` below 1 is a fraction of the total steps, as in `TrainingArguments`).
        lora_r, lora_alpha, lora_dropout, lora_target_modules: LoRA settings (first stage that trains `lora`).
        training_args: extra `TrainingArguments` for this stage only.
    """

    name: str
    train: list[str]
    learning_rate: float = 1e-4
    num_train_epochs: float = 1.0
    max_steps: int = -1
    warmup_steps: float = 0.03
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str | list[str] = LORA_TARGET_REGEX
    training_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [p for p in self.train if p not in TRAINABLE_PARTS]
        if not self.train or bad:
            raise ValueError(f"stage {self.name!r}: `train` must list parts among {TRAINABLE_PARTS}, got {self.train}")
        if "llm" in self.train and "lora" in self.train:
            raise ValueError(f"stage {self.name!r}: train either the full `llm` or `lora` adapters, not both")


def _refuse_trainer_resume(training: dict[str, Any], stages: list[StageConfig]) -> None:
    """train-vlm runs every stage from the start: a `resume_from_checkpoint` (which the `Trainer` would otherwise
    ignore here) is refused before anything is read from that checkpoint."""
    places = [("training", training)] + [(f"stages[{i}].training_args", s.training_args) for i, s in enumerate(stages)]
    for where, values in places:
        if isinstance(values, dict) and values.get("resume_from_checkpoint") not in (None, False, ""):
            raise ValueError(
                f"`{where}.resume_from_checkpoint`: train-vlm does not resume from Trainer checkpoints (it runs its "
                "stages from the start and reads nothing from that folder); remove the key and rerun"
            )


@dataclass
class VLMTrainConfig:
    """A `train-vlm` run.

    Args:
        output_dir: where stages, the final model card and `results.json` go.
        model: the starting model, one of
            `{"pretrained": folder}` (a saved VLM with its processor),
            `{"vision": encoder_repo, "text": llm_repo, ...VJEPA2VLMConfig fields}` (assembled, bf16 by default,
            `dtype:` to change), `{"preset": "vitg384-llama3.1-8b"}` (the preset's repos), or
            `{"tiny": {...tiny_vlm_config kwargs}}` (a random tiny model with the word-level tokenizer; for demos).
            Every form takes `attn_implementation` (sdpa by default; a dict per part as `{"text_config": "eager"}`);
            assembled models also `seed` (default 0: the rows added to a resized vocabulary and the new projector
            are drawn from it, so the stage folders rebuild the same base model).
        data: `{"train": file, "eval": file (optional), "format": "auto", "video_root": None, "num_frames": None,
            "preload_frames": False}`.
        stages: list of [`StageConfig`] dicts, run in order.
        training: `TrainingArguments` shared by the stages (batch size, bf16, gradient_checkpointing, logging, ...).
        seed: random seed.
        eval_mode: multiple-choice scoring of the eval file after every stage (`letter`, `option`, `generate`).
        merge: also write a standalone merged model to `output_dir/merged` at the end.
    """

    output_dir: str
    model: dict[str, Any]
    data: dict[str, Any]
    stages: list[StageConfig]
    training: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    eval_mode: str = "letter"
    merge: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VLMTrainConfig":
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown train-vlm config keys {unknown}; expected {sorted(known)}")
        for key in ("output_dir", "model", "data", "stages"):
            if key not in d:
                raise ValueError(f"the train-vlm config needs `{key}`")
        if "train" not in d["data"]:
            raise ValueError("`data.train` (a QA annotation file) is required")
        d["stages"] = [s if isinstance(s, StageConfig) else StageConfig(**s) for s in d["stages"]]
        if not d["stages"]:
            raise ValueError("`stages` must list at least one stage")
        _refuse_trainer_resume(d.get("training") or {}, d["stages"])
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "VLMTrainConfig":
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"train-vlm config not found: {path}")
        with open(path, encoding="utf-8") as f:
            if path.endswith((".yaml", ".yml")):
                import yaml

                d = yaml.safe_load(f)
            else:
                d = json.load(f)
        if not isinstance(d, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return cls.from_dict(d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------- building models
def build_base_model(spec: dict[str, Any]) -> tuple[VJEPA2VLMForConditionalGeneration, VJEPA2VLMProcessor]:
    """The starting model and processor of a run from its `model:` spec (see [`VLMTrainConfig`])."""
    spec = dict(spec)
    if "pretrained" in spec:
        path = spec.pop("pretrained")
        dtype = spec.pop("dtype", None)
        kwargs = {"dtype": getattr(torch, dtype) if isinstance(dtype, str) else dtype} if dtype else {}
        if spec.get("attn_implementation") is not None:
            kwargs["attn_implementation"] = spec.pop("attn_implementation")
        model = VJEPA2VLMForConditionalGeneration.from_pretrained(path, **kwargs)
        processor = VJEPA2VLMProcessor.from_pretrained(path)
        return model, processor
    if "tiny" in spec:
        from .tiny import build_word_tokenizer, tiny_vlm_config

        tiny = dict(spec.pop("tiny") or {})
        seed = tiny.pop("seed", 0)
        tokenizer = build_word_tokenizer(tiny.pop("extra_texts", ()))
        if spec.get("attn_implementation") is not None:
            tiny["attn_implementation"] = spec.pop("attn_implementation")
        config = tiny_vlm_config(tokenizer, **tiny)
        torch.manual_seed(seed)
        model = VJEPA2VLMForConditionalGeneration(config)
        return model, VJEPA2VLMProcessor.from_model_config(config, tokenizer)
    from .presets import assemble_vlm

    preset = spec.pop("preset", None)
    vision, text = spec.pop("vision", None), spec.pop("text", None)
    dtype = spec.pop("dtype", "bfloat16")
    torch.manual_seed(spec.pop("seed", 0))
    return assemble_vlm(vision, text, preset=preset, dtype=dtype, **spec)


def set_trainable(model: Any, parts: list[str]) -> None:
    """Freeze everything, then unfreeze `parts` (LoRA adapters are unfrozen by name)."""
    base = _unwrap(model)
    is_peft = base is not model
    base.requires_grad_(False)
    base.set_vision_tower_trainable("encoder" in parts)
    if "llm" in parts:
        base.language_model.requires_grad_(True)
    for name, p in model.named_parameters():
        if "lora" in parts and "lora_" in name:
            p.requires_grad_(True)
        # with PEFT the projector is trained through its `modules_to_save` copy (the original stays frozen)
        if "projector" in parts and "multi_modal_projector" in name and (not is_peft or "modules_to_save" in name):
            p.requires_grad_(True)


def _unwrap(model: Any) -> VJEPA2VLMForConditionalGeneration:
    try:
        from peft import PeftModel

        if isinstance(model, PeftModel):
            return model.get_base_model()
    except ImportError:  # pragma: no cover
        pass
    return model


def add_lora(model: VJEPA2VLMForConditionalGeneration, stage: StageConfig):
    """Wrap the model with PEFT LoRA on the LLM (the projector is fully trained and saved via `modules_to_save`)."""
    from ..lora_utils import apply_lora

    return apply_lora(model, stage.lora_r, stage.lora_alpha, stage.lora_dropout, stage.lora_target_modules,
                      modules_to_save=["multi_modal_projector"], task_type="CAUSAL_LM")


def count_trainable(model: Any) -> tuple[int, int]:
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


# ---------------------------------------------------------------------------------------------- saving / loading
def save_trained_parts(
    model: Any,
    save_directory: str | os.PathLike,
    parts: list[str],
    *,
    base: dict[str, Any],
    processor: VJEPA2VLMProcessor | None = None,
) -> list[str]:
    """Write only what was trained (see the module docstring) plus what is needed to rebuild the model."""
    from safetensors.torch import save_file

    save_directory = os.fspath(save_directory)
    os.makedirs(save_directory, exist_ok=True)
    files = []
    is_peft = _unwrap(model) is not model
    base_model = _unwrap(model)
    if is_peft:
        model.save_pretrained(save_directory)
        files += ["adapter_config.json", "adapter_model.safetensors"]
    full_parts = [p for p in parts if p in _PART_PREFIX and not (is_peft and p == "projector")]
    if full_parts:
        prefixes = tuple(_PART_PREFIX[p] for p in full_parts)
        state, seen = {}, set()
        for k, v in base_model.state_dict().items():
            # tied weights (GPT-2's head is its token embedding) are stored once: loading copies into the shared tensor
            if k.startswith(prefixes) and (v.data_ptr(), tuple(v.shape)) not in seen:
                seen.add((v.data_ptr(), tuple(v.shape)))
                state[k] = v.detach().contiguous().cpu()
        save_file(state, os.path.join(save_directory, TRAINABLE_WEIGHTS_FILE), metadata={"format": "pt"})
        files.append(TRAINABLE_WEIGHTS_FILE)
    base_model.config.save_pretrained(save_directory)
    if processor is not None:
        processor.save_pretrained(save_directory)
    record = {"base": base, "parts": parts, "peft": is_peft, "files": files}
    with open(os.path.join(save_directory, TRAINED_PARTS_FILE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    return files


def load_trained_vlm(path: str | os.PathLike, *, previous: dict[str, Any] | None = None):
    """Rebuild `(model, processor)` from a stage folder written by [`save_trained_parts`].

    The base model is rebuilt from the recorded spec, then every stage folder listed in the chain (`previous` stages
    are recorded by `train_vlm` in `trained_parts.json` under `"after"`) is applied in order.
    """
    from safetensors.torch import load_file

    path = os.fspath(path)
    record_file = os.path.join(path, TRAINED_PARTS_FILE)
    if not os.path.isfile(record_file):
        raise FileNotFoundError(f"{record_file} not found: `path` must be a stage folder written by train-vlm")
    with open(record_file, encoding="utf-8") as f:
        record = json.load(f)
    chain = list(record.get("after", [])) + [path]
    model, _ = build_base_model(record["base"])
    for stage_dir in chain:
        with open(os.path.join(stage_dir, TRAINED_PARTS_FILE), encoding="utf-8") as f:
            rec = json.load(f)
        if rec["peft"]:
            from peft import PeftModel

            if _unwrap(model) is not model:
                model = model.merge_and_unload()
            model = PeftModel.from_pretrained(model, stage_dir)
        weights = os.path.join(stage_dir, TRAINABLE_WEIGHTS_FILE)
        if os.path.isfile(weights):
            state = load_file(weights)
            current = _unwrap(model).state_dict()  # tensors share storage with the parameters
            unknown = [k for k in state if k not in current]
            if unknown:
                raise ValueError(f"{weights} has keys the model does not have: {unknown[:5]}")
            with torch.no_grad():
                for k, v in state.items():  # exactly the trained parts; everything else stays the base's
                    if current[k].shape != v.shape:
                        raise ValueError(
                            f"{weights}: {k} has shape {tuple(v.shape)}, the model {tuple(current[k].shape)}"
                        )
                    current[k].copy_(v)
    processor = VJEPA2VLMProcessor.from_pretrained(path)
    return model, processor


def merge_trained_vlm(path: str | os.PathLike, save_directory: str | os.PathLike) -> str:
    """Load a trained stage, fold LoRA adapters into the LLM, and save a standalone VLM folder (weights, config,
    processor) loadable with `VJEPA2VLMForConditionalGeneration.from_pretrained` and the pipeline."""
    model, processor = load_trained_vlm(path)
    if _unwrap(model) is not model:
        model = model.merge_and_unload()
    model.save_pretrained(save_directory)
    processor.save_pretrained(save_directory)
    return os.fspath(save_directory)


# ---------------------------------------------------------------------------------------------- trainer
def _checkpointing_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Accept `gradient_checkpointing` (transformers < 5.24 name) and `activation_checkpointing`; non-reentrant."""
    kwargs = dict(kwargs)
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    new, old = "activation_checkpointing", "gradient_checkpointing"
    for src, dst in ((old, new), (f"{old}_kwargs", f"{new}_kwargs")):
        if src in kwargs and dst in names and src != dst:
            kwargs.setdefault(dst, kwargs.pop(src))
    flag = new if new in names else old
    if kwargs.get(flag):
        kwargs.setdefault(f"{flag}_kwargs", {"use_reentrant": False})
    return kwargs


class VJEPA2VLMTrainer(Trainer):
    """`Trainer` whose checkpoints hold only the trained parts (never a full copy of a frozen 8B LLM)."""

    def __init__(self, *args: Any, trained_parts: list[str], base_spec: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trained_parts = trained_parts
        self.base_spec = base_spec

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        save_trained_parts(
            self.model, output_dir, self.trained_parts, base=self.base_spec, processor=self.processing_class
        )


class _LogToList(TrainerCallback):
    def __init__(self) -> None:
        self.logs: list[dict[str, float]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: D401
        if logs:
            self.logs.append({**logs, "step": state.global_step})


def _qa_data(config: VLMTrainConfig, processor):
    """The training dataset, the training and evaluation records (eval frames decoded once with
    `preload_frames`) and the frames per video."""
    data = dict(config.data)
    num_frames = data.get("num_frames") or processor.num_frames
    processor.num_frames = num_frames
    train_records = load_qa_records(data["train"], data.get("format", "auto"), data.get("video_root"))
    eval_records = (
        load_qa_records(data["eval"], data.get("format", "auto"), data.get("video_root")) if data.get("eval") else None
    )
    preload = bool(data.get("preload_frames", False))
    train_ds = VideoQADataset(train_records, preload_frames=preload, num_frames=num_frames)
    if preload and eval_records is not None:
        frames = VideoQADataset(eval_records, with_answer=False, preload_frames=True, num_frames=num_frames)._frames
        eval_records = [dataclasses.replace(r, video=fr) for r, fr in zip(eval_records, frames)]
    return train_ds, train_records, eval_records, num_frames


def _stage_training_arguments(config: VLMTrainConfig, stage, stage_dir: str) -> TrainingArguments:
    """`TrainingArguments` of one stage: the stage's recipe, then the run's `training`, then the stage's overrides."""
    args_kwargs = dict(
        output_dir=stage_dir,
        learning_rate=stage.learning_rate,
        num_train_epochs=stage.num_train_epochs,
        max_steps=stage.max_steps,
        warmup_steps=stage.warmup_steps,
        lr_scheduler_type=stage.lr_scheduler_type,
        weight_decay=stage.weight_decay,
        save_strategy="no",
        report_to=[],
        remove_unused_columns=False,
        seed=config.seed,
        logging_steps=10,
        disable_tqdm=True,
    )
    args_kwargs.update(config.training)
    args_kwargs.update(stage.training_args)
    # DeepSpeed / FSDP / a launcher precision refused; several CPU processes join a gloo group
    return TrainingArguments(**trainer_launch_arguments("train-vlm", _checkpointing_arguments(args_kwargs)))


def _record_previous_stages(stage_dir: str, previous: list[str]) -> None:
    """Add the earlier stage folders (what this one was trained on top of) to its trained-parts record."""
    with open(os.path.join(stage_dir, TRAINED_PARTS_FILE), encoding="utf-8") as f:
        record = json.load(f)
    record["after"] = list(previous)
    with open(os.path.join(stage_dir, TRAINED_PARTS_FILE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)


def _merge_final(config: VLMTrainConfig, model, processor, results: dict[str, Any]) -> str:
    """The standalone model (LoRA folded in) in `output_dir/merged`, with its card."""
    from .model_card import write_model_card

    merged = os.path.join(config.output_dir, "merged")
    base = _unwrap(model)
    final = model.merge_and_unload() if base is not model else model
    final.save_pretrained(merged)
    processor.save_pretrained(merged)
    write_model_card(merged, config=config, stage=config.stages[-1], results=results["stages"][-1], model=final)
    return merged


def train_vlm(config: VLMTrainConfig, quiet: bool = False) -> dict[str, Any]:
    """Run every stage of `config`; returns the results (losses, eval accuracy per stage, folders). `quiet`: the
    Trainer prints no `{'loss': ...}` lines (the logged losses are still recorded)."""
    from .evaluation import evaluate_records
    from .model_card import write_model_card

    for stage in config.stages:  # a launch the stages cannot run is refused before the model is built
        check_trainer_launch("train-vlm", {**config.training, **stage.training_args})
    main_process = is_main_process()  # under torchrun / accelerate launch only rank 0 writes
    set_seed(config.seed)
    os.makedirs(config.output_dir, exist_ok=True)
    if main_process:
        with open(os.path.join(config.output_dir, "train_config.json"), "w", encoding="utf-8") as f:
            json.dump(config.to_dict(), f, indent=2, default=str)
    model, processor = build_base_model(config.model)
    train_ds, train_records, eval_records, num_frames = _qa_data(config, processor)
    collator = VideoQACollator(processor, num_frames=num_frames)

    results: dict[str, Any] = {"stages": [], "num_train": len(train_records), "num_eval": len(eval_records or [])}
    previous: list[str] = []
    base_spec = dict(config.model)
    trained_so_far: list[str] = []
    for stage in config.stages:
        if "lora" in stage.train and _unwrap(model) is model:
            model = add_lora(model, stage)
        set_trainable(model, stage.train)
        n_train, n_total = count_trainable(model)
        logger.info(f"stage {stage.name}: training {stage.train}, {n_train:,} of {n_total:,} parameters")
        stage_dir = os.path.join(config.output_dir, stage.name)
        args = _stage_training_arguments(config, stage, stage_dir)
        logs = _LogToList()
        trainer = VJEPA2VLMTrainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            data_collator=collator,
            processing_class=processor,
            callbacks=[logs],
            trained_parts=stage.train,
            base_spec=base_spec,
        )
        if quiet:
            trainer.remove_callback(PrinterCallback)
        t0 = time.perf_counter()
        out = trainer.train()
        stage_result: dict[str, Any] = {
            "name": stage.name,
            "train": stage.train,
            "trainable_parameters": n_train,
            "total_parameters": n_total,
            "train_loss": out.training_loss,
            "losses": [entry["loss"] for entry in logs.logs if "loss" in entry],
            "seconds": time.perf_counter() - t0,
            "dir": stage_dir,
        }
        trained_so_far = sorted(set(trained_so_far) | set(stage.train))
        if main_process:
            save_trained_parts(model, stage_dir, stage.train, base=base_spec, processor=processor)
            _record_previous_stages(stage_dir, previous)
        previous.append(stage_dir)
        if eval_records is not None:  # every rank scores the whole eval file (the same figures)
            metrics, _ = evaluate_records(model, processor, eval_records, mode=config.eval_mode, num_frames=num_frames)
            stage_result["eval"] = metrics
        if main_process:
            write_model_card(stage_dir, config=config, stage=stage, results=stage_result, model=_unwrap(model))
        results["stages"].append(stage_result)
    results["final_dir"] = previous[-1]
    if config.merge and main_process:
        results["merged_dir"] = _merge_final(config, model, processor, results)
    if main_process:
        with open(os.path.join(config.output_dir, "results.json"), "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, default=float)
    return results


__all__ = [
    "LORA_TARGET_REGEX",
    "StageConfig",
    "TRAINABLE_PARTS",
    "VJEPA2VLMTrainer",
    "VLMTrainConfig",
    "add_lora",
    "build_base_model",
    "load_trained_vlm",
    "merge_trained_vlm",
    "save_trained_parts",
    "set_trainable",
    "train_vlm",
]
