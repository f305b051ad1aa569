"""`datasets` integration: building, on-the-fly decoding, collation with workers, the Trainer, and bad files."""

from __future__ import annotations

import logging
import os

import datasets
import numpy as np
import pytest
import torch

from vjepa2_hf.video.bad_files import TooManyBadFilesError
from vjepa2_hf.video.decoding import VideoDecodeError
from vjepa2_hf.video.sampling import ClipSampler
from vjepa2_hf.video.transforms import MultiViewEvalTransform, VideoTrainTransform
from vjepa2_hf.video.video_datasets import (
    VideoClipDataset,
    VideoClipTransform,
    VideoCollator,
    dataset_from_csv,
    dataset_from_folder,
    dataset_from_synthetic,
    prepare_video_column,
)
from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor

SAMPLER = ClipSampler(frames_per_clip=8, frame_step=2)


def test_folder_csv_and_synthetic_builders(synth_direction, tmp_path):
    folder = dataset_from_folder(os.path.join(synth_direction, "train"))
    assert len(folder) == 48 and folder.features["label"].num_classes == 8
    assert folder.features["label"].names[0] == "00_right" and os.path.isabs(folder[0]["video"])
    csv = dataset_from_csv(os.path.join(synth_direction, "train.csv"))
    assert len(csv) == 48 and all(os.path.isfile(v) for v in csv["video"][:5])
    assert sorted(csv["label"]) == sorted(folder["label"])
    syn = dataset_from_synthetic(synth_direction, "test", label="direction")
    assert len(syn) == 16 and syn["label"] == syn["direction"]
    assert {"speed", "count", "second_direction", "shape"} <= set(syn.column_names)
    # tab-separated with spaces in paths, string labels, a header line
    lst = tmp_path / "list.tsv"
    lst.write_text("path\tlabel\n/data/my clip 1.mp4\tjump\nrel/b.mp4\trun\n\n/data/c.mp4\tjump\n")
    ds = dataset_from_csv(lst)
    assert ds["video"] == ["/data/my clip 1.mp4", str(tmp_path / "rel/b.mp4"), "/data/c.mp4"]
    assert ds.features["label"].names == ["jump", "run"] and ds["label"] == [0, 1, 0]
    bad = tmp_path / "bad.csv"
    bad.write_text("only_a_path.mp4\n")
    with pytest.raises(ValueError, match="bad.csv:1"):
        dataset_from_csv(bad)
    with pytest.raises(ValueError, match="class subfolders"):
        dataset_from_folder(tmp_path)


def test_clip_dataset_items_and_determinism(synth_direction):
    ds = dataset_from_synthetic(synth_direction, "train")
    clip_ds = VideoClipDataset(ds, VideoTrainTransform(crop_size=32), SAMPLER, seed=3)
    item = clip_ds[5]
    assert item["pixel_values_videos"].shape == (8, 3, 32, 32) and item["labels"] == ds[5]["label"]
    assert torch.equal(clip_ds[5]["pixel_values_videos"], item["pixel_values_videos"])  # same (seed, epoch, index)
    clip_ds.set_epoch(1)
    assert not torch.equal(clip_ds[5]["pixel_values_videos"], item["pixel_values_videos"])
    # segments x views, segment-major
    multi = VideoClipDataset(
        ds, MultiViewEvalTransform(crop_size=16, num_views=3), ClipSampler.evaluation(frames_per_clip=4, frame_step=1)
    )
    assert multi[0]["pixel_values_videos"].shape == (6, 4, 3, 16, 16)


def test_dataloader_with_workers_and_collator(synth_direction):
    ds = dataset_from_synthetic(synth_direction, "train")
    clip_ds = VideoClipDataset(ds, VJEPA2VideoProcessor(crop_size=32), SAMPLER, seed=0, extra_columns=["speed"])
    ref = [torch.stack([clip_ds[i]["pixel_values_videos"] for i in range(8)])]
    seen = []
    loader = torch.utils.data.DataLoader(clip_ds, batch_size=8, num_workers=2, collate_fn=VideoCollator())
    for k, batch in enumerate(loader):
        assert batch["pixel_values_videos"].shape[1:] == (8, 3, 32, 32)
        assert batch["labels"].dtype == torch.long and batch["speed"].is_floating_point()
        if k == 0:
            assert torch.equal(batch["pixel_values_videos"], ref[0])  # workers do not change the random draws
        seen.extend(batch["labels"].tolist())
    assert seen == ds["label"]


