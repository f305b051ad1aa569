"""VJEPA2VLMProcessor: uniform frame sampling, placeholder expansion, chat template, answer-only labels, bad input,
saving / loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from vjepa2_hf.video.encoding import write_video
from vjepa2_hf.video.synthetic import decode_index_barcode, index_barcode_frames
from vjepa2_hf.vlm import VJEPA2VLMProcessor, sample_frame_indices
from vjepa2_hf.vlm.processing_vjepa2_vlm import choose_tile_grid, load_video_frames

from .conftest import make_tiny, mc_conversation


def test_sample_frame_indices_uniform():
    assert sample_frame_indices(100, 4).tolist() == [12, 37, 62, 87]  # centres of 4 equal segments
    assert sample_frame_indices(8, 4).tolist() == [1, 3, 5, 7]
    assert sample_frame_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]  # short video: frames repeat, in order
    assert sample_frame_indices(1, 2).tolist() == [0, 0]
    with pytest.raises(ValueError, match="num_frames"):
        sample_frame_indices(10, 0)


def test_frames_read_from_file_are_the_sampled_ones(tmp_path):
    """On a real mp4 whose frames encode their index, the processor reads exactly the uniformly sampled frames."""
    frames = index_barcode_frames(60, 32, 64)
    path = write_video(tmp_path / "barcode.mp4", frames, fps=30)
    got = load_video_frames(path, 8)  # [8, 3, H, W] uint8
    read = decode_index_barcode(got.permute(0, 2, 3, 1).numpy(), bits=6)
    assert read.tolist() == sample_frame_indices(60, 8).tolist() == [3, 11, 18, 26, 33, 41, 48, 56]


def test_expansion_and_chat_template(tiny, video):
    model, proc = tiny
    text = proc.apply_chat_template(mc_conversation(video, None), add_generation_prompt=True)
    assert text == (
        "<s><|user|>\n<video>\nWhich way does the square move?\n(A) left\n(B) right\n(C) up\n(D) down<|end|>\n"
        "<|assistant|>\n"
    )
    batch = proc(text=text, videos=video, add_special_tokens=False)
    ids = batch["input_ids"][0]
    n = proc.num_video_tokens()
    assert n == model.config.num_video_tokens() == 2 * 16
    pos = (ids == proc.video_token_id).nonzero().flatten()
    assert len(pos) == n and torch.equal(pos, torch.arange(pos[0], pos[0] + n))  # one contiguous run
    assert batch["pixel_values_videos"].shape == (1, 4, 3, 32, 32)
    assert batch["pixel_values_videos"].dtype == torch.float32


def test_labels_only_on_answer(tiny, video):
    _, proc = tiny
    convs = [mc_conversation(video, "B"), mc_conversation(video, "(C) up")]
    batch = proc.apply_chat_template(convs, tokenize=True, return_labels=True, padding_side="right")
    tok = proc.tokenizer
    for row, answer in zip(batch["labels"], ["B <|end|>", "( C ) up <|end|>"]):
        kept = row[row != -100]
        assert tok.decode(kept) == answer
    # placeholders, prompt and padding are never labels
    assert not bool(((batch["input_ids"] == proc.video_token_id) & (batch["labels"] != -100)).any())
    assert not bool(((batch["attention_mask"] == 0) & (batch["labels"] != -100)).any())


def test_multi_turn_labels_cover_every_assistant_turn(tiny, video):
    _, proc = tiny
    conv = mc_conversation(video, "B") + [
        {"role": "user", "content": "Why?"},
        {"role": "assistant", "content": "the square moves"},
    ]
    batch = proc.apply_chat_template(conv, tokenize=True, return_labels=True)
    kept = batch["labels"][0][batch["labels"][0] != -100]
    assert proc.tokenizer.decode(kept) == "B <|end|> the square moves <|end|>"


def test_padding_sides(tiny, video):
    _, proc = tiny
    short = mc_conversation(video, None)
    long = mc_conversation(video, None)
    long[0]["content"][1]["text"] += " Answer with the option's letter from the given choices directly."
    left = proc.apply_chat_template([short, long], add_generation_prompt=True, tokenize=True, padding_side="left")
    right = proc.apply_chat_template([short, long], add_generation_prompt=True, tokenize=True, padding_side="right")
    pad = proc.tokenizer.pad_token_id
    assert left["input_ids"][1, 0] != pad and left["attention_mask"][0, 0] == 0 and left["attention_mask"][0, -1] == 1
    assert right["attention_mask"][0, -1] == 0
    assert torch.equal(
        left["input_ids"][0][left["attention_mask"][0] == 1], right["input_ids"][0][right["attention_mask"][0] == 1]
    )


def test_bad_inputs(tiny, video):
    _, proc = tiny
    with pytest.raises(ValueError, match=r"`text` has 0 video placeholder\(s\) '<video>' but 1 video"):
        proc(text="Which way does the square move?", videos=video)
    with pytest.raises(ValueError, match=r"`text` has 1 video placeholder\(s\) '<video>' but 0 video"):
        proc(text="<video> Which way?")
    with pytest.raises(ValueError, match=r"4-D \[frames, height, width, 3\].*got shape \(40, 48, 3\)"):
        proc(text="<video>", videos=video[0])  # one frame is not a video
    with pytest.raises(ValueError, match="3 \\(RGB\\) channels"):
        proc(text="<video>", videos=np.zeros((4, 20, 20, 5), np.uint8))
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        proc(text="<video>", videos="missing.mp4")
    with pytest.raises(ValueError, match="multiple of the tubelet size"):
        proc(text="<video>", videos=video, num_frames=3)


def test_too_many_frames_for_the_context(tokenizer, video):
    _, proc = make_tiny(tokenizer, max_position_embeddings=128)
    proc(text="<video>", videos=video, num_frames=4)  # 32 visual tokens fit
    with pytest.raises(
        ValueError,
        match=r"has 144 tokens after expanding the visual placeholders \(144 per video of 18 "
        r"frames\), more than the language model's context length 128",
    ):
        proc(text="<video>", videos=video, num_frames=18)  # 9 tubelets x 16 tokens


def test_save_and_load(tmp_path, tiny, video):
    _, proc = tiny
    proc.save_pretrained(tmp_path)
    for loaded in (VJEPA2VLMProcessor.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)):
        assert isinstance(loaded, VJEPA2VLMProcessor)
        assert loaded.to_dict() == proc.to_dict()
        assert loaded.frame_processor.to_dict() == proc.frame_processor.to_dict()
        a = proc.apply_chat_template(mc_conversation(video), tokenize=True, return_labels=True)
        b = loaded.apply_chat_template(mc_conversation(video), tokenize=True, return_labels=True)
        for k in a:
            assert torch.equal(a[k], b[k]), k


def test_tile_grid_choice():
    assert choose_tile_grid(100, 100, 4) == (2, 2)
    assert choose_tile_grid(100, 200, 4) == (1, 2)
    assert choose_tile_grid(300, 100, 4) == (3, 1)
    assert choose_tile_grid(100, 100, 1) == (1, 1)
