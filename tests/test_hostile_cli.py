"""The command line under hostile input: every bad value is refused where it is parsed, before a model is built or a
file written, with one line on stderr and exit status 2 (1 is kept for our bugs). One test per case of issue 21 /
issue 23 that this module covers; the recipe and config cases are in `test_hostile_configs.py`."""

from __future__ import annotations

import json
import os

import pytest
import torch

from vjepa2_hf.cli import main


def _run(capfd, argv: list[str]) -> tuple[int, list[str], str]:
    """`vjepa2-hf ARGV` in this process: (exit status, non-empty stderr lines, stdout)."""
    code = main(argv)
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip() and "Warning" not in line and "warn(" not in line]
    return code, lines, out


def _one_line_error(capfd, argv: list[str], *needles: str) -> str:
    code, lines, out = _run(capfd, argv)
    assert code == 2, (code, lines)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"vjepa2-hf {argv[0]}: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in out and "usage:" not in out
    return lines[0]


# --- devices ------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA device")
def test_device_cuda_without_a_gpu_is_a_usage_error(capfd, tmp_path):
    _one_line_error(capfd, ["embed", "--device", "cuda", "--output-dir", str(tmp_path / "e")],
                    "argument --device", "'cuda' is not available on this machine")
    assert not (tmp_path / "e").exists()


def test_device_banana_is_a_usage_error(capfd, tmp_path):
    _one_line_error(capfd, ["embed", "--device", "banana", "--output-dir", str(tmp_path / "e")],
                    "argument --device", "expected a torch device", "'banana'")
    assert not (tmp_path / "e").exists()


# --- argparse: one line and a hint, on every command --------------------------------------------------------------


@pytest.mark.parametrize("command", ["quickstart", "embed", "feature-map", "convert-official", "export", "synth",
                                     "pretrain", "probe", "train-ac", "plan", "train-vlm"])
def test_a_parse_error_is_one_line_with_a_help_hint_not_the_usage(capfd, command):
    line = _one_line_error(capfd, [command, "--not-an-option", "1"])
    assert "--not-an-option" in line or "required" in line, line  # commands with required options name those first
    assert line.endswith(f"(see 'vjepa2-hf {command} --help')"), line


def test_an_unknown_command_is_one_line_with_did_you_mean(capfd):
    code, lines, _ = _run(capfd, ["embedd"])
    assert code == 2 and len(lines) == 1 and "did you mean 'embed'?" in lines[0], lines


# --- values checked where they are parsed -------------------------------------------------------------------------


@pytest.mark.parametrize("option, value, expected", [
    ("--fps", "0", "a number > 0"), ("--fps", "-8", "a number > 0"), ("--fps", "nan", "a number > 0"),
    ("--num-videos", "0", "an integer >= 1"), ("--frames", "-1", "an integer >= 1"),
    ("--held-out-fraction", "1.5", "a number in (0, 1)"),
])
def test_synth_refuses_values_out_of_range_before_writing(capfd, tmp_path, option, value, expected):
    argv = ["synth", "--output-dir", str(tmp_path / "s"), "--num-videos", "4", "--frames", "4", "--size", "16"]
    _one_line_error(capfd, [*argv, option, value], f"argument {option}", expected)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("option, value, field", [("--frames_per_clip", "0", "frames_per_clip"),
                                                  ("--num_train_epochs", "-1", "num_train_epochs"),
                                                  ("--num-train-epochs", "0", "num_train_epochs")])
def test_probe_refuses_values_that_would_train_nothing(capfd, tmp_path, option, value, field):
    # --data does not exist: the value is refused first, before any data or model is read
    _one_line_error(capfd, ["probe", "--model", "tiny", "--data", str(tmp_path / "none"), option, value,
                            "--output-dir", str(tmp_path / "p")], f"`{field}` must be")
    assert not (tmp_path / "p").exists()


def test_quickstart_small_does_not_override_explicit_options(monkeypatch, capfd, tmp_path):
    import vjepa2_hf.workflows.quickstart as workflow

    seen = {}

    def fake_run(settings):
        seen["settings"] = settings
        raise ValueError("stop before running")

    monkeypatch.setattr(workflow, "run_quickstart", fake_run)
    _one_line_error(capfd, ["quickstart", "--small", "--num-videos", "40", "--probe-epochs", "5",
                            "--output-dir", str(tmp_path)], "stop before running")
    settings = seen["settings"]
    assert (settings.num_videos, settings.probe_epochs) == (40, 5)  # explicit
    assert settings.pretrain_steps == workflow.SMALL_SETTINGS["pretrain_steps"]  # --small's, not given


# --- messages that say what happened ------------------------------------------------------------------------------


def test_an_error_line_is_not_glued_to_a_progress_bar(capsys):
    from tqdm.auto import tqdm

    from vjepa2_hf.commands.errors import run_command

    def job():
        bar = tqdm(total=10, desc="embedding")
        bar.update(3)
        raise ValueError("bad input")

    assert run_command("embed", job) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "vjepa2-hf embed: error: bad input", repr(err[-200:])


