"""Decoding: containers and codecs, exact frame indices (bar-coded frames), seeking, images, and every bad input."""

from __future__ import annotations

import os

import av
import numpy as np
import pytest
from PIL import Image

from vjepa2_hf.video.decoding import VideoDecodeError, VideoReader, get_video_metadata, read_video
from vjepa2_hf.video.encoding import write_video
from vjepa2_hf.video.synthetic import decode_index_barcode, index_barcode_frames

from video_helpers import make_index_video

FORMATS = [("mp4", "libx264"), ("webm", "libvpx-vp9"), ("mkv", "libx264"), ("avi", "mpeg4"), ("mov", "mjpeg")]


@pytest.mark.parametrize("ext,codec", FORMATS)
def test_containers_decode_every_frame_exactly(video_dir, ext, codec):
    path = make_index_video(video_dir / f"idx40.{ext}", 40, codec=codec)
    frames, md = read_video(path, return_metadata=True)
    assert frames.dtype == np.uint8 and frames.shape == (40, 32, 64, 3)
    assert md.num_frames == 40 and md.fps == pytest.approx(30) and (md.width, md.height) == (64, 32)
    assert np.array_equal(decode_index_barcode(frames, 6), np.arange(40))
    idx = [39, 3, 3, 17, 0]  # any order, repeats
    assert np.array_equal(decode_index_barcode(read_video(path, idx), 6), idx)


def test_seeking_decodes_only_what_is_needed(video_dir):
    path = make_index_video(video_dir / "long300.mp4", 300, gop_size=30)
    with VideoReader(path) as reader:
        assert reader.metadata.num_frames == 300
        idx = np.arange(250, 266)
        got = decode_index_barcode(reader.get_frames(idx), 9)
        assert np.array_equal(got, idx)
        # seek lands on the keyframe at 240: far fewer frames than the 266 of a decode from the start
        assert reader.frames_decoded <= 30
        # going backwards works too (seek or restart)
        idx2 = np.array([100, 101, 130])
        assert np.array_equal(decode_index_barcode(reader.get_frames(idx2), 9), idx2)
        assert reader.frames_decoded <= 45
        # continuing right after the previous read does not restart
        idx3 = np.array([131, 132])
        assert np.array_equal(decode_index_barcode(reader.get_frames(idx3), 9), idx3)
        assert reader.frames_decoded == 2
    with VideoReader(path, seek=False) as reader:
        assert np.array_equal(decode_index_barcode(reader.get_frames(idx), 9), idx)
        assert reader.frames_decoded == 266


def test_header_without_frame_count_webm_counts_packets(video_dir):
    path = make_index_video(video_dir / "count.webm", 75, codec="libvpx-vp9")
    md = get_video_metadata(path)
    assert md.num_frames == 75 and md.codec == "vp9"
    idx = np.array([60, 74])
    assert np.array_equal(decode_index_barcode(read_video(path, idx), 7), idx)


def test_variable_frame_rate_keeps_presentation_order_indices(video_dir):
    frames = index_barcode_frames(40, 32, 64, 6)
    pts = np.cumsum([0] + [33 if i % 3 else 80 for i in range(39)])  # irregular gaps, in ms
    for ext in ("mp4", "mkv"):
        path = write_video(video_dir / f"vfr.{ext}", frames, fps=30, pts=pts)
        with VideoReader(path) as reader:
            assert reader.metadata.num_frames == 40
            assert np.array_equal(decode_index_barcode(reader.get_frames(), 6), np.arange(40))
            for idx in ([35, 36, 39], [20, 5]):
                assert np.array_equal(decode_index_barcode(reader.get_frames(idx), 6), idx)
    md = get_video_metadata(video_dir / "vfr.mp4")
    assert not md.constant_frame_rate
    assert md.duration == pytest.approx(pts[-1] / 1000 + 0.08, abs=0.1)


def test_rotation_metadata_is_applied(video_dir):
    frame = np.zeros((32, 48, 3), dtype=np.uint8)
    frame[:8, :8] = 255  # white block in the top-left corner
    path = write_video(video_dir / "rot90.mp4", np.stack([frame] * 4), fps=10, rotation=90)
    out, md = read_video(path, return_metadata=True)
    assert md.rotation == 90 and (md.width, md.height) == (32, 48)
    assert out.shape == (4, 48, 32, 3)
    expected = np.rot90(frame, k=1)  # 90 degrees counter-clockwise: the block moves to the bottom-left
    assert np.abs(out[0].astype(int) - expected).mean() < 8
    assert out[0, -4:, :4].mean() > 200 and out[0, :4, :4].mean() < 50
    raw = read_video(path, apply_rotation=False)
    assert raw.shape == (4, 32, 48, 3)


