"""Stage-wise training with the Trainer: what becomes trainable, saving only what was trained, reloading, merging
LoRA, the model card, and `vjepa2-hf train-vlm --config FILE`."""

from __future__ import annotations

import json
import os

import pytest
import torch
import yaml

from vjepa2_hf.cli import main as cli_main
from vjepa2_hf.vlm import VJEPA2VLMForConditionalGeneration, VJEPA2VLMProcessor
from vjepa2_hf.vlm.synthetic_qa import make_motion_qa
from vjepa2_hf.vlm.training import (
    VLMTrainConfig,
    build_base_model,
    load_trained_vlm,
    merge_trained_vlm,
    train_vlm,
)

TINY = {"tiny": {"num_frames": 4, "vision_overrides": {"crop_size": 32}, "seed": 0}}
FAST = {"per_device_train_batch_size": 4, "use_cpu": True, "logging_steps": 1}


@pytest.fixture(scope="module")
def qa(tmp_path_factory):
    return make_motion_qa(tmp_path_factory.mktemp("mqa_train"), 12, num_frames=8, size=32, held_out_fraction=0.34)


def _prompt(processor, qa_file):
    row = json.loads(open(qa_file).readline())
    video = os.path.join(os.path.dirname(qa_file), row["video"])
    msgs = [{"role": "user", "content": [{"type": "video", "video": video}, {"type": "text", "text": row["question"]}]}]
    return processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)


def _logits(model, processor, qa_file):
    model.eval()
    with torch.no_grad():
        return model(**_prompt(processor, qa_file)).logits