@pytest.mark.parametrize("value", ["nonexistent/dir/x", "my folder", "runs//x"])
def test_a_missing_local_path_is_named_not_a_repo_id_complaint(capfd, tmp_path, value):
    line = _one_line_error(capfd, ["embed", "--model", value, "--output-dir", str(tmp_path / "e")],
                           f"the path {value} does not exist")
    assert "Repo id" not in line


def test_a_malicious_pickle_is_refused_as_unsafe(capfd, tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo planted",))

    torch.save({"encoder": {"w": torch.zeros(2)}, "extra": Payload()}, tmp_path / "vitl.pt")
    line = _one_line_error(capfd, ["convert-official", "--checkpoint", str(tmp_path / "vitl.pt"), "--arch", "tiny",
                                   "--output-dir", str(tmp_path / "out")], "refused as unsafe", "system")
    assert "weights_only=False" not in line and "truncated" not in line and "retry" not in line.lower()
    assert not (tmp_path / "out").exists()


def test_plan_on_a_folder_that_is_no_world_model_prints_no_load_report(capfd, tmp_path, saved_tiny_encoder):
    _one_line_error(capfd, ["plan", "--model", str(saved_tiny_encoder), "--output-dir", str(tmp_path / "p")],
                    "is not a VJEPA2WorldModel folder")


def test_feature_map_checks_the_video_before_loading_the_model(capfd, tmp_path):
    bad_model = tmp_path / "model"
    bad_model.mkdir()
    (bad_model / "config.json").write_text("[1, 2]")  # loading it would fail with another message
    _one_line_error(capfd, ["feature-map", str(tmp_path / "missing.mp4"), "--model", str(bad_model),
                            "--output-dir", str(tmp_path / "maps")], "video not found", "missing.mp4")


# --- manifests: rows of the wrong shape are the user's error, not ours ---------------------------------------------


@pytest.mark.parametrize("name, text, expected", [
    ("m.csv", "path,label\na.mp4,1,extra\n", "line 2 has 3 fields, the header 2"),
    ("m.jsonl", '{"path": "a.mp4"}\n[1, 2]\n', "line 2 is a JSON list, expected an object"),
])
def test_manifest_rows_of_the_wrong_shape_are_usage_errors(capfd, tmp_path, name, text, expected):
    (tmp_path / name).write_text(text)
    _one_line_error(capfd, ["embed", str(tmp_path / name), "--output-dir", str(tmp_path / "e"), "--num-workers", "0"],
                    expected)


# --- quiet means quiet --------------------------------------------------------------------------------------------


def test_embed_no_progress_shows_no_loading_bar(capfd, tmp_path, saved_tiny_encoder):
    from vjepa2_hf.video.encoding import write_video

    frames = (torch.rand(4, 32, 32, 3) * 255).to(torch.uint8).numpy()
    video = write_video(tmp_path / "clip.mp4", frames, fps=8, codec="ffv1")
    code, lines, out = _run(capfd, ["embed", str(video), "--model", str(saved_tiny_encoder), "--output-dir",
                                    str(tmp_path / "e"), "--num-workers", "0", "--num-frames", "4", "--no-progress"])
    assert code == 0, lines
    assert not [line for line in lines if "%|" in line or "Loading weights" in line], lines
    assert len(list((tmp_path / "e" / "data").glob("*.parquet"))) == 1, out  # it did its job, quietly


def test_probe_no_progress_prints_only_the_summary(capfd, tmp_path):
    assert main(["synth", "--output-dir", str(tmp_path / "d"), "--num-videos", "16", "--frames", "4", "--size", "16",
                 "--quiet"]) == 0
    capfd.readouterr()
    code, lines, out = _run(capfd, ["probe", "--model", "tiny", "--data", str(tmp_path / "d"), "--num-train-epochs",
                                    "2", "--output-dir", str(tmp_path / "p"), "--no-progress"])
    assert code == 0, lines
    assert not [line for line in lines if "%|" in line], lines  # no bars
    assert "{'" not in out and "{'" not in "\n".join(lines)  # no per-step / per-epoch dicts
    assert out.startswith(f"saved {tmp_path / 'p'}") and "eval_accuracy" in out, out
    assert len(json.loads((tmp_path / "p" / "config.json").read_text())["id2label"]) == 8


def test_the_quickstart_probe_path_is_quiet_too(capfd, tmp_path):
    """The quickstart trains its probes with `quiet_logs=True` (a bar without log lines): with progress off, no bar."""
    from vjepa2_hf.probe.run_video_classification import (
        DataArguments, ModelArguments, default_training_arguments, run_probe,
    )

    assert main(["synth", "--output-dir", str(tmp_path / "d"), "--num-videos", "16", "--frames", "4", "--size", "16",
                 "--quiet"]) == 0
    capfd.readouterr()
    run_probe(ModelArguments(model="tiny", cache_features=True), DataArguments(data=str(tmp_path / "d")),
              default_training_arguments(str(tmp_path / "p"), num_train_epochs=2, use_cpu=True),
              progress=False, quiet_logs=True)
    out, err = capfd.readouterr()
    assert "%|" not in err and "{'" not in out + err, (out[-300:], err[-300:])
