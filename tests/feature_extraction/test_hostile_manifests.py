"""Hostile inputs to corpus jobs (`vjepa2-hf embed`): odd file names and folders, odd manifests, failed starts,
concurrent jobs, exit codes. Each test is one case of issue 21; each failed on the code before its fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from vjepa2_hf.cli import main
from vjepa2_hf.feature_extraction.parquet_shards import ShardLayout

from .corpus import write_good_clips

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
       "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")])}
FAST = ["--num-frames", "2", "--num-workers", "0", "--no-progress", "--batch-size", "4"]


def _embed(capsys, *args) -> tuple[int, list[str], str]:
    """(exit status, the command's error lines on stderr, stdout) of `vjepa2-hf embed` run in this process."""
    code = main(["embed", *map(str, args), *FAST])
    captured = capsys.readouterr()
    return code, [line for line in captured.err.splitlines() if "vjepa2-hf embed:" in line], captured.out


def _rows(out: Path) -> list[dict]:
    return [row for shard in sorted((out / "data").glob("shard-*.parquet")) for row in pq.read_table(shard).to_pylist()]


def _clips(folder: Path, count: int) -> list[str]:
    return write_good_clips(folder, count, size=32, num_frames=2)


# ---------------------------------------------------------------- every input makes a row


def test_file_names_that_are_not_utf8_are_kept_exactly(tmp_path, capsys):
    folder = tmp_path / "videos"
    good, other, *_ = _clips(folder, 10)  # 1 bad input in 10: within the default --max-error-rate
    raw_good = os.fsencode(folder) + b"/caf\xe9.mp4"  # Latin-1 bytes: not UTF-8
    raw_bad = os.fsencode(folder) + b"/broken\xff\xfe.mp4"
    os.rename(os.fsencode(good), raw_good)
    with open(raw_bad, "wb") as f:
        f.write(b"not a video")
    code, errors, stdout = _embed(capsys, folder, "--output-dir", tmp_path / "out")
    assert code == 0, errors
    rows = {row["path_bytes"] or os.fsencode(row["path"]): row for row in _rows(tmp_path / "out")}
    assert len(rows) == 11 and {raw_bad, raw_good, os.fsencode(other)} <= set(rows)
    assert rows[raw_good]["status"] == "ok" and rows[raw_good]["path"].endswith("caf\\xe9.mp4")
    assert rows[raw_bad]["status"] == "error" and rows[raw_bad]["path"].endswith("broken\\xff\\xfe.mp4")
    assert rows[os.fsencode(other)]["path_bytes"] is None and rows[os.fsencode(other)]["path"] == other
    listed = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text("utf-8").splitlines()]
    assert [bytes.fromhex(e["path_bytes_hex"]) for e in listed] == [raw_bad]
    assert "broken\\xff\\xfe.mp4" in stdout  # the summary names the bad file


def test_symlinked_unlistable_and_looping_folders_all_make_rows(tmp_path, capsys, monkeypatch):
    folder, outside = tmp_path / "videos", tmp_path / "elsewhere"
    _clips(folder / "real", 20)  # 2 bad inputs in 24: within the default --max-error-rate
    _clips(outside, 1)
    _clips(folder / "locked", 1)
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    (folder / "real" / "loop").symlink_to(folder, target_is_directory=True)  # would recurse forever
    (folder / "gone.mp4").symlink_to(tmp_path / "deleted.mp4")  # a broken link
    locked, scandir = str(folder / "locked"), os.scandir

    def refusing_scandir(path="."):  # what a folder without read permission does (the tests may run as root)
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    code, errors, _ = _embed(capsys, folder, "--output-dir", tmp_path / "out")
    assert code == 0, errors
    rows = {Path(row["path"]).relative_to(folder).as_posix(): row for row in _rows(tmp_path / "out")}
    real = [f"real/clip_{i:03d}.mp4" for i in range(20)]
    assert list(rows) == ["gone.mp4", "linked/clip_000.mp4", "locked", *real]
    assert rows["linked/clip_000.mp4"]["status"] == rows["real/clip_000.mp4"]["status"] == "ok"
    assert rows["locked"]["status"] == "error" and "Permission denied" in rows["locked"]["error"]
    assert rows["gone.mp4"]["status"] == "error" and "not found" in rows["gone.mp4"]["error"]


# ---------------------------------------------------------------- manifests: metadata kept, bad rows named


