"""Writing videos to disk with PyAV (which bundles FFmpeg, so it installs everywhere).

Used by the synthetic dataset generator, the tests (videos of known content) and the benchmarks.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Sequence

import numpy as np

__all__ = ["write_video"]


def _as_frame_array(frames) -> np.ndarray | None:
    """The frames as one uint8 array `[T, H, W(, C)]` (None for no frame), checked."""
    frames = [np.asarray(f) for f in frames] if not isinstance(frames, np.ndarray) else frames
    if len(frames) == 0:
        return None
    arr = np.stack(frames) if not isinstance(frames, np.ndarray) else frames
    if arr.dtype != np.uint8:
        raise ValueError(f"`frames` must be uint8, got {arr.dtype}")
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] not in (3, 4)):
        raise ValueError(f"`frames` must be [T, H, W], [T, H, W, 3] or [T, H, W, 4], got shape {arr.shape}")
    return arr


def _default_pix_fmt(codec: str, in_fmt: str) -> str:
    """`yuv420p` for lossy codecs (`yuvj420p` for MJPEG); the input layout for lossless ones (FFV1: BGR order)."""
    if codec not in ("ffv1", "png", "rawvideo", "qtrle"):
        return "yuvj420p" if codec == "mjpeg" else "yuv420p"
    if codec == "ffv1" and in_fmt in ("rgb24", "rgba"):
        return {"rgb24": "bgr0", "rgba": "bgra"}[in_fmt]
    return in_fmt


def _encoder_options(codec: str, crf: int | None, options: dict[str, str] | None) -> dict[str, str]:
    """Encoder options: the caller's, plus the CRF and fast presets of x264 / x265 / vpx.

    x264 runs single-threaded unless the caller asks otherwise: with its sliced threads (``tune=zerolatency``) two
    encodings of the same frames on a loaded machine gave different bytes (and decoded frames off by up to 46), so a
    seeded dataset was not reproducible.
    """
    opts = dict(options or {})
    if crf is not None and codec in ("libx264", "libx265", "libvpx", "libvpx-vp9"):
        opts.setdefault("crf", str(crf))
    if codec == "libx264":
        opts.setdefault("preset", "ultrafast")
        opts.setdefault("tune", "zerolatency")
        opts.setdefault("threads", "1")
    if codec in ("libvpx", "libvpx-vp9"):
        opts.setdefault("deadline", "realtime")
        opts.setdefault("b", "0")
    return opts


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Sequence[np.ndarray],
    fps: float = 8,
    *,
    codec: str = "libx264",
    pix_fmt: str | None = None,
    crf: int | None = 18,
    gop_size: int | None = None,
    options: dict[str, str] | None = None,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int | None = None,
    container_options: dict[str, str] | None = None,
) -> str:
    """Write frames to a video file.

    Args:
        path: output file; the container is chosen from the extension (`.mp4`, `.mkv`, `.webm`, `.avi`, `.mov`).
        frames: uint8 array `[T, H, W, 3]` (RGB), `[T, H, W, 4]` (RGBA) or `[T, H, W]` (grayscale), or a list of
            such frames.
        fps: frame rate written in the stream header.
        codec: FFmpeg encoder name (`libx264`, `mpeg4`, `libvpx-vp9`, `ffv1`, `png`, `mjpeg`, ...).
        pix_fmt: encoder pixel format; default `yuv420p` for lossy codecs, `rgb24`/`gray`/`rgba` kept for
            lossless ones when the input has that layout.
        crf: constant rate factor for x264/vpx (lower is better quality). Ignored by other encoders.
        gop_size: distance between keyframes (None = encoder default).
        options: extra encoder options.
        pts: explicit presentation timestamps in `time_base` units (for variable-frame-rate files).
        time_base: time base of `pts` (default `1/fps` or `1/1000` when `pts` is given).
        rotation: display rotation in degrees (counter-clockwise) stored in the container's display matrix.
        container_options: muxer options (e.g. `{"movflags": "faststart"}` to put the MP4 index first).

    Returns:
        The path written, as a string.
    """
    import av

    arr = _as_frame_array(frames)
    path = str(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    in_fmt = "rgb24" if arr is None or arr.ndim == 4 and arr.shape[-1] == 3 else ("gray" if arr.ndim == 3 else "rgba")
    if pix_fmt is None:
        pix_fmt = _default_pix_fmt(codec, in_fmt)

    rate = Fraction(fps).limit_denominator(1000)
    with av.open(path, mode="w", options=dict(container_options or {})) as container:
        stream = container.add_stream(codec, rate=rate)
        if arr is not None:
            stream.width = int(arr.shape[2])
            stream.height = int(arr.shape[1])
        else:
            stream.width, stream.height = 64, 64
        stream.pix_fmt = pix_fmt
        opts = _encoder_options(codec, crf, options)
        if opts:
            stream.options = opts
        if gop_size is not None:
            stream.codec_context.gop_size = int(gop_size)
        if pts is not None:
            stream.codec_context.time_base = time_base or Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(int(rotation))
        if arr is not None:
            if pts is not None and len(pts) != len(arr):
                raise ValueError(f"`pts` must have one entry per frame ({len(arr)}), got {len(pts)}")
            for i, frame_arr in enumerate(arr):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_arr), format=in_fmt)
                if pts is not None:
                    frame.pts = int(pts[i])
                    frame.time_base = stream.codec_context.time_base
                for packet in stream.encode(frame):
                    container.mux(packet)
        else:
            container.start_encoding()  # write the header of a video without frames
        for packet in stream.encode():
            container.mux(packet)
    return path
