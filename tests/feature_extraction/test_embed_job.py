"""`vjepa2-hf embed` / `embed_videos` on a corpus with bad files, resumed after kill -9, split over 2 processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from vjepa2_hf import embed_videos
from vjepa2_hf.cli import main
from vjepa2_hf.feature_extraction import load_encoder_and_processor

from .corpus import BAD, GOOD, write_good_clips, write_mixed_corpus

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
       "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")])}


def _rows(output_dir) -> datasets.Dataset:
    return datasets.load_dataset("parquet", data_dir=str(Path(output_dir) / "data"), split="train",
                                 cache_dir=str(Path(output_dir).parent / "hf_cache"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mixed_folder_every_good_file_a_row_every_bad_one_listed(tmp_path, capsys):
    folder = write_mixed_corpus(tmp_path / "videos")
    out = tmp_path / "emb"
    code = main(["embed", str(folder), "--output-dir", str(out), "--num-frames", "8", "--batch-size", "3",
                 "--num-workers", "2", "--shard-size", "4", "--no-progress", "--max-error-rate", "0.5"])
    assert code == 0
    assert "5 embedded, 4 skipped" in capsys.readouterr().out
    rows = _rows(out)
    assert [Path(p).name for p in rows["path"]] == sorted(GOOD + BAD)
    by_name = {Path(r["path"]).name: r for r in rows}
    for name in GOOD:
        assert by_name[name]["status"] == "ok" and by_name[name]["error"] is None, name
        emb = np.asarray(by_name[name]["embedding"])
        assert emb.shape == (64,) and np.isfinite(emb).all() and emb.std() > 0.01, name
    for name in BAD:
        assert by_name[name]["status"] == "error" and by_name[name]["embedding"] is None, name
    assert "empty file" in by_name["f_empty.mp4"]["error"]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [Path(e["path"]).name for e in errors] == list(BAD) and all(e["error"] for e in errors)
    # short videos repeat their last frame; a 1-frame file and an image are static clips
    assert by_name["d_three_frames.mp4"]["frame_indices"] == [[0, 1, 2, 2, 2, 2, 2, 2]]
    assert by_name["c_one_frame.mp4"]["frame_indices"] == [[0] * 8]
    assert by_name["a_landscape.mp4"]["num_video_frames"] == 24
    # the values are the encoder's on the processor's clip (the naive path), for both resolutions and short videos
    encoder, processor = load_encoder_and_processor("tiny", seed=0)
    for name in ("a_landscape.mp4", "b_portrait.mp4", "d_three_frames.mp4", "e_image.png"):
        with torch.no_grad():
            expected = encoder(processor(str(folder / name), num_frames=8)["pixel_values_videos"]).pooler_output[0]
        np.testing.assert_allclose(by_name[name]["embedding"], expected.numpy(), rtol=0, atol=1e-5)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["num_embedded"] == 5 and manifest["num_skipped"] == 4 and len(manifest["shards"]) == 3


def test_on_error_fail_exits_2_with_one_line_naming_the_first_bad_file(tmp_path):
    folder = write_mixed_corpus(tmp_path / "videos")
    command = [sys.executable, "-m", "vjepa2_hf.cli", "embed", str(folder), "--output-dir", str(tmp_path / "emb"),
               "--num-frames", "8", "--on-error", "fail", "--no-progress", "--num-workers", "0"]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("vjepa2-hf embed: error: ") and str(folder / "f_empty.mp4") in lines[0]
    assert "Traceback" not in done.stderr


def _embed_command(folder, out, *extra):
    return [sys.executable, "-m", "vjepa2_hf.cli", "embed", str(folder), "--output-dir", str(out), "--num-frames", "4",
            "--shard-size", "2", "--batch-size", "2", "--num-workers", "0", "--no-progress", "--max-error-rate", "0.5",
            *extra]


def test_resume_after_kill_9_gives_the_uninterrupted_output(tmp_path):
    folder = tmp_path / "videos"
    write_good_clips(folder, 24, size=96, num_frames=16)
    (folder / "clip_005.mp4").write_bytes(b"broken")  # a bad file in an early shard
    reference = tmp_path / "reference"
    assert subprocess.run(_embed_command(folder, reference), env=ENV, timeout=600).returncode == 0

    out = tmp_path / "killed"
    process = subprocess.Popen(_embed_command(folder, out), env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    first = out / "data" / "shard-00000.parquet"
    deadline = time.monotonic() + 300
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = sorted(p.name for p in (out / "data").glob("*.parquet"))
    assert first.exists() and len(done_before) < 12, done_before  # killed mid-job, after the first shard
    assert not (out / "manifest.json").exists()

    resumed = subprocess.run(_embed_command(folder, out), env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"this run: {24 - 2 * len(done_before)} videos" in resumed.stdout  # only the missing shards ran
    a, b = _rows(reference), _rows(out)
    assert a["path"] == b["path"] and a["status"] == b["status"] and a["error"] == b["error"]
    for x, y in zip(a["embedding"], b["embedding"]):
        assert (x is None and y is None) or np.array_equal(np.asarray(x), np.asarray(y))
    assert not list((out / "data").glob(".*.tmp*"))


def test_two_cpu_processes_write_the_rows_one_process_writes(tmp_path):
    folder = write_mixed_corpus(tmp_path / "videos")
    write_good_clips(folder / "more", 5, size=48, num_frames=10)
    single, double = tmp_path / "single", tmp_path / "double"
    assert subprocess.run(_embed_command(folder, single, "--layers", "0"), env=ENV, timeout=600).returncode == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "vjepa2_hf.cli",
               *_embed_command(folder, double, "--layers", "0")[3:]]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((double / "manifest.json").read_text())
    assert manifest["last_run"]["processes"] == 2  # world size 2 (gloo)
    assert "2 processes" in done.stdout
    a, b = _rows(single), _rows(double)
    assert len(a) == 14 and a["path"] == b["path"] and a["status"] == b["status"]
    for column in ("embedding", "layer_0_embedding"):
        for x, y in zip(a[column], b[column]):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=0, atol=1e-6)


def test_manifest_metadata_clips_tokens_and_layers(tmp_path):
    clips = write_good_clips(tmp_path / "videos", 3, size=64, num_frames=12)
    manifest = tmp_path / "list.jsonl"
    rows = [{"path": f"videos/{Path(c).name}", "label": i, "split": "train"} for i, c in enumerate(clips)]
    rows.append({"path": "videos/missing.mp4", "label": 9, "split": "test"})
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = embed_videos(manifest, tmp_path / "emb", num_frames=4, clips_per_video=2, clip_reduction="none",
                          output_tokens=True, layers=[0, -1], shard_size=3, progress=False)
    assert (result.num_embedded, result.num_skipped) == (3, 1)
    assert "FileNotFoundError" in result.errors[0]["error"]
    out = _rows(tmp_path / "emb")
    assert out["label"] == [0, 1, 2, 9] and out["split"] == ["train"] * 3 + ["test"]
    first = out[0]
    assert np.asarray(first["embedding"]).shape == (2, 64)  # one per clip
    tokens = np.asarray(first["tokens"])
    assert tokens.shape == (2, 2 * 8 * 8, 64)  # 4 frames / tubelet 2, 64 px / patch 8
    np.testing.assert_allclose(tokens.mean(1), first["embedding"], atol=1e-5)
    np.testing.assert_allclose(np.asarray(first["layer_-1_embedding"]), first["embedding"], atol=1e-5)
    assert first["frame_indices"] == [[0, 1, 3, 4], [6, 7, 9, 10]]
    assert not np.allclose(first["embedding"][0], first["embedding"][1])


def test_datasets_input_and_csv_manifest(tmp_path):
    clips = write_good_clips(tmp_path / "videos", 2, size=64, num_frames=8)
    ds = datasets.Dataset.from_dict({"video": clips, "caption": ["a", "b"]})
    result = embed_videos(ds, tmp_path / "from_ds", num_frames=4, progress=False)
    (tmp_path / "list.csv").write_text("file,caption\n" + "".join(f"{c},x{i}\n" for i, c in enumerate(clips)))
    embed_videos(tmp_path / "list.csv", tmp_path / "from_csv", num_frames=4, path_column="file", progress=False)
    a, b = _rows(tmp_path / "from_ds"), _rows(tmp_path / "from_csv")
    assert result.num_embedded == 2 and a["caption"] == ["a", "b"] and b["caption"] == ["x0", "x1"]
    np.testing.assert_array_equal(np.asarray(a["embedding"]), np.asarray(b["embedding"]))


def test_a_rerun_with_other_settings_is_refused(tmp_path):
    clips = write_good_clips(tmp_path / "videos", 1)
    embed_videos(clips, tmp_path / "emb", num_frames=4, progress=False)
    with pytest.raises(ValueError, match="different job .*sampling"):
        embed_videos(clips, tmp_path / "emb", num_frames=8, progress=False)
    again = embed_videos(clips, tmp_path / "emb", num_frames=8, overwrite=True, progress=False)
    assert again.num_embedded == 1 and again.processed == 1


def _embedded_against_float32(tmp_path, runtime: str, name: str, options: list[str]):
    """Three clips embedded in PyTorch float32 and with `options` (into `tmp_path/name`): the two embedding matrices,
    after checking both have the same rows; the clips folder and the common options."""
    import importlib.util

    if importlib.util.find_spec(runtime) is None:
        pytest.skip(f"{runtime} not installed (extra `deploy`)")
    write_good_clips(tmp_path / "videos", 3)
    videos = tmp_path / "videos"
    args = ["--num-frames", "8", "--batch-size", "2", "--num-workers", "0", "--no-progress"]
    assert main(["embed", str(videos), "--output-dir", str(tmp_path / "fp32"), *args]) == 0
    assert main(["embed", str(videos), "--output-dir", str(tmp_path / name), *options, *args]) == 0
    eager, other = _rows(tmp_path / "fp32"), _rows(tmp_path / name)
    assert other["path"] == eager["path"] and len(eager) >= 2
    matrices = (torch.tensor(np.asarray(other["embedding"])), torch.tensor(np.asarray(eager["embedding"])))
    return *matrices, videos, args


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_embed_backend_equals_torch(tmp_path, backend, capsys):
    """`vjepa2-hf embed --backend onnxruntime|openvino`: the same rows as PyTorch within 1e-4;
    per-block outputs need PyTorch and say so."""
    exported, eager, videos, args = _embedded_against_float32(tmp_path, backend, backend, ["--backend", backend])
    assert (tmp_path / backend / f"export-{backend}" / "export.json").is_file()
    torch.testing.assert_close(exported, eager, rtol=0, atol=1e-4)
    assert main(["embed", str(videos), "--output-dir", str(tmp_path / "bad"), "--backend", backend, "--layers", "1",
                 *args]) == 2
    assert "`layers` needs backend='torch'" in capsys.readouterr().err


def test_embed_int8_is_its_own_job(tmp_path, capsys):
    """`vjepa2-hf embed --backend onnxruntime --int8`: the int8 graph in its own export folder, rows close to float32
    (cosine > 0.99) but not equal; the int8 setting is part of the job, so a float32 rerun in the same folder is
    refused; `--int8` without ONNX Runtime is a one-line error."""
    a, b, videos, args = _embedded_against_float32(tmp_path, "onnxruntime", "int8", ["--backend", "onnxruntime",
                                                                                     "--int8"])
    int8 = tmp_path / "int8"
    assert (int8 / "export-onnxruntime-int8" / "export.json").is_file()
    assert not (int8 / "export-onnxruntime").exists()
    assert not torch.equal(a, b)
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.99
    capsys.readouterr()
    assert main(["embed", str(videos), "--output-dir", str(int8), "--backend", "onnxruntime", *args]) == 2
    assert "int8" in capsys.readouterr().err
    assert main(["embed", str(videos), "--output-dir", str(tmp_path / "bad"), "--int8", *args]) == 2
    err = capsys.readouterr().err
    assert "`int8` runs the ONNX Runtime int8 graph: use backend='onnxruntime', got backend='torch'" in err
    assert len(err.strip().splitlines()) == 1


def test_embed_openvino_bfloat16(tmp_path, capsys):
    """`vjepa2-hf embed --backend openvino --dtype bfloat16`: OpenVINO's bf16 inference of the exported graph, rows
    within bf16 rounding of the float32 rows (cosine > 0.999, not equal); ONNX Runtime refuses bfloat16 in one line."""
    a, b, videos, args = _embedded_against_float32(tmp_path, "openvino", "bf16", ["--backend", "openvino", "--dtype",
                                                                                  "bfloat16"])
    assert not torch.equal(a, b)
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.999
    capsys.readouterr()
    assert main(["embed", str(videos), "--output-dir", str(tmp_path / "bad"), "--backend", "onnxruntime", "--dtype",
                 "bfloat16", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "backend='onnxruntime' runs the exported graph in float32 (int8: a quantized graph), got dtype bfloat16" in err
    assert len(err.splitlines()) == 1