def test_columns_named_like_output_columns_are_renamed_not_dropped(tmp_path, capsys):
    (clip,) = _clips(tmp_path, 1)
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"path,status,embedding,error,label\n{clip},reviewed,none,0.5,cat\n")
    code, errors, _ = _embed(capsys, manifest, "--output-dir", tmp_path / "out")
    assert code == 0, errors
    (row,) = _rows(tmp_path / "out")
    assert row["status"] == "ok" and row["error"] is None and len(row["embedding"]) == 64
    assert (row["status_metadata"], row["embedding_metadata"], row["error_metadata"], row["label"]) == (
        "reviewed", "none", "0.5", "cat")


def test_jsonl_keys_that_first_appear_after_the_first_row_are_kept(tmp_path, capsys):
    clips = _clips(tmp_path, 3)
    rows = [{"path": clips[0]}, {"path": clips[1], "caption": "a dog"}, {"path": clips[2], "score": 3}]
    manifest = tmp_path / "list.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, errors, _ = _embed(capsys, manifest, "--output-dir", tmp_path / "out")
    assert code == 0, errors
    out = _rows(tmp_path / "out")
    assert [r["caption"] for r in out] == [None, "a dog", None] and [r["score"] for r in out] == [None, None, 3]


def test_csv_saved_with_a_byte_order_mark_reads(tmp_path, capsys):
    clips = _clips(tmp_path, 2)
    manifest = tmp_path / "excel.csv"
    manifest.write_bytes(("path,label\n" + "".join(f"{c},{i}\n" for i, c in enumerate(clips))).encode("utf-8-sig"))
    code, errors, _ = _embed(capsys, manifest, "--output-dir", tmp_path / "out")
    assert code == 0, errors
    rows = _rows(tmp_path / "out")
    assert [(r["path"], r["label"]) for r in rows] == [(clips[0], "0"), (clips[1], "1")]  # CSV values are text


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("extra.csv", "path,label\na.mp4,1\nb.mp4,2,surplus\n", "line 3 has 3 fields"),
        ("array.jsonl", '{"path": "a.mp4"}\n["b.mp4"]\n', "line 2 is a JSON list"),
        ("number.jsonl", '{"path": "a.mp4"}\n\n7\n', "line 3 is a JSON int"),
        ("twice.csv", "path,label,label\na.mp4,1,2\n", "names the column(s) 'label' more than once"),
        ("huge.csv", "path,label\na.mp4," + "x" * 200_000 + "\n", "not a readable CSV file (field larger than"),
    ],
)
def test_malformed_manifest_rows_are_one_line_errors_naming_the_line(tmp_path, capsys, name, text, expected):
    manifest = tmp_path / name
    manifest.write_text(text)
    code, errors, _ = _embed(capsys, manifest, "--output-dir", tmp_path / "out")
    assert code == 2 and len(errors) == 1, errors
    assert errors[0].startswith("vjepa2-hf embed: error: ") and str(manifest) in errors[0] and expected in errors[0]
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_manifest_rows_without_a_path_get_error_rows(tmp_path, capsys):
    clips = _clips(tmp_path, 10)
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,label\n" + "".join(f"{c},{i}\n" for i, c in enumerate(clips[:5])) + ",orphan\n"
                        + "".join(f"{c},{i}\n" for i, c in enumerate(clips[5:], start=5)))
    code, errors, _ = _embed(capsys, manifest, "--output-dir", tmp_path / "out")
    assert code == 0, errors
    rows = _rows(tmp_path / "out")
    assert len(rows) == 11 and rows[5]["label"] == "orphan" and rows[5]["status"] == "error"
    assert rows[5]["error"] == "ValueError: manifest row 6 has no 'path' value"


def test_a_manifest_that_is_not_utf8_is_named(tmp_path, capsys):
    manifest = tmp_path / "latin1.csv"
    manifest.write_bytes("path,label\nclip.mp4,caf\xe9\n".encode("latin-1"))
    code, errors, _ = _embed(capsys, manifest, "--output-dir", tmp_path / "out")
    assert code == 2 and len(errors) == 1, errors
    assert str(manifest) in errors[0] and "not UTF-8" in errors[0]


# ---------------------------------------------------------------- exit codes mean something


