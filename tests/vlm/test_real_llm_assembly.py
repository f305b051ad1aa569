"""The real path with real transformers LLM architectures (issue 15).

For Llama, Qwen2, Mistral, Phi-3 and GPT-2: a tiny random causal LM saved with `save_pretrained` next to its
tokenizer, and a tiny V-JEPA 2 encoder folder, are joined with `assemble_vlm(encoder_dir, llm_dir)` as a user would.
The assembled model must be causal (earlier logits do not move when a later token changes), give the same logits
after `save_pretrained` -> `from_pretrained`, answer through `pipeline("video-text-to-text")`, and a `train-vlm` run
from a spec naming the two folders must reload (stage folders and merged folder) to the loss the trained model has.

The bug this guards: the composite config reset the loaded LLM's `_attn_implementation` to None, so its attention
ran without the causal mask (earlier logits moved by 0.4-1.4 here) and the reloaded model (sdpa, causal) differed
from the assembled one by 3-4.5 in logits.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import pipeline

from vjepa2_hf.cli import main as cli_main
from vjepa2_hf.vlm import VJEPA2VLMForConditionalGeneration, assemble_vlm, load_qa_records
from vjepa2_hf.vlm import training as vlm_training
from vjepa2_hf.vlm.qa_datasets import VideoQACollator, VideoQADataset
from vjepa2_hf.vlm.synthetic_qa import DIRECTION_OPTIONS, make_motion_qa

from .tiny_llm_folders import ARCHITECTURES, save_tiny_encoder, save_tiny_llm

TOL = 1e-5
QUESTION = "Which way does the square move?\n(A) left\n(B) right\n(C) up\n(D) down"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """`{"encoder": dir, arch: dir, ...}`: the encoder folder and one LLM folder per architecture."""
    root = tmp_path_factory.mktemp("real_parts")
    out = {"encoder": save_tiny_encoder(root / "encoder", crop_size=32)}
    for arch in ARCHITECTURES:
        out[arch] = save_tiny_llm(root / arch, arch)
    return out


@pytest.fixture(scope="module")
def clip():
    return np.random.default_rng(0).integers(0, 256, (8, 40, 48, 3), dtype=np.uint8)


def _batch(processor, clip, answer="B"):
    conv = [
        {"role": "user", "content": [{"type": "video", "video": clip}, {"type": "text", "text": QUESTION}]},
        {"role": "assistant", "content": answer},
    ]
    return processor.apply_chat_template([conv], tokenize=True, return_labels=True)


def _logits(model, batch, dtype=None):
    batch = dict(batch)
    batch.pop("labels", None)
    if dtype is not None:
        batch["pixel_values_videos"] = batch["pixel_values_videos"].to(dtype)
    with torch.no_grad():
        return model(**batch).logits.float()


def _check_causal(model, batch, dtype=None) -> float:
    """Change only the last token, then a middle one: earlier logits must not move, later ones must."""
    ids = batch["input_ids"]
    reference = _logits(model, batch, dtype)
    worst = 0.0
    for pos in (ids.shape[1] - 1, ids.shape[1] - 3):
        changed = ids.clone()
        changed[0, pos] = 10 if int(ids[0, pos]) != 10 else 11  # an ordinary word, never a placeholder
        other = _logits(model, {**batch, "input_ids": changed}, dtype)
        earlier = (other[:, :pos] - reference[:, :pos]).abs().max().item()
        assert earlier <= TOL, f"changing token {pos} moved earlier logits by {earlier:.3g}: not causal"
        assert (other[:, pos:] - reference[:, pos:]).abs().max().item() > 1e-3  # the change is seen from pos on
        worst = max(worst, earlier)
    return worst


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_assembled_is_causal_and_reloads_identically(arch, folders, clip, tmp_path, one_thread):
    model, processor = assemble_vlm(folders["encoder"], folders[arch], dtype="float32", num_frames=4)
    model.eval()
    assert model.language_model.config._attn_implementation == "sdpa"
    assert model.vision_tower.config._attn_implementation == "sdpa"
    assert model.language_model.config is model.config.text_config
    batch = _batch(processor, clip)
    _check_causal(model, batch)

    model.save_pretrained(tmp_path / "vlm")
    processor.save_pretrained(tmp_path / "vlm")
    reloaded = VJEPA2VLMForConditionalGeneration.from_pretrained(tmp_path / "vlm").eval()
    assert reloaded.language_model.config._attn_implementation == "sdpa"
    diff = (_logits(reloaded, batch) - _logits(model, batch)).abs().max().item()
    assert diff <= TOL, f"{arch}: reloaded logits differ by {diff:.3g}"

    # the pipeline on the saved folder answers, with the scores of the assembled model
    pipe = pipeline("video-text-to-text", model=str(tmp_path / "vlm"))
    answer = pipe(clip, question="Which way does the square move?", options=list(DIRECTION_OPTIONS))
    assert answer["answer"] in DIRECTION_OPTIONS and answer["letter"] in "ABCD"
    same = pipeline("video-text-to-text", model=model, processor=processor)(
        clip, question="Which way does the square move?", options=list(DIRECTION_OPTIONS)
    )
    assert np.allclose(answer["scores"], same["scores"], atol=TOL), (answer["scores"], same["scores"])
    free = pipe(clip, question="What happens in the video?", max_new_tokens=3)
    assert isinstance(free["generated_text"], str)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_bf16_assembly_is_causal_and_reloads_identically(arch, folders, clip, tmp_path, one_thread):
    model, processor = assemble_vlm(folders["encoder"], folders[arch], num_frames=4)  # bf16: the default dtype
    model.eval()
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.language_model.config._attn_implementation == "sdpa"
    batch = _batch(processor, clip)
    _check_causal(model, batch, torch.bfloat16)
    model.save_pretrained(tmp_path / "vlm")
    reloaded = VJEPA2VLMForConditionalGeneration.from_pretrained(tmp_path / "vlm").eval()
    assert {p.dtype for p in reloaded.parameters()} == {torch.bfloat16}
    diff = (_logits(reloaded, batch, torch.bfloat16) - _logits(model, batch, torch.bfloat16)).abs().max().item()
    assert diff <= TOL, f"{arch}: bf16 reloaded logits differ by {diff:.3g}"


@pytest.fixture(scope="module")
def qa_data(tmp_path_factory):
    return make_motion_qa(tmp_path_factory.mktemp("qa"), 8, num_frames=8, size=64, held_out_fraction=0.25, seed=0)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_train_vlm_on_assembled_parts_reloads_to_the_trained_loss(arch, folders, qa_data, tmp_path, monkeypatch):
    """`vjepa2-hf train-vlm` with `model: {vision, text}` (two stages), then: stage folder via `load_trained_vlm`
    and merged folder via `from_pretrained` give the in-memory trained model's loss on a training batch (fp32,
    <= 1e-5; measured 0)."""
    torch.set_num_threads(1)
    trained = {}
    original = vlm_training.save_trained_parts

    def spy(model, *args, **kwargs):  # the command's in-memory model, as it is after each stage
        trained["model"] = model
        return original(model, *args, **kwargs)

    monkeypatch.setattr(vlm_training, "save_trained_parts", spy)
    model_spec = {"vision": str(folders["encoder"]), "text": str(folders[arch]), "dtype": "float32", "num_frames": 4}
    spec = {
        "output_dir": str(tmp_path / "run"),
        "model": model_spec,
        "data": {"train": qa_data["train"], "preload_frames": True},
        "training": {"per_device_train_batch_size": 3, "use_cpu": True, "logging_steps": 1},
        "stages": [
            {"name": "align", "train": ["projector"], "learning_rate": 1e-3, "max_steps": 2, "warmup_steps": 0},
            {"name": "tune", "train": ["projector", "llm"], "learning_rate": 1e-3, "max_steps": 2, "warmup_steps": 0},
        ],
        "merge": True,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert cli_main(["train-vlm", "--config", str(tmp_path / "spec.json")]) == 0
    model = trained["model"].eval()
    assert model.language_model.config._attn_implementation == "sdpa"

    processor = vlm_training.VJEPA2VLMProcessor.from_pretrained(tmp_path / "run" / "merged")
    records = load_qa_records(qa_data["train"])[:3]
    batch = VideoQACollator(processor, num_frames=4)([VideoQADataset(records)[i] for i in range(3)])

    def loss(m):
        with torch.no_grad():
            return m.eval()(**batch).loss.item()

    trained_loss = loss(model)
    restaged, _ = vlm_training.load_trained_vlm(tmp_path / "run" / "tune")
    merged = VJEPA2VLMForConditionalGeneration.from_pretrained(tmp_path / "run" / "merged")
    for name, other in (("load_trained_vlm", restaged), ("from_pretrained(merged)", merged)):
        diff = abs(loss(other) - trained_loss)
        print(f"{arch}: trained loss {trained_loss:.6f}, {name} differs by {diff:.3g}")
        assert diff <= TOL, (arch, name, loss(other), trained_loss)
    # the base model is rebuilt exactly (resized vocabulary rows and projector drawn from the spec's seed), which
    # is what stage folders holding only the trained parts rely on
    first, _ = vlm_training.build_base_model(model_spec)
    second, _ = vlm_training.build_base_model(model_spec)
    for (k, v), (_, w) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(v, w), k


# ---------------------------------------------------------------------------------------------- attention choice
def test_attn_implementation_per_part_whatever_the_build(folders, clip, tmp_path, tokenizer, one_thread):
    """`attn_implementation` (a str for all parts or a dict per sub-config) reaches the parts whether the model is
    assembled from two folders, loaded from a saved folder, built from a config or from a `train-vlm` spec; eager
    and sdpa agree (<= 1e-5) and both are causal."""
    from vjepa2_hf.vlm import tiny_vlm_config

    sdpa, processor = assemble_vlm(folders["encoder"], folders["qwen2"], dtype="float32", num_frames=4)
    eager, _ = assemble_vlm(
        folders["encoder"], folders["qwen2"], dtype="float32", num_frames=4, attn_implementation="eager"
    )
    assert eager.language_model.config._attn_implementation == "eager"
    assert eager.vision_tower.config._attn_implementation == "eager"
    eager.load_state_dict(sdpa.state_dict())  # same weights (the rows of the grown vocabulary are drawn at random)
    batch = _batch(processor, clip)
    diff = (_logits(eager.eval(), batch) - _logits(sdpa.eval(), batch)).abs().max().item()
    assert diff <= TOL, diff
    _check_causal(eager, batch)

    mixed, _ = assemble_vlm(
        folders["encoder"], folders["qwen2"], dtype="float32", num_frames=4,
        attn_implementation={"text_config": "eager"},
    )
    assert mixed.language_model.config._attn_implementation == "eager"
    assert mixed.vision_tower.config._attn_implementation == "sdpa"
    mixed.set_attn_implementation({"vision_config": "eager", "text_config": "sdpa"})  # switched in place
    assert mixed.language_model.config._attn_implementation == "sdpa"
    assert mixed.vision_tower.config._attn_implementation == "eager"

    sdpa.save_pretrained(tmp_path / "vlm")
    processor.save_pretrained(tmp_path / "vlm")
    loaded = VJEPA2VLMForConditionalGeneration.from_pretrained(
        tmp_path / "vlm", attn_implementation={"text_config": "eager", "vision_config": "eager"}
    )
    assert loaded.language_model.config._attn_implementation == "eager"
    assert loaded.vision_tower.config._attn_implementation == "eager"
    diff = (_logits(loaded.eval(), batch) - _logits(sdpa, batch)).abs().max().item()
    assert diff <= TOL, diff

    built = VJEPA2VLMForConditionalGeneration(tiny_vlm_config(tokenizer, attn_implementation="eager"))
    assert built.language_model.config._attn_implementation == "eager"
    assert built.vision_tower.config._attn_implementation == "eager"
    default = VJEPA2VLMForConditionalGeneration(tiny_vlm_config(tokenizer))
    assert default.language_model.config._attn_implementation == "sdpa"

    spec = {"vision": str(folders["encoder"]), "text": str(folders["gpt2"]), "dtype": "float32",
            "num_frames": 4, "attn_implementation": {"text_config": "eager"}}
    from_spec, _ = vlm_training.build_base_model(spec)
    assert from_spec.language_model.config._attn_implementation == "eager"
    pretrained, _ = vlm_training.build_base_model({"pretrained": str(tmp_path / "vlm"), "attn_implementation": "eager"})
    assert pretrained.language_model.config._attn_implementation == "eager"


def test_a_part_without_attention_choice_is_resolved(folders, clip, one_thread):
    """A loaded LLM whose config lost its attention implementation (None) is given sdpa by the composite."""
    model, processor = assemble_vlm(folders["encoder"], folders["llama"], dtype="float32", num_frames=4)
    lm = model.language_model
    lm.config._attn_implementation_internal = None
    rebuilt = VJEPA2VLMForConditionalGeneration(model.config, vision_tower=model.vision_tower, language_model=lm)
    assert rebuilt.language_model.config._attn_implementation == "sdpa"
    _check_causal(rebuilt.eval(), _batch(processor, clip))


def test_bad_attn_implementation_is_named(folders):
    with pytest.raises(ValueError, match="`attn_implementation` keys must be among"):
        assemble_vlm(folders["encoder"], folders["llama"], dtype="float32", attn_implementation={"llm": "eager"})
    with pytest.raises(ValueError, match="given twice"):
        VJEPA2VLMForConditionalGeneration.from_vision_text_pretrained(
            folders["encoder"], folders["llama"], attn_implementation="sdpa",
            text_kwargs={"attn_implementation": "eager"},
        )


def test_save_tiny_parts_takes_the_real_path(tmp_path, tokenizer, clip, one_thread):
    """`save_tiny_parts` (the motion-QA script's `--path real`) writes folders that assemble into a causal model of
    the tiny path's sizes."""
    from vjepa2_hf.vlm.tiny import save_tiny_parts, tiny_vlm_config

    encoder_dir, llm_dir = save_tiny_parts(tmp_path, text_model_type="qwen2")
    model, processor = assemble_vlm(encoder_dir, llm_dir, dtype="float32", num_frames=4)
    reference = tiny_vlm_config(tokenizer, text_model_type="qwen2", vision_overrides={"crop_size": 32})
    assert model.config.text_config.model_type == "qwen2"
    assert model.config.text_config.vocab_size == reference.text_config.vocab_size  # no resize: placeholders exist
    assert model.config.vision_config.crop_size == 32
    _check_causal(model.eval(), _batch(processor, clip))