def test_grayscale_and_rgba_videos_become_rgb(video_dir):
    gray = np.stack([np.full((16, 16), 10 * t, dtype=np.uint8) for t in range(5)])
    path = write_video(video_dir / "gray.mkv", gray, fps=5, codec="ffv1")
    out = read_video(path)
    assert out.shape == (5, 16, 16, 3)
    assert np.array_equal(out[..., 0], gray) and np.array_equal(out[..., 1], gray) and np.array_equal(out[..., 2], gray)
    rgba = np.zeros((3, 16, 16, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 200, 100, 50, 128
    path = write_video(video_dir / "rgba.mkv", rgba, fps=5, codec="ffv1")
    out = read_video(path)
    assert out.shape == (3, 16, 16, 3)
    assert np.array_equal(out, rgba[..., :3])  # alpha dropped (FFmpeg rgb24 conversion), lossless codec


def test_single_frame_video(video_dir):
    path = make_index_video(video_dir / "one.mp4", 1)
    out, md = read_video(path, return_metadata=True)
    assert md.num_frames == 1 and out.shape == (1, 32, 64, 3)
    assert read_video(path, [0, 0, 0]).shape == (3, 32, 64, 3)


def test_images_are_static_clips(video_dir):
    yy, xx = np.mgrid[0:20, 0:30]
    rgb = np.stack([xx * 8, yy * 12, 255 - xx * 8], -1).astype(np.uint8)  # smooth, so JPEG stays close
    Image.fromarray(rgb).save(video_dir / "img.png")
    Image.fromarray(rgb).save(video_dir / "img.jpg", quality=95)
    Image.fromarray(rgb[..., 0]).save(video_dir / "img_gray.png")
    Image.fromarray(np.concatenate([rgb, np.full((20, 30, 1), 7, np.uint8)], -1)).save(video_dir / "img_rgba.png")
    out, md = read_video(video_dir / "img.png", [0] * 16, return_metadata=True)
    assert md.is_image and md.num_frames == 1 and out.shape == (16, 20, 30, 3)
    assert np.array_equal(out[0], rgb) and np.array_equal(out[15], rgb)
    assert np.abs(read_video(video_dir / "img.jpg", [0])[0].astype(int) - rgb).mean() < 10
    g = read_video(video_dir / "img_gray.png", [0])[0]
    assert g.shape == (20, 30, 3) and np.array_equal(g[..., 1], rgb[..., 0])
    assert np.array_equal(read_video(video_dir / "img_rgba.png", [0])[0], rgb)
    # EXIF orientation 6 (rotate 90 clockwise to display) is applied
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(video_dir / "img_exif.jpg", exif=exif, quality=95)
    assert read_video(video_dir / "img_exif.jpg", [0]).shape == (1, 30, 20, 3)
    with pytest.raises(VideoDecodeError, match="frame indices"):
        read_video(video_dir / "img.png", [1])


def test_bytes_and_datasets_dict_inputs(video_dir):
    path = make_index_video(video_dir / "bytes.mp4", 20)
    data = open(path, "rb").read()
    assert np.array_equal(decode_index_barcode(read_video(data, [5, 19]), 5), [5, 19])
    with VideoReader({"bytes": data, "path": "clip.mp4"}) as r:
        assert r.path == "clip.mp4" and r.metadata.num_frames == 20
    assert read_video({"bytes": None, "path": str(path)}).shape[0] == 20
    png = video_dir / "img.png"
    if not png.exists():
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(png)
    assert read_video(open(png, "rb").read(), [0, 0]).shape[0] == 2  # image bytes sniffed by magic number


# ------------------------------------------------------------------------------------------------ bad inputs
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        read_video(tmp_path / "nope.mp4")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(VideoDecodeError, match="directory"):
        read_video(tmp_path)


def test_corrupt_file_names_the_file(tmp_path):
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(os.urandom(4000))
    with pytest.raises(VideoDecodeError, match="garbage.mp4") as e:
        read_video(bad)
    assert isinstance(e.value, ValueError) and e.value.path == str(bad)
    text = tmp_path / "notes.mkv"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoDecodeError, match="notes.mkv"):
        read_video(text)
    badimg = tmp_path / "broken.jpg"
    badimg.write_bytes(b"\xff\xd8\xff" + os.urandom(100))
    with pytest.raises(VideoDecodeError, match="broken.jpg"):
        read_video(badimg)


def test_truncated_files(video_dir, tmp_path):
    # index at the end (default MP4): a cut file cannot be opened
    full = make_index_video(video_dir / "trunc_src.mp4", 120, gop_size=10)
    data = open(full, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match="cut.mp4"):
        read_video(cut)
    # index first (faststart): the header claims 120 frames but the data stops: clear error for missing frames
    fast = make_index_video(video_dir / "trunc_fast.mp4", 120, gop_size=10, container_options={"movflags": "faststart"})
    data = open(fast, "rb").read()
    cut2 = tmp_path / "cut_fast.mp4"
    cut2.write_bytes(data[: len(data) // 2])
    with VideoReader(cut2) as r:
        assert r.metadata.num_frames == 120
        assert r.get_frames([0, 5]).shape == (2, 32, 64, 3)  # the part that is there decodes
        with pytest.raises(VideoDecodeError, match="cut_fast.mp4.*truncated or corrupt"):
            r.get_frames([0, 110])
    # streamable container (mkv): the frames present are counted and decoded
    mkv = make_index_video(video_dir / "trunc_src.mkv", 120)
    data = open(mkv, "rb").read()
    cut3 = tmp_path / "cut.mkv"
    cut3.write_bytes(data[: len(data) // 2])
    out, md = read_video(cut3, return_metadata=True)
    assert 10 < md.num_frames < 120 and out.shape[0] == md.num_frames
    assert np.array_equal(decode_index_barcode(out, 7), np.arange(md.num_frames))


@pytest.mark.parametrize("ext,codec", [("mp4", "libx264"), ("mkv", "libx264"), ("avi", "mpeg4")])
def test_video_without_frames(tmp_path, ext, codec):
    path = write_video(tmp_path / f"empty.{ext}", [], fps=10, codec=codec)
    with pytest.raises(VideoDecodeError, match=f"empty.{ext}"):
        read_video(path)


def test_no_video_stream(tmp_path):
    path = str(tmp_path / "audio.wav")
    with av.open(path, "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in list(s.encode(frame)) + list(s.encode()):
            c.mux(p)
    with pytest.raises(VideoDecodeError, match="audio.wav: no video stream"):
        read_video(path)


def test_unsupported_codec(video_dir, tmp_path):
    src = make_index_video(video_dir / "codec_src.mkv", 5)
    data = open(src, "rb").read()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    bad = tmp_path / "weird_codec.mkv"
    bad.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_QQQQQ/ISO/QQQ"))  # a codec id FFmpeg does not know
    with pytest.raises(VideoDecodeError, match="weird_codec.mkv: unsupported codec"):
        read_video(bad)


def test_out_of_range_and_empty_indices(video_dir):
    path = make_index_video(video_dir / "range.mp4", 10)
    with pytest.raises(VideoDecodeError, match=r"range.mp4: frame indices must be in \[0, 10\)"):
        read_video(path, [3, 10])
    with pytest.raises(VideoDecodeError, match="frame indices"):
        read_video(path, [-1])
    with pytest.raises(ValueError, match="empty"):
        read_video(path, [])


def test_encoder_options_reach_the_encoder(tmp_path):
    """`crf` and the caller's options are applied: x264 at crf 0 keeps (nearly) every value, crf 45 does not, and
    two encodings of the same frames are the same bytes (a dropped `stream.options` once made both silently use
    x264's defaults, lossy and multi-threaded, so seeded datasets differed between runs)."""
    rng = np.random.default_rng(0)
    gray = (rng.random((8, 16, 16)) * 255).astype(np.uint8).repeat(2, axis=1).repeat(2, axis=2)
    frames = np.repeat(gray[..., None], 3, axis=-1)  # grey 2x2 blocks: yuv420p chroma subsampling loses nothing
    lossless = read_video(write_video(tmp_path / "q0.mp4", frames, crf=0))
    coarse = read_video(write_video(tmp_path / "q45.mp4", frames, crf=45))
    err0 = np.abs(lossless.astype(int) - frames).mean()
    err45 = np.abs(coarse.astype(int) - frames).mean()
    assert err0 < 0.5 * err45, (err0, err45)
    write_video(tmp_path / "again.mp4", frames, crf=0)
    assert (tmp_path / "again.mp4").read_bytes() == (tmp_path / "q0.mp4").read_bytes()
