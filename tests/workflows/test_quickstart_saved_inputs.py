"""Every folder `vjepa2-hf quickstart --small` writes describes the input it was trained on (issue 23).

The quickstart pretrains and probes on 32 x 32 px, 8-frame mp4 clips. Each saved folder must say so in its
`config.json` (`crop_size`, `num_frames`) and carry a `video_preprocessor_config.json` that turns its own clips
into exactly the pixels the model saw: no resize, no black padding, 8 frames. The consumers (`embed`,
`feature-map`, the transformers export) must use that processor without being told.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vjepa2_hf.cli import main
from vjepa2_hf.workflows.quickstart import SMALL_SETTINGS, run_quickstart

SIZE, FRAMES = 32, 8  # the quickstart's photographs clips (QuickstartSettings: size None -> 32 px, 8 frames)
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@pytest.fixture(scope="module")
def quickstart_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("qs") / "out"
    run_quickstart(output_dir=str(out), progress=False, **SMALL_SETTINGS)
    return out


def _model_folders(out: Path) -> list[Path]:
    return sorted(p.parent for p in out.rglob("config.json") if "checkpoints" not in p.parts)


def _held_out_clip(out: Path) -> Path:
    return sorted((out / "data" / "test").glob("*/*.mp4"))[0]


def _exact_pixels(path: Path) -> torch.Tensor:
    """The clip's own frames, rescaled and normalised, nothing else: `[T, 3, H, W]`."""
    from vjepa2_hf.video.decoding import read_video

    frames = read_video(str(path)).astype(np.float32) / 255.0  # [T, H, W, 3]
    return torch.from_numpy((frames - MEAN) / STD).permute(0, 3, 1, 2)


def test_every_saved_folder_reloads_with_a_processor_that_reproduces_its_clips(quickstart_out):
    from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor

    folders = {p.relative_to(quickstart_out).as_posix() for p in _model_folders(quickstart_out)}
    assert folders == {"models/pretrained-probe", "models/random-probe", "models/random-encoder", "pretrain/final"}
    clip = _held_out_clip(quickstart_out)
    expected = _exact_pixels(clip)
    assert tuple(expected.shape) == (FRAMES, 3, SIZE, SIZE)
    for folder in _model_folders(quickstart_out):
        config = json.loads((folder / "config.json").read_text())
        assert (config["crop_size"], config["num_frames"], config["frames_per_clip"]) == (SIZE, FRAMES, FRAMES), folder
        processor = VJEPA2VideoProcessor.from_pretrained(folder)
        assert processor.num_frames == FRAMES, folder
        pixels = processor(str(clip))["pixel_values_videos"][0]
        assert tuple(pixels.shape) == (FRAMES, 3, SIZE, SIZE), folder
        # the clip's own pixels: no resize, and no zero-padded border (padding would be -mean/std, not the frame)
        assert torch.allclose(pixels, expected, atol=1e-5), (folder, (pixels - expected).abs().max())


def test_embed_feature_map_and_pipeline_use_the_saved_input_by_default(quickstart_out, tmp_path):
    from transformers import pipeline

    from vjepa2_hf import embed_videos

    encoder = quickstart_out / "pretrain" / "final"
    clip = _held_out_clip(quickstart_out)
    result = embed_videos([str(clip)], tmp_path / "emb", model=str(encoder), progress=False)
    assert result.num_embedded == 1
    import pyarrow.parquet as pq

    rows = pq.read_table(next((tmp_path / "emb" / "data").glob("*.parquet"))).to_pylist()
    assert [list(i) for i in rows[0]["frame_indices"]] == [list(range(FRAMES))]  # 8 frames, none repeated

    assert main(["feature-map", str(clip), "--model", str(encoder), "--output-dir", str(tmp_path / "maps")]) == 0
    # one map per token frame of the 8-frame clip
    tubelet = json.loads((encoder / "config.json").read_text())["tubelet_size"]
    assert len(sorted((tmp_path / "maps").glob("*.png"))) == FRAMES // tubelet

    classifier = pipeline("video-classification", model=str(quickstart_out / "models" / "pretrained-probe"))
    inputs = classifier.preprocess(str(clip), frame_sampling_rate=1)
    assert tuple(inputs["pixel_values_videos"].shape[-4:]) == (FRAMES, 3, SIZE, SIZE)
    assert torch.allclose(inputs["pixel_values_videos"].reshape(FRAMES, 3, SIZE, SIZE), _exact_pixels(clip), atol=1e-5)


def test_transformers_export_matches_at_the_trained_resolution(quickstart_out, tmp_path):
    """The encoder exported with `vjepa2-hf export --format transformers` gives transformers' `VJEPA2Model` the
    trained resolution (transformers derives its RoPE positions from `config.crop_size`), and the processor."""
    import transformers

    from vjepa2_hf.encoder import VJEPA2Model
    from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor

    source = quickstart_out / "pretrain" / "final"
    exported = tmp_path / "hf"
    assert main(["export", "--model", str(source), "--format", "transformers", "--output-dir", str(exported)]) == 0
    processor = VJEPA2VideoProcessor.from_pretrained(exported)
    assert processor == VJEPA2VideoProcessor.from_pretrained(source)
    pixels = processor(str(_held_out_clip(quickstart_out)))["pixel_values_videos"]
    assert tuple(pixels.shape) == (1, FRAMES, 3, SIZE, SIZE)
    with torch.no_grad():
        ours = VJEPA2Model.from_pretrained(source).eval()(pixels)
        theirs = transformers.VJEPA2Model.from_pretrained(exported).eval()(pixels)
    config = json.loads((source / "config.json").read_text())
    tokens = FRAMES // config["tubelet_size"] * (SIZE // config["patch_size"]) ** 2
    assert ours.last_hidden_state.shape == theirs.last_hidden_state.shape == (1, tokens, config["hidden_size"])
    assert (ours.last_hidden_state - theirs.last_hidden_state).abs().max().item() < 1e-4
    predicted = (ours.predictor_output.last_hidden_state - theirs.predictor_output.last_hidden_state).abs().max()
    assert predicted.item() < 1e-4


def test_saved_folders_are_clean_and_listed(quickstart_out):
    """No feature cache inside a model folder, no absolute local path in a model card or the report, and the
    report lists every model folder (the random baseline's encoder included)."""
    folders = _model_folders(quickstart_out)
    for folder in folders:
        assert not (folder / "feature_cache").exists(), folder
    assert sorted(p.name for p in (quickstart_out / "feature_cache").iterdir()) == ["pretrained-probe", "random-probe"]
    cards = {folder: (folder / "README.md").read_text() for folder in folders if (folder / "README.md").is_file()}
    assert len(cards) == 2  # the two classifiers
    for folder, card in cards.items():
        assert str(quickstart_out) not in card and str(quickstart_out.parent) not in card, folder
    pretrained_card = cards[quickstart_out / "models" / "pretrained-probe"]
    assert "| base model | ../../pretrain/final |" in pretrained_card  # relative to the card's folder
    report = (quickstart_out / "report.md").read_text()
    listed = {line.split("`")[1] for line in report.split("## Model folders")[1].split("##")[0].splitlines()
              if line.startswith("- `")}
    assert listed == {p.relative_to(quickstart_out).as_posix() for p in folders}