def test_lora_stage_saves_adapter_and_projector_only(tmp_path, qa, one_thread):
    config = VLMTrainConfig.from_dict(
        dict(
            output_dir=str(tmp_path / "run"),
            model=TINY,
            data={"train": qa["train"], "eval": qa["test"]},
            training=FAST,
            stages=[
                {"name": "lora", "train": ["projector", "lora"], "learning_rate": 5e-3, "max_steps": 3, "lora_r": 4}
            ],
        )
    )
    base, _ = build_base_model(TINY)
    results = train_vlm(config)
    stage = results["stages"][0]
    files = set(os.listdir(stage["dir"]))
    assert {
        "adapter_model.safetensors",
        "adapter_config.json",
        "trained_parts.json",
        "README.md",
        "config.json",
    } <= files
    assert "model.safetensors" not in files and "trainable_weights.safetensors" not in files
    from safetensors.torch import load_file

    saved = load_file(os.path.join(stage["dir"], "adapter_model.safetensors"))
    assert saved and all("lora_" in k or "multi_modal_projector" in k for k in saved)
    assert not any("vision_tower" in k for k in saved)
    # trainable: LoRA on the LLM + the projector, nothing else
    n_lora = sum(v.numel() for k, v in saved.items() if "lora_" in k)
    n_proj = sum(p.numel() for p in base.multi_modal_projector.parameters())
    assert stage["trainable_parameters"] == n_lora + n_proj
    assert stage["losses"] and all(map(lambda x: x == x, stage["losses"]))
    assert 0.0 <= stage["eval"]["accuracy"] <= 1.0 and stage["eval"]["num_questions"] == 4

    # reload = same outputs as the trained model; merge = same outputs without PEFT
    reloaded, processor = load_trained_vlm(stage["dir"])
    ref = _logits(reloaded, processor, qa["test"])
    assert not torch.allclose(ref, _logits(base, processor, qa["test"]))  # training changed something
    merged_dir = merge_trained_vlm(stage["dir"], tmp_path / "merged")
    merged = VJEPA2VLMForConditionalGeneration.from_pretrained(merged_dir)
    assert torch.allclose(_logits(merged, VJEPA2VLMProcessor.from_pretrained(merged_dir), qa["test"]), ref, atol=1e-4)
    # PEFT's generate forwards the pixels through prepare_inputs_for_generation: same tokens as the merged model
    batch = _prompt(processor, qa["test"])
    peft_tokens = reloaded.generate(**batch, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    merged_tokens = merged.generate(**batch, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert torch.equal(peft_tokens, merged_tokens)
    card = open(os.path.join(stage["dir"], "README.md")).read()
    assert "${" not in card and "pipeline_tag: video-text-to-text" in card and "projector, lora" in card


def test_projector_then_llm_stages_chain(tmp_path, qa, one_thread):
    config = VLMTrainConfig.from_dict(
        dict(
            output_dir=str(tmp_path / "run"),
            model=TINY,
            data={"train": qa["train"], "preload_frames": True},
            training={**FAST, "gradient_checkpointing": True},
            stages=[
                {"name": "align", "train": ["projector"], "learning_rate": 1e-2, "max_steps": 2},
                {"name": "full", "train": ["projector", "llm"], "learning_rate": 1e-3, "max_steps": 2},
            ],
        )
    )
    base, _ = build_base_model(TINY)
    results = train_vlm(config)
    from safetensors.torch import load_file

    align = load_file(os.path.join(results["stages"][0]["dir"], "trainable_weights.safetensors"))
    full = load_file(os.path.join(results["stages"][1]["dir"], "trainable_weights.safetensors"))
    assert {k.split(".")[0] for k in align} == {"multi_modal_projector"}
    assert {k.split(".")[0] for k in full} == {"multi_modal_projector", "language_model"}
    assert results["stages"][0]["trainable_parameters"] == sum(
        p.numel() for p in base.multi_modal_projector.parameters()
    )
    # stage 1 left the LLM untouched; stage 2 changed it
    base_lm = base.language_model.state_dict()
    lm_keys = [k for k in full if k.startswith("language_model.")]
    assert any(not torch.equal(full[k], base_lm[k.removeprefix("language_model.")]) for k in lm_keys)
    model, processor = load_trained_vlm(results["stages"][1]["dir"])
    for k, v in full.items():
        assert torch.equal(model.state_dict()[k], v)
    for k, v in base.vision_tower.state_dict().items():  # the frozen encoder never moved
        assert torch.equal(model.vision_tower.state_dict()[k], v)


def test_cli_train_vlm_and_merge(tmp_path, qa, one_thread, tiny):
    model, processor = tiny
    base_dir = tmp_path / "base"
    model.save_pretrained(base_dir)
    processor.save_pretrained(base_dir)
    cfg = dict(
        output_dir=str(tmp_path / "cli_run"),
        model={"pretrained": str(base_dir)},
        data={"train": qa["train"]},
        training=FAST,
        stages=[{"name": "s1", "train": ["projector"], "learning_rate": 1e-2, "max_steps": 2}],
        merge=True,
    )
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(cfg))
    assert cli_main(["train-vlm", "--config", str(config_file)]) == 0
    results = json.load(open(tmp_path / "cli_run" / "results.json"))
    assert os.path.isfile(os.path.join(results["merged_dir"], "model.safetensors"))
    assert cli_main(["train-vlm", "--merge", results["final_dir"], "--output-dir", str(tmp_path / "m2")]) == 0
    a = VJEPA2VLMForConditionalGeneration.from_pretrained(results["merged_dir"])
    b = VJEPA2VLMForConditionalGeneration.from_pretrained(tmp_path / "m2")
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="train` must list parts"):
        VLMTrainConfig.from_dict(
            dict(output_dir="x", model=TINY, data={"train": "a"}, stages=[{"name": "s", "train": ["vision"]}])
        )
    with pytest.raises(ValueError, match="either the full `llm` or `lora`"):
        VLMTrainConfig.from_dict(
            dict(output_dir="x", model=TINY, data={"train": "a"}, stages=[{"name": "s", "train": ["llm", "lora"]}])
        )
    with pytest.raises(ValueError, match="unknown train-vlm config keys"):
        VLMTrainConfig.from_dict(dict(output_dir="x", model=TINY, data={"train": "a"}, stages=[], epochs=3))
    with pytest.raises(FileNotFoundError):
        VLMTrainConfig.from_file(tmp_path / "missing.yaml")


def test_cli_train_vlm_no_progress_prints_no_log_dicts(tmp_path, qa, one_thread, tiny, capsys):
    model, processor = tiny
    model.save_pretrained(tmp_path / "base")
    processor.save_pretrained(tmp_path / "base")
    cfg = dict(output_dir=str(tmp_path / "run"), model={"pretrained": str(tmp_path / "base")}, data={"train": qa["train"]},
               training={**FAST, "logging_steps": 1},
               stages=[{"name": "s1", "train": ["projector"], "learning_rate": 1e-2, "max_steps": 2}])
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    assert cli_main(["train-vlm", "--config", str(tmp_path / "run.yaml"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "{'loss'" not in printed and "'train_runtime'" not in printed
    assert printed.startswith("stage s1: trained projector, loss ")  # the summary alone
