"""Synthetic video QA from the package's moving-shapes videos: "Which way does the square move?".

Every clip shows one shape (circle, square or triangle) moving left, right, up or down (the four cardinal classes of
`vjepa2_hf.video.synthetic`'s direction task); the question names the shape and offers the four directions:

    Which way does the square move?
    (A) left
    (B) right
    (C) up
    (D) down

A single frame cannot answer it (the shape's position says nothing about its direction), so a model must read the
motion across frames: chance is 25%. Videos are real H.264 MP4 files written with PyAV, deterministic by seed.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..video.encoding import write_video
from ..video.synthetic import DIRECTION_NAMES, render_motion_clip, sample_motion_spec
from .qa_datasets import VideoQARecord, write_qa_records

DIRECTION_OPTIONS = ("left", "right", "up", "down")
QUESTION_TEMPLATE = "Which way does the {shape} move?"


def make_motion_qa(
    out_dir: str | os.PathLike,
    num_videos: int,
    *,
    num_frames: int = 8,
    size: int = 64,
    fps: float = 8,
    seed: int = 0,
    held_out_fraction: float = 0.25,
    shuffle_options: bool = False,
    free_form: bool = False,
) -> dict[str, Any]:
    """Write `num_videos` motion clips and their QA files (`train.jsonl`, `test.jsonl`) into `out_dir`.

    Args:
        out_dir: output folder (`videos/<index>.mp4`, `train.jsonl`, `test.jsonl`).
        num_videos: total clips; directions are balanced (clip `i` gets direction `perm[i] % 4`).
        num_frames, size, fps: clip geometry.
        seed: clip `i` depends only on `(seed, i)`.
        held_out_fraction: the last `round(fraction * num_videos)` clips (in index order) form the held-out split.
        shuffle_options: shuffle the option order per question (the answer letter then carries no prior).
        free_form: also add, for every training clip, the question without options and the direction word as the
            answer (a model trained on both formats can be scored by option-text likelihood as well as by letter).

    Returns:
        `{"train": path, "test": path, "num_train": int, "num_test": int}` (question counts).
    """
    if num_videos < 2:
        raise ValueError(f"`num_videos` must be >= 2 (a train and a held-out clip), got {num_videos}")
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"`held_out_fraction` must be in (0, 1), got {held_out_fraction}")
    out_dir = os.path.abspath(os.fspath(out_dir))
    os.makedirs(os.path.join(out_dir, "videos"), exist_ok=True)
    rng = np.random.default_rng([seed, 77])
    perm = rng.permutation(num_videos)
    n_test = max(1, int(round(held_out_fraction * num_videos)))
    records: dict[str, list[VideoQARecord]] = {"train": [], "test": []}
    for i in range(num_videos):
        direction = DIRECTION_OPTIONS[int(perm[i]) % 4]
        label = DIRECTION_NAMES.index(direction)
        spec = sample_motion_spec(
            np.random.default_rng([seed, i]), task="direction", label=label, num_frames=num_frames, size=size
        )
        frames = render_motion_clip(spec)
        path = write_video(os.path.join(out_dir, "videos", f"{i:05d}.mp4"), frames, fps=fps)
        options = list(DIRECTION_OPTIONS)
        if shuffle_options:
            options = [options[j] for j in np.random.default_rng([seed, i, 5]).permutation(4)]
        split = "test" if i >= num_videos - n_test else "train"
        question = QUESTION_TEMPLATE.format(shape=spec.objects[0].shape)
        records[split].append(
            VideoQARecord(
                video=path,
                question=question,
                options=options,
                answer=options.index(direction),
                qid=f"motion_{i:05d}",
                dimension=direction,
            )
        )
        if free_form and split == "train":
            records[split].append(
                VideoQARecord(
                    video=path,
                    question=question,
                    answer_text=direction,
                    qid=f"motion_{i:05d}_free",
                    dimension=direction,
                )
            )
    out: dict[str, Any] = {}
    for split, recs in records.items():
        out[split] = write_qa_records(recs, os.path.join(out_dir, f"{split}.jsonl"))
        out[f"num_{split}"] = len(recs)
    return out


__all__ = ["DIRECTION_OPTIONS", "QUESTION_TEMPLATE", "make_motion_qa"]
