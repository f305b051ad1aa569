"""A decompression-bomb image (a few hundred bytes declaring 20000 x 20000 pixels) is a bad file everywhere a file is
read (issue 21): the decoder names it, the pretraining source skips it, `feature-map` exits 2 with one line, the
corpus job gives it an error row. These failed on the code before the fix (Pillow's error escaped as a bug), except
the corpus job's, which caught every exception already (kept as a guard)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from vjepa2_hf.cli import main
from vjepa2_hf.pretraining.video_source import VideoClipSource
from vjepa2_hf.video.bad_files import BAD_FILE_ERRORS
from vjepa2_hf.video.decoding import VideoDecodeError, VideoReader
from vjepa2_hf.video.encoding import write_video

from hostile_files import write_png_bomb


def test_the_decoder_raises_a_video_decode_error_naming_the_file(tmp_path):
    bomb = write_png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 1000
    with pytest.raises(VideoDecodeError, match=r"bomb\.png: image too large to decode, a possible decompression bomb"):
        VideoReader(bomb)


def test_pillows_own_error_is_classified_as_a_bad_file():
    from PIL.Image import DecompressionBombError

    assert issubclass(DecompressionBombError, BAD_FILE_ERRORS)


def test_the_pretraining_source_skips_it(tmp_path):
    write_png_bomb(tmp_path / "a_bomb.png")
    write_video(tmp_path / "b_good.mp4", np.full((8, 48, 48, 3), 90, dtype=np.uint8), fps=8)
    source = VideoClipSource(tmp_path, frames_per_clip=4, crop_size=32, train=False)
    clip = source[0]  # row 0 is the bomb: replaced by the next readable file
    assert clip.shape == (4, 3, 32, 32) and source.bad_files.count == 1
    assert source.bad_files.recent[0][0].endswith("a_bomb.png")


def test_feature_map_exits_2_with_one_line(tmp_path, capsys):
    bomb = write_png_bomb(tmp_path / "bomb.png")
    assert main(["feature-map", str(bomb), "--output-dir", str(tmp_path / "maps")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "vjepa2-hf feature-map:" in line]
    assert len(err) == 1 and err[0].startswith("vjepa2-hf feature-map: error: ") and "decompression bomb" in err[0]


def test_the_corpus_job_gives_it_an_error_row(tmp_path, capsys):
    (tmp_path / "videos").mkdir()
    write_png_bomb(tmp_path / "videos" / "bomb.png")
    for i in range(9):
        write_video(tmp_path / "videos" / f"clip_{i}.mp4", np.full((2, 32, 32, 3), 20 * i, dtype=np.uint8), fps=8)
    code = main(["embed", str(tmp_path / "videos"), "--output-dir", str(tmp_path / "out"), "--num-frames", "2",
                 "--num-workers", "0", "--no-progress"])  # 1 bad in 10: the default --max-error-rate 0.1
    assert code == 0, capsys.readouterr().err
    rows = pq.read_table(tmp_path / "out" / "data" / "shard-00000.parquet").to_pylist()
    (bad,) = [r for r in rows if r["status"] == "error"]
    assert bad["path"].endswith("bomb.png") and "decompression bomb" in bad["error"]