def test_with_transform_and_hub_style_video_column(synth_direction, tmp_path):
    paths = dataset_from_synthetic(synth_direction, "test")["video"][:4]
    labels = [0, 1, 2, 3]
    hub = datasets.Dataset.from_dict({"video": paths, "label": labels}).cast_column("video", datasets.Video())
    hub = prepare_video_column(hub)
    assert hub.features["video"].decode is False and hub[0]["video"]["path"] == paths[0]
    # embed the bytes as a Hub dataset would (save/load), so decoding must work from bytes
    hub.save_to_disk(str(tmp_path / "hub"))
    hub = prepare_video_column(datasets.load_from_disk(str(tmp_path / "hub")))
    assert hub[0]["video"]["bytes"] is not None and not os.path.isabs(hub[0]["video"]["path"])
    proc = VJEPA2VideoProcessor(crop_size=16)
    tf = VideoClipTransform(proc, SAMPLER, seed=0, keep_columns=["label"])
    one = hub.with_transform(tf)[0]
    assert one["pixel_values_videos"].shape == (8, 3, 16, 16) and one["labels"] == 0
    rows = hub.with_transform(tf)[0:3]
    assert len(rows["pixel_values_videos"]) == 3 and rows["labels"] == [0, 1, 2]
    # the same clip through the path route and the bytes route
    by_path = VideoClipDataset(list(zip(paths, labels)), proc, ClipSampler(frames_per_clip=8, frame_step=2,
                                                                          random_clip_sampling=False))
    by_bytes = VideoClipDataset(hub, proc, ClipSampler(frames_per_clip=8, frame_step=2, random_clip_sampling=False))
    assert torch.equal(by_path[2]["pixel_values_videos"], by_bytes[2]["pixel_values_videos"])
    batch = VideoCollator()([hub.with_transform(tf)[i] for i in range(4)])
    assert batch["pixel_values_videos"].shape == (4, 8, 3, 16, 16) and batch["labels"].tolist() == labels


def _bad_files(tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(3000))
    return str(tmp_path / "missing.mp4"), str(corrupt)


def test_bad_files_are_reported_and_replaced(synth_direction, tmp_path, caplog):
    good = dataset_from_synthetic(synth_direction, "test")["video"][:3]
    missing, corrupt = _bad_files(tmp_path)
    items = [(good[0], 0), (missing, 1), (good[1], 2), (corrupt, 3), (good[2], 4)]
    ds = VideoClipDataset(items, VJEPA2VideoProcessor(crop_size=16), SAMPLER, seed=0)
    with caplog.at_level(logging.WARNING):
        out = [ds[i] for i in range(5)]
    assert ds.bad_files.count >= 2
    assert all(o["pixel_values_videos"].shape == (8, 3, 16, 16) for o in out)
    assert {o["labels"] for o in out[1:2] + out[3:4]} <= {0, 2, 4}  # replaced by good samples
    text = caplog.text
    assert "missing.mp4" in text and "corrupt.mp4" in text and "bad files so far" in text
    strict = VideoClipDataset(items, None, SAMPLER, on_error="raise")
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        strict[1]
    with pytest.raises(VideoDecodeError, match="corrupt.mp4"):
        strict[3]
    all_bad = VideoClipDataset([(missing, 0), (corrupt, 1)], None, SAMPLER, max_consecutive_errors=5)
    with pytest.raises(TooManyBadFilesError, match="5 samples in a row"):
        all_bad[0]


def test_bad_rows_in_set_transform_are_dropped_by_the_collator(synth_direction, tmp_path):
    good = dataset_from_synthetic(synth_direction, "test")["video"][:2]
    missing, corrupt = _bad_files(tmp_path)
    ds = datasets.Dataset.from_dict({"video": [good[0], missing, corrupt, good[1]], "label": [0, 1, 2, 3]})
    tf = VideoClipTransform(None, SAMPLER)
    ds.set_transform(tf)
    rows = ds[0:4]
    assert rows["pixel_values_videos"][1] is None and rows["pixel_values_videos"][2] is None
    assert tf.bad_files.count == 2
    collator = VideoCollator()
    batch = collator([ds[i] for i in range(4)])
    assert batch["labels"].tolist() == [0, 3] and collator.dropped == 2
    with pytest.raises(ValueError, match="none of the 2 samples"):
        collator([ds[1], ds[2]])
    ds.set_transform(VideoClipTransform(None, SAMPLER, on_error="raise"))
    with pytest.raises(FileNotFoundError):
        ds[1]


class _TinyVideoClassifier(torch.nn.Module):
    def __init__(self, num_classes=8):
        super().__init__()
        self.proj = torch.nn.Linear(3, num_classes)

    def forward(self, pixel_values_videos, labels=None):
        logits = self.proj(pixel_values_videos.mean(dim=(1, 3, 4)))
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


def test_trainer_consumes_the_dataset_and_collator(synth_direction, tmp_path):
    from transformers import Trainer, TrainingArguments

    ds = dataset_from_synthetic(synth_direction, "train")
    train = VideoClipDataset(ds, VideoTrainTransform(crop_size=16), ClipSampler(frames_per_clip=4, frame_step=2))
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=3, per_device_train_batch_size=4, report_to=[], use_cpu=True,
        dataloader_num_workers=0, logging_steps=1, save_strategy="no", disable_tqdm=True,
    )
    trainer = Trainer(model=_TinyVideoClassifier(), args=args, train_dataset=train, data_collator=VideoCollator())
    result = trainer.train()
    assert result.global_step == 3 and np.isfinite(result.training_loss)
    # the datasets route needs remove_unused_columns=False (the video column is not a forward argument)
    hf = ds.with_transform(VideoClipTransform(VJEPA2VideoProcessor(crop_size=16), ClipSampler(frames_per_clip=4,
                                                                                               frame_step=2)))
    args.remove_unused_columns = False
    trainer = Trainer(model=_TinyVideoClassifier(), args=args, train_dataset=hf, data_collator=VideoCollator())
    assert trainer.train().global_step == 3