def test_a_job_that_embeds_nothing_exits_2(tmp_path, capsys):
    manifest = tmp_path / "missing.csv"
    manifest.write_text("path\n" + "".join(f"gone_{i}.mp4\n" for i in range(5)))
    code, errors, _ = _embed(capsys, manifest, "--output-dir", tmp_path / "out")
    assert code == 2 and len(errors) == 1, errors
    assert "5 of 5 inputs could not be embedded" in errors[0] and "nothing embedded" in errors[0]
    assert len(_rows(tmp_path / "out")) == 5  # the output is still complete: every input has its error row
    for i in range(3):  # every file present, none a video
        (tmp_path / "broken" / f"clip_{i}.mp4").parent.mkdir(exist_ok=True)
        (tmp_path / "broken" / f"clip_{i}.mp4").write_bytes(b"\0" * 100)
    code, errors, _ = _embed(capsys, tmp_path / "broken", "--output-dir", tmp_path / "out2", "--max-error-rate", "1")
    assert code == 2 and len(errors) == 1 and "3 of 3 inputs could not be embedded" in errors[0], errors


def test_bad_inputs_above_max_error_rate_exit_2(tmp_path, capsys):
    clips = _clips(tmp_path, 2)
    manifest = tmp_path / "list.csv"
    manifest.write_text("path\n" + "".join(f"{c}\n" for c in clips) + "gone.mp4\n")
    code, errors, _ = _embed(capsys, manifest, "--output-dir", tmp_path / "a")  # default 0.1; 1 of 3 is bad
    assert code == 2 and len(errors) == 1 and "1 of 3 inputs" in errors[0] and "--max-error-rate" in errors[0]
    code, errors, out = _embed(capsys, manifest, "--output-dir", tmp_path / "b", "--max-error-rate", "0.5")
    assert code == 0 and "2 embedded, 1 skipped" in out, errors
    code, errors, _ = _embed(capsys, manifest, "--output-dir", tmp_path / "c", "--max-error-rate", "1.5")
    assert code == 2 and "max_error_rate" in errors[0] and not (tmp_path / "c").exists()


# ---------------------------------------------------------------- nothing left behind, no two writers


def test_a_start_that_fails_validation_does_not_block_the_corrected_rerun(tmp_path, capsys):
    (clip,) = _clips(tmp_path, 1)
    code, errors, _ = _embed(capsys, clip, "--output-dir", tmp_path / "out", "--layers", "99")
    assert code == 2 and "layers" in errors[0] and "99" in errors[0]
    assert not (tmp_path / "out" / "job.json").exists()
    code, errors, _ = _embed(capsys, clip, "--output-dir", tmp_path / "out", "--layers", "1")
    assert code == 0, errors


def test_a_job_file_with_no_shard_beside_it_is_replaced(tmp_path, capsys):
    (clip,) = _clips(tmp_path, 1)
    (tmp_path / "out").mkdir()  # a start killed before its first shard: job.json of other settings, no data
    (tmp_path / "out" / "job.json").write_text(json.dumps({"num_inputs": 1, "sampling": {"num_frames": 16}}))
    code, errors, _ = _embed(capsys, clip, "--output-dir", tmp_path / "out")
    assert code == 0, errors
    assert json.loads((tmp_path / "out" / "job.json").read_text())["sampling"]["num_frames"] == 2


def test_a_second_job_on_a_folder_in_use_is_refused(tmp_path, capsys):
    (clip,) = _clips(tmp_path, 1)
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from vjepa2_hf.feature_extraction.job_lock import JobLock; "
         f"JobLock({str(out)!r}).acquire(); print('locked', flush=True); sys.stdin.read()"],
        env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, errors, _ = _embed(capsys, clip, "--output-dir", out)
        assert code == 2 and len(errors) == 1, errors
        assert "being written by another job" in errors[0] and f"pid {holder.pid}" in errors[0]
        assert not list(out.glob("data/*"))
    finally:
        holder.communicate("", timeout=60)
    code, errors, _ = _embed(capsys, clip, "--output-dir", out)  # the lock ended with its process: no stale lock
    assert code == 0, errors


def test_temporary_shard_names_are_per_process(tmp_path):
    layout = ShardLayout(tmp_path, 10, 5)
    assert layout.temp_path(0).name == f".shard-00000.parquet.tmp.{os.getpid()}"
    assert layout.temp_path(0) != layout.temp_path(1)


def test_rows_are_unchanged_by_these_checks(tmp_path, capsys):
    """The ordinary path still embeds: values finite and distinct per video."""
    clips = _clips(tmp_path, 2)
    code, errors, _ = _embed(capsys, *clips, "--output-dir", tmp_path / "out")
    assert code == 0, errors
    a, b = (np.asarray(r["embedding"]) for r in _rows(tmp_path / "out"))
    assert np.isfinite(a).all() and not np.allclose(a, b)
