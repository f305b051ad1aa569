"""Natural-content clips (issue 13): photographs from the scikit-image wheel, disjoint splits, labels that move."""

import numpy as np
import pytest

from vjepa2_hf.video.natural_synthetic import (
    NATURAL_TASKS,
    PHOTO_SPLITS,
    natural_content_available,
    num_natural_classes,
    render_natural_clip,
    sample_natural_spec,
)

pytestmark = pytest.mark.skipif(not natural_content_available(),
                                reason="needs the scikit-image photographs: pip install 'vjepa2-hf[natural]'")


def _photos(spec):
    return {spec.background} | {o.photo for o in spec.objects}


def test_splits_are_disjoint_and_respected():
    assert not set(PHOTO_SPLITS["pretrain"]) & set(PHOTO_SPLITS["heldout"])
    for task in NATURAL_TASKS:
        for i in range(30):
            for split in PHOTO_SPLITS:
                spec = sample_natural_spec(np.random.default_rng([3, i]), task, 8, 32, split)
                assert _photos(spec) <= set(PHOTO_SPLITS[split])
                assert 0 <= spec.label < num_natural_classes(task)


def test_clips_are_deterministic_and_moving():
    spec = sample_natural_spec(np.random.default_rng([0, 1]), "object_direction", 8, 48)
    a = render_natural_clip(spec)
    b = render_natural_clip(sample_natural_spec(np.random.default_rng([0, 1]), "object_direction", 8, 48))
    assert a.shape == (8, 48, 48, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a[0].astype(int) - a[-1].astype(int)).mean() > 1.0  # the object moved
    # a static-camera clip keeps its background: pixels far from the object path do not change
    assert (np.abs(a[0].astype(int) - a[-1].astype(int)).max(-1) == 0).mean() > 0.5


def test_pan_direction_moves_the_content():
    # camera pans right (label 0): content at frame t+1 is content at frame t shifted left
    for i in range(40):
        spec = sample_natural_spec(np.random.default_rng([7, i]), "camera", 8, 64)
        if spec.label == 0:
            break
    clip = render_natural_clip(spec).astype(float)
    shift = round(spec.pan_velocity[0])
    assert shift >= 1
    errors = {s: np.abs(clip[1, :, 10:50] - clip[0, :, 10 + s: 50 + s]).mean() for s in range(-6, 7)}
    assert min(errors, key=errors.get) == shift, errors


def test_labels_balanced_and_errors():
    labels = [sample_natural_spec(np.random.default_rng([1, i]), "count", 8, 32).label for i in range(400)]
    counts = np.bincount(labels, minlength=4)
    assert counts.min() > 70  # 100 expected each
    with pytest.raises(ValueError, match="task must be one of"):
        sample_natural_spec(np.random.default_rng(0), "colour", 8, 32)
    with pytest.raises(ValueError, match="split must be one of"):
        sample_natural_spec(np.random.default_rng(0), "count", 8, 32, split="test")


@pytest.mark.parametrize("task", ["camera", "object_direction", "relative", "speed", "count"])
def test_a_given_label_is_kept(task):
    n = num_natural_classes(task)
    for label in range(n):
        spec = sample_natural_spec(np.random.default_rng(label), task, 4, 32, "heldout", label=label)
        assert spec.label == label
    with pytest.raises(ValueError, match="label"):
        sample_natural_spec(np.random.default_rng(0), task, 4, 32, "heldout", label=n)


def test_photograph_video_dataset(tmp_path):
    import json

    from vjepa2_hf.video.decoding import read_video
    from vjepa2_hf.video.synthetic import generate_motion_dataset

    out = generate_motion_dataset(tmp_path / "d", 24, num_frames=6, size=32, task="camera", content="photographs")
    rows = [json.loads(line) for line in open(f"{out}/metadata.jsonl")]
    assert sorted(r["label"] for r in rows) == sorted(list(range(12)) * 2)  # balanced
    for r in rows:
        spec = sample_natural_spec(np.random.default_rng([0, r["index"]]), "camera", 6, 32, "heldout", label=r["label"])
        assert r["background"] == spec.background in PHOTO_SPLITS["heldout"]
        assert r["path"].split("/")[1] == f"{r['label']:02d}_{r['label_name']}"
    frames = read_video(f"{out}/{rows[0]['path']}")
    spec = sample_natural_spec(np.random.default_rng([0, 0]), "camera", 6, 32, "heldout", label=rows[0]["label"])
    assert frames.shape == (6, 32, 32, 3)
    assert np.abs(frames.astype(float) - render_natural_clip(spec)).mean() < 6  # H.264 at crf 18
    with pytest.raises(ValueError, match="content"):
        generate_motion_dataset(tmp_path / "e", 4, content="paintings")
    with pytest.raises(ValueError, match="task"):
        generate_motion_dataset(tmp_path / "e", 4, task="direction", content="photographs")
