"""The synthetic moving-shapes generator: determinism, labels that match the motion (checked on decoded files), split."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from vjepa2_hf.cli import main as cli_main
from vjepa2_hf.video.decoding import read_video
from vjepa2_hf.video.synthetic import (
    SPEED_LEVELS,
    TURN_BY_SHAPE,
    generate_motion_dataset,
    render_motion_clip,
    sample_motion_spec,
)


def _centroids(frames: np.ndarray, background) -> np.ndarray:
    """Centroid (x, y) of the pixels that differ from the background, per frame: [T, 2]."""
    diff = np.abs(frames.astype(np.int32) - np.asarray(background, dtype=np.int32)).max(-1) > 40
    ys, xs = np.mgrid[0 : frames.shape[1], 0 : frames.shape[2]]
    out = []
    for m in diff:
        assert m.sum() > 0, "object not visible"
        out.append([xs[m].mean(), ys[m].mean()])
    return np.asarray(out)


def _direction_class(d: np.ndarray) -> int:
    angle = math.atan2(-d[1], d[0])  # y grows downwards
    return int(round(angle / (math.pi / 4))) % 8


def test_render_is_deterministic_and_uint8():
    a = render_motion_clip(seed=3, num_frames=16, size=64)
    b = render_motion_clip(seed=3, num_frames=16, size=64)
    c = render_motion_clip(seed=4, num_frames=16, size=64)
    assert a.dtype == np.uint8 and a.shape == (16, 64, 64, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("label", range(8))
def test_direction_label_matches_motion(label):
    spec = sample_motion_spec(np.random.default_rng(label), task="direction", label=label, num_frames=16, size=64)
    frames = render_motion_clip(spec)
    c = _centroids(frames, spec.background)
    travel = c[-1] - c[0]
    assert np.linalg.norm(travel) > 0.2 * 64 * 0.9  # clearly visible: at least ~20% of the frame
    assert _direction_class(travel) == label
    # The object stays inside the frame: its mask never touches the border on the far side of the motion.
    radius = spec.objects[0].radius
    assert radius >= 0.09 * 64 - 1e-6


def test_speed_classes_are_ordered():
    speeds = []
    for label in range(3):
        spec = sample_motion_spec(np.random.default_rng(10 + label), task="speed", label=label, size=64)
        c = _centroids(render_motion_clip(spec), spec.background)
        speeds.append(np.linalg.norm(c[-1] - c[0]) / 15 / 64)
        assert abs(speeds[-1] - SPEED_LEVELS[label]) < 0.35 * SPEED_LEVELS[label]
    assert speeds[0] < speeds[1] < speeds[2]


def _count_components(mask: np.ndarray) -> int:
    seen = np.zeros_like(mask, dtype=bool)
    n = 0
    for y, x in zip(*np.nonzero(mask)):
        if seen[y, x]:
            continue
        n += 1
        stack = [(y, x)]
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                ny, nx = cy + dy, cx + dx
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
    return n


@pytest.mark.parametrize("label", range(4))
def test_count_label_matches_objects(label):
    spec = sample_motion_spec(np.random.default_rng(100 + label), task="count", label=label, size=64)
    frames = render_motion_clip(spec)
    assert spec.count == label + 1
    for t in (0, 7, 15):  # objects never touch: the count is visible in every frame
        mask = np.abs(frames[t].astype(int) - np.asarray(spec.background)).max(-1) > 40
        assert _count_components(mask) == label + 1


def test_anticipation_second_motion_follows_shape_rule():
    for seed in range(6):
        spec = sample_motion_spec(np.random.default_rng(seed), task="anticipation", num_frames=16, size=64)
        obj = spec.objects[0]
        assert spec.switch_frame == 8
        assert obj.second_direction == (obj.direction + TURN_BY_SHAPE[obj.shape]) % 8 == spec.label
        c = _centroids(render_motion_clip(spec), spec.background)
        assert _direction_class(c[8] - c[0]) == obj.direction
        assert _direction_class(c[15] - c[8]) == obj.second_direction


def test_generate_dataset_files_split_and_labels_through_the_codec(synth_direction):
    root = synth_direction
    info = json.load(open(os.path.join(root, "dataset_info.json")))
    assert info["num_train"] + info["num_test"] == 64 and info["num_test"] == 16
    rows = [json.loads(line) for line in open(os.path.join(root, "metadata.jsonl"))]
    assert len(rows) == 64
    # Balanced labels, stratified split: 8 per class, 2 held out per class.
    for c in range(8):
        assert sum(r["label"] == c for r in rows) == 8
        assert sum(r["label"] == c and r["split"] == "test" for r in rows) == 2
    # CSV in the official "path label" format, paths relative to the folder.
    lines = open(os.path.join(root, "train.csv")).read().split("\n")
    lines = [line for line in lines if line]
    assert len(lines) == 48
    for line in lines[:5]:
        path, label = line.split(" ")
        assert os.path.isfile(os.path.join(root, path)) and 0 <= int(label) < 8
    # The decoded mp4 shows the labelled motion (h264 round trip).
    wrong = 0
    for r in rows[:16]:
        frames = read_video(os.path.join(root, r["path"]))
        assert frames.shape == (16, 32, 32, 3)
        c = _centroids(frames, r["background"])
        wrong += _direction_class(c[-1] - c[0]) != r["label"]
    assert wrong == 0


def test_generation_is_deterministic(tmp_path):
    a = generate_motion_dataset(tmp_path / "a", 40, size=32, seed=7, task="speed")
    b = generate_motion_dataset(tmp_path / "b", 40, size=32, seed=7, task="speed")
    ma = [json.loads(x) for x in open(os.path.join(a, "metadata.jsonl"))]
    mb = [json.loads(x) for x in open(os.path.join(b, "metadata.jsonl"))]
    assert ma == mb
    fa = read_video(os.path.join(a, ma[3]["path"]))
    fb = read_video(os.path.join(b, mb[3]["path"]))
    assert np.array_equal(fa, fb)
    assert all(
        open(os.path.join(a, r["path"]), "rb").read() == open(os.path.join(b, r["path"]), "rb").read() for r in ma
    )
    # overwrite=False with the same parameters is a no-op
    mtime = os.path.getmtime(os.path.join(a, "metadata.jsonl"))
    generate_motion_dataset(tmp_path / "a", 40, size=32, seed=7, task="speed", overwrite=False)
    assert os.path.getmtime(os.path.join(a, "metadata.jsonl")) == mtime


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="size"):
        generate_motion_dataset(tmp_path, 4, size=33)
    with pytest.raises(ValueError, match="task"):
        generate_motion_dataset(tmp_path, 4, task="colour")
    with pytest.raises(ValueError, match="num_videos"):
        generate_motion_dataset(tmp_path, 0)
    with pytest.raises(ValueError, match="label"):
        sample_motion_spec(0, task="speed", label=3)


def test_cli_synth(tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli_main(["synth", "--output-dir", str(out), "--num-videos", "12", "--task", "anticipation", "--size", "32"]) == 0
    assert "wrote" in capsys.readouterr().out
    info = json.load(open(out / "dataset_info.json"))
    assert info["task"] == "anticipation" and info["num_classes"] == 8 and info["switch_frame"] == 8
    assert len(open(out / "train.csv").read().split()) == 2 * info["num_train"]
