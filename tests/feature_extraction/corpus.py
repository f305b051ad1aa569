"""A small corpus of the kinds of files real video folders contain, good and bad (written by each test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vjepa2_hf.video.encoding import write_video

GOOD = ("a_landscape.mp4", "b_portrait.mp4", "c_one_frame.mp4", "d_three_frames.mp4", "e_image.png")
BAD = ("f_empty.mp4", "g_random_bytes.mp4", "h_text.mp4", "i_truncated.mp4")


def _frames(num_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(1, height // 8, width // 8, 3), dtype=np.uint8).repeat(8, 1).repeat(8, 2)
    shift = np.arange(num_frames)[:, None, None, None] * 3
    return ((base.astype(np.int64) + shift) % 256).astype(np.uint8)


def write_mixed_corpus(folder: str | Path) -> Path:
    """Good files of two resolutions, a 1-frame and a 3-frame video, an image; an empty file, random bytes, a text
    file named .mp4 and a truncated mp4. Returns the folder."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_video(folder / GOOD[0], _frames(24, 48, 80, 0), fps=8)
    write_video(folder / GOOD[1], _frames(12, 96, 64, 1), fps=8)
    write_video(folder / GOOD[2], _frames(1, 64, 64, 2), fps=8)
    write_video(folder / GOOD[3], _frames(3, 56, 72, 3), fps=8)
    Image.fromarray(_frames(1, 40, 64, 4)[0]).save(folder / GOOD[4])
    (folder / BAD[0]).write_bytes(b"")
    (folder / BAD[1]).write_bytes(np.random.default_rng(5).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (folder / BAD[2]).write_text("this is not a video\n")
    whole = Path(write_video(folder / "tmp_whole.mp4", _frames(30, 64, 64, 6), fps=8)).read_bytes()
    (folder / BAD[3]).write_bytes(whole[: len(whole) // 2])
    (folder / "tmp_whole.mp4").unlink()
    return folder


def write_good_clips(folder: str | Path, count: int, size: int = 64, num_frames: int = 8) -> list[str]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_video(folder / f"clip_{i:03d}.mp4", _frames(num_frames, size, size, 100 + i), fps=8)
            for i in range(count)]
