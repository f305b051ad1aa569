"""`vjepa2-hf probe` on two CPU processes (`torchrun --nproc_per_node 2`, gloo, no `--use_cpu`) equals one process with
the same global batch: every logged loss and metric, the trained probe, the saved classifier; both ranks identical, the
feature cache encoded once, the summary printed once. (Before the fix the loss was multiplied by the world size, and
without `--use_cpu` each rank trained alone on all the data.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vjepa2_hf.video.synthetic import generate_motion_dataset

WORKER = Path(__file__).with_name("multiprocess_probe_worker.py")
TOLERANCE = 1e-5  # gloo's all-reduce of the gradients vs one backward over the whole batch
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
LOGGED = ("loss", "eval_loss", "eval_accuracy", "eval_top5_accuracy", "eval_class_mean_recall@5", "train_loss")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _options(data, out, batch_size: int, features: str = "--cache_features") -> list[str]:
    return ["--model", "tiny", "--data", str(data), "--output-dir", str(out), "--frame_step", "1", "--no_do_resize",
            "--crop_size", "32", "--num_pooler_layers", "0", "--probe_num_attention_heads", "4", features,
            "--num_train_epochs", "2", "--learning_rate", "1e-3", "--logging_strategy", "steps", "--logging_steps", "1",
            "--per_device_train_batch_size", str(batch_size), "--disable_tqdm", "true",
            *(["--feature_cache_dir", f"{out}_cache"] if features == "--cache_features" else [])]  # kept after the run


def _run_both(root: Path, data, features: str) -> tuple[dict, subprocess.CompletedProcess, list[dict]]:
    """One process (batch 8) and two (batch 4 each): the one-process record, the two-process run and its records."""
    (root / "r1").mkdir()
    (root / "r2").mkdir()
    one = subprocess.run([sys.executable, str(WORKER), str(root / "r1"), *_options(data, root / "one", 8, features)],
                         env=ENV, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(_free_port()), str(WORKER), str(root / "r2"),
         *_options(data, root / "two", 4, features)],
        env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    load = lambda path: torch.load(path, weights_only=False)  # noqa: E731 - written by the worker of this test
    return load(root / "r1" / "rank0.pt"), two, [load(root / "r2" / f"rank{r}.pt") for r in (0, 1)]


def _assert_equal_to_one_process(one: dict, ranks: list[dict]) -> None:
    rank0, rank1 = ranks
    assert [r["world_size"] for r in ranks] == [2, 2] and one["world_size"] == 1
    expected = _logged(one["log_history"])
    assert [(s, k) for s, k, _ in expected].count((8, "loss")) == 1  # 2 epochs x 4 steps of 8 clips
    for rank in ranks:
        got = _logged(rank["log_history"])
        assert [(s, k) for s, k, _ in got] == [(s, k) for s, k, _ in expected]
        np.testing.assert_allclose([v for *_, v in got], [v for *_, v in expected], rtol=0, atol=TOLERANCE)
    assert _logged(rank0["log_history"]) == _logged(rank1["log_history"])  # ranks identical
    for name, value in one["probe"].items():
        assert torch.equal(rank0["probe"][name], rank1["probe"][name]), name
        torch.testing.assert_close(rank0["probe"][name], value, rtol=0, atol=TOLERANCE)
    for key in ("eval_loss", "eval_accuracy", "train_loss"):
        assert abs(rank0["metrics"][key] - one["metrics"][key]) <= TOLERANCE


def _logged(history: list[dict]) -> list[tuple[int, str, float]]:
    return [(entry["step"], key, float(entry[key])) for entry in history for key in LOGGED if key in entry]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    # 32 training and 8 held-out clips
    root = tmp_path_factory.mktemp("probe_ddp_data")
    return generate_motion_dataset(root / "data", 40, num_frames=8, size=32, seed=0, task="direction")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("probe_ddp")
    one, two, ranks = _run_both(root, data, "--cache_features")
    return dict(root=root, stdout=two.stdout, one=one, ranks=ranks)


def test_two_processes_form_one_gloo_group_and_print_once(runs):
    assert [r["world_size"] for r in runs["ranks"]] == [2, 2] and runs["ranks"][0]["backend"] == "gloo"
    assert runs["one"]["world_size"] == 1
    summary = [line for line in runs["stdout"].splitlines() if line.startswith(("saved ", "  eval_accuracy "))]
    assert len(summary) == 2, runs["stdout"][-2000:]  # the command's summary, from rank 0 only


def test_logged_losses_metrics_and_probe_equal_one_process(runs):
    _assert_equal_to_one_process(runs["one"], runs["ranks"])


def test_decoded_clips_with_augmentation_equal_one_process(data, tmp_path):
    """Without the cache: clips decoded in the Trainer's loop, random crops and clip positions drawn per (seed, epoch,
    clip), so the same for any number of processes."""
    one, _, ranks = _run_both(tmp_path, data, "--augment")
    _assert_equal_to_one_process(one, ranks)
    assert ranks[0]["metrics"]["feature_seconds"] == 0.0


def test_saved_classifier_equals_one_process_and_the_cache_is_encoded_once(runs):
    root = runs["root"]
    one, two = load_file(root / "one" / "model.safetensors"), load_file(root / "two" / "model.safetensors")
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=0, atol=TOLERANCE)
    cache = sorted(p.name for p in (root / "two_cache").iterdir())
    assert [n.split("-")[0] for n in cache] == ["eval", "train"] and all(n.endswith(".safetensors") for n in cache)
    rank0, rank1 = runs["ranks"]
    assert rank0["metrics"]["feature_seconds"] > 0 and rank1["metrics"]["feature_seconds"] == 0.0  # rank 1 read it


def test_the_trainer_does_not_scale_the_probe_losses_by_the_world_size(tmp_path):
    """Both probe heads compute per-batch means: the `Trainer` must not pass them `num_items_in_batch` (it would then
    multiply the loss by the number of processes, as it does for models whose `forward` takes `**kwargs`)."""
    from transformers import Trainer, TrainingArguments

    from vjepa2_hf.probe import VJEPA2ForActionAnticipation, VJEPA2ForVideoClassification

    from .conftest import tiny_config

    args = TrainingArguments(str(tmp_path), use_cpu=True, report_to=[])
    for model in (VJEPA2ForVideoClassification(tiny_config(num_labels=3)),
                  VJEPA2ForActionAnticipation(tiny_config(num_verbs=2, num_nouns=2, num_actions=3))):
        assert Trainer(model=model, args=args).model_accepts_loss_kwargs is False, type(model).__name__
