"""Probing with the Trainer: cached features, the saved folder and its model card, LoRA, bf16, multi-view
evaluation, transformers export, Hub upload (mocked) and the `vjepa2-hf probe` command."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch

from vjepa2_hf.probe import VJEPA2ForVideoClassification
from vjepa2_hf.probe.hub import push_folder_to_hub
from vjepa2_hf.probe.run_video_classification import (
    DataArguments,
    ModelArguments,
    default_training_arguments,
    load_video_splits,
    run_probe,
)
from vjepa2_hf.video import VJEPA2VideoProcessor, read_video
from vjepa2_hf.video.synthetic import DIRECTION_NAMES, generate_motion_dataset


def _data(path, **overrides):
    return DataArguments(data=str(path), frame_step=1, do_resize=False, **overrides)


def _args(path, **overrides):
    values = dict(num_train_epochs=2, learning_rate=5e-3, use_cpu=True)
    values.update(overrides)
    return default_training_arguments(str(path), **values)


@pytest.fixture(scope="module")
def cached_run(direction_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("probe_run")
    model_args = ModelArguments(model="tiny", cache_features=True, num_pooler_layers=0, probe_num_attention_heads=4)
    result = run_probe(model_args, _data(direction_data), _args(out), progress=False)
    return result, model_args, out


def test_saved_folder_is_complete_and_its_card_reports_the_measured_metrics(cached_run, direction_data):
    result, _, out = cached_run
    files = set(os.listdir(out))
    assert {"config.json", "model.safetensors", "video_preprocessor_config.json", "README.md",
            "all_results.json"} <= files
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "vjepa2_hf" and config["num_frames"] == 8
    assert [config["id2label"][str(i)] for i in range(8)] == list(DIRECTION_NAMES)
    saved = json.loads((out / "all_results.json").read_text())
    card = (out / "README.md").read_text()
    assert f"| top-1 accuracy | {saved['eval_accuracy']:.4f} |" in card
    assert "pipeline_tag: video-classification" in card and "${" not in card
    assert f"value: {saved['eval_accuracy']:.4f}" in card
    # the reported accuracy is what the saved folder computes on the held-out videos
    model = VJEPA2ForVideoClassification.from_pretrained(out).eval()
    processor = VJEPA2VideoProcessor.from_pretrained(out)
    _, evaluation, _ = load_video_splits(_data(direction_data))
    correct = 0
    with torch.no_grad():
        for row in evaluation:
            logits = model(**processor(read_video(row["video"]))).logits
            correct += int(logits.argmax(-1).item() == row["label"])
    assert abs(correct / len(evaluation) - saved["eval_accuracy"]) < 1e-6
    assert 0.0 <= saved["eval_accuracy"] <= 1.0 and saved["chance_accuracy"] == 0.125


def test_cached_features_are_reused(cached_run, direction_data, tmp_path):
    result, model_args, out = cached_run
    assert result.metrics["feature_seconds"] > 0
    assert not (out / "feature_cache").exists()  # the default cache is gone with the run: the model folder is clean
    kept = dataclasses.replace(model_args, feature_cache_dir=str(tmp_path / "cache"))
    first = run_probe(kept, _data(direction_data), _args(tmp_path / "a"), progress=False)
    assert first.metrics["feature_seconds"] > 0
    assert any(name.startswith("train-") for name in os.listdir(tmp_path / "cache"))
    assert "feature_cache" not in os.listdir(tmp_path / "a")
    again = run_probe(kept, _data(direction_data), _args(tmp_path / "b"), progress=False)
    assert again.metrics["feature_seconds"] == 0.0  # loaded, not re-encoded
    assert again.metrics["eval_accuracy"] == result.metrics["eval_accuracy"] == first.metrics["eval_accuracy"]


def test_probe_learns_direction_of_motion_above_chance(tmp_path):
    data = generate_motion_dataset(tmp_path / "data", 256, num_frames=8, size=64, seed=3, task="direction")
    model_args = ModelArguments(model="tiny", cache_features=True, num_pooler_layers=0, probe_num_attention_heads=4)
    result = run_probe(model_args, _data(data), _args(tmp_path / "out", num_train_epochs=20), progress=False)
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert losses[-1] < 0.7 * losses[0], losses
    assert result.metrics["eval_accuracy"] >= 0.4, result.metrics  # chance 0.125


def test_lora_bf16_and_multiview(direction_data, tmp_path):
    model_args = ModelArguments(model="tiny", lora_rank=2, num_pooler_layers=0, probe_num_attention_heads=4)
    data_args = _data(direction_data, frames_per_clip=4, num_segments=2, num_views=2, max_train_samples=16,
                      max_eval_samples=8)
    result = run_probe(model_args, data_args, _args(tmp_path / "lora", num_train_epochs=1, bf16=True,
                                                    per_device_train_batch_size=8), progress=False)
    assert torch.isfinite(torch.tensor(result.metrics["train_loss"]))
    assert 0.0 <= result.metrics["eval_accuracy"] <= 1.0
    # LoRA was trained and merged: the encoder differs from the same seed's random init
    torch.manual_seed(0)
    from vjepa2_hf import VJEPA2Config

    fresh = VJEPA2ForVideoClassification(VJEPA2Config.from_preset("tiny", num_labels=8))
    merged = result.model.vjepa2.encoder.layer[0].attention.qkv.weight
    assert (merged - fresh.vjepa2.encoder.layer[0].attention.qkv.weight).abs().max() > 0
    assert (result.model.vjepa2.encoder.embeddings.patch_embeddings.proj.weight
            - fresh.vjepa2.encoder.embeddings.patch_embeddings.proj.weight).abs().max() == 0  # not a LoRA target
    reloaded = VJEPA2ForVideoClassification.from_pretrained(tmp_path / "lora")
    assert torch.equal(reloaded.vjepa2.encoder.layer[0].attention.qkv.weight, merged)


def test_export_and_hub_upload_of_the_folder(direction_data, tmp_path, monkeypatch):
    import huggingface_hub
    import transformers

    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, **kwargs):
            calls["create"] = repo_id

        def upload_folder(self, folder_path, repo_id, **kwargs):
            calls["upload"] = (folder_path, repo_id, sorted(os.listdir(folder_path)), kwargs["ignore_patterns"])
            return "commit"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    model_args = ModelArguments(model="tiny", cache_features=True, num_pooler_layers=1, export_transformers=True,
                                push_to_hub_repo="me/vjepa2-probe")
    result = run_probe(model_args, _data(direction_data), _args(tmp_path / "out", num_train_epochs=1), progress=False)
    folder, repo, files, ignored = calls["upload"]
    assert repo == "me/vjepa2-probe" and calls["create"] == "me/vjepa2-probe"
    assert folder == str(tmp_path / "out" / "transformers")
    assert {"config.json", "model.safetensors", "video_preprocessor_config.json"} <= set(files)
    theirs = transformers.AutoModelForVideoClassification.from_pretrained(folder).eval()
    clip = torch.randn(1, 8, 3, 64, 64)
    with torch.no_grad():
        diff = (theirs(pixel_values_videos=clip).logits - result.model(clip).logits).abs().max().item()
    assert diff <= 1e-4, diff
    # our folder itself (with its card) uploads as is; caches are excluded
    push_folder_to_hub(tmp_path / "out", "me/other")
    assert "README.md" in calls["upload"][2] and "feature_cache/*" in calls["upload"][3]
    assert "transformers' own format" in (tmp_path / "out" / "transformers" / "README.md").read_text()
    os.remove(tmp_path / "out" / "transformers" / "README.md")
    with pytest.raises(FileNotFoundError, match="README.md"):
        push_folder_to_hub(tmp_path / "out" / "transformers", "me/x")


def test_probe_command_line(direction_data, tmp_path):
    from vjepa2_hf.cli import main

    out = tmp_path / "cli"
    code = main(["probe", "--model", "tiny", "--data", str(direction_data), "--output-dir", str(out),
                 "--num_train_epochs", "1", "--cache_features", "--frame_step", "1", "--no_do_resize",
                 "--num_pooler_layers", "0", "--use_cpu", "--disable_tqdm", "true"])
    assert code == 0 and (out / "README.md").is_file()
    args = json.loads((out / "training_args.json").read_text())
    assert args["training"]["num_train_epochs"] == 1 and args["training"]["learning_rate"] == 1e-3  # recipe default
    config = tmp_path / "probe.json"
    config.write_text(json.dumps({"model": "tiny", "data": str(direction_data), "output_dir": str(tmp_path / "json"),
                                  "num_train_epochs": 1, "cache_features": True, "frame_step": 1, "do_resize": False,
                                  "num_pooler_layers": 0, "use_cpu": True}))
    assert main(["probe", str(config)]) == 0 and (tmp_path / "json" / "model.safetensors").is_file()
    with pytest.raises(ValueError, match="unknown probe arguments"):
        config.write_text(json.dumps({"model": "tiny", "data": "x", "epochs": 3}))
        main(["probe", str(config), "--debug"])  # --debug: the exception itself, not the one-line message
