"""Decoding local video files and still images into uint8 `[T, H, W, 3]` RGB arrays with PyAV.

PyAV bundles FFmpeg, so it installs from a wheel everywhere (no system FFmpeg, no torchcodec, no decord).

* Containers: anything FFmpeg demuxes (mp4, mov, mkv, webm, avi, ...). Codecs: anything the bundled FFmpeg decodes
  (H.264, HEVC, VP8/VP9, AV1, MPEG-4, MJPEG, FFV1, PNG, ...). A stream whose codec has no decoder raises
  `VideoDecodeError` naming the file and the codec.
* Frame indices are presentation-order positions `0 .. num_frames - 1`, as decord (used by the official V-JEPA 2 code)
  counts them. `VideoReader.get_frames` seeks to the keyframe before the first wanted frame and stops decoding after
  the last one, so a 4-second clip out of an hour-long video decodes a few seconds, not the hour. Seeking is used
  only on constant-frame-rate streams (where a timestamp gives the index exactly); variable-frame-rate streams are
  decoded sequentially from the start, which keeps the indices exact.
* Grayscale, RGBA, YUV with alpha, 10-bit and palette frames are converted to 8-bit RGB (alpha is dropped, as
  FFmpeg's `rgb24` conversion does).
* Rotation: the display matrix (phone videos) is applied by default (`apply_rotation=True`) for multiples of 90
  degrees, so frames come out as a player shows them, like `ffmpeg` does. Flips in the display matrix are ignored.
* Still images (jpg, jpeg, png, bmp, webp, gif first frame, tiff) are read with PIL (EXIF orientation applied) as
  one-frame videos; asking for `T` indices returns the image repeated `T` times (a static clip, as the official code
  does for image datasets).
* Errors: a missing file raises `FileNotFoundError`; an unreadable, corrupt or truncated file, a file without a video
  stream or without frames, an unsupported codec, an image larger than Pillow's decompression-bomb limit
  (`PIL.Image.MAX_IMAGE_PIXELS` x 2), or an index past the end raise `VideoDecodeError` (a `ValueError`) whose
  message starts with the file name.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, BinaryIO, Sequence

import numpy as np
from transformers.utils import logging

logger = logging.get_logger(__name__)

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "VideoDecodeError",
    "VideoMetadata",
    "VideoReader",
    "get_video_metadata",
    "is_image_file",
    "read_video",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".ogv", ".3gp")


class VideoDecodeError(ValueError):
    """A video or image file could not be decoded. `path` holds the file name."""

    def __init__(self, path: str, message: str):
        self.path = str(path)
        super().__init__(f"{path}: {message}")


@dataclass
class VideoMetadata:
    """What a video file says about itself.

    Attributes:
        path: the file.
        num_frames: number of frames (exact: from the container index, or by counting packets when the header has
            no count).
        fps: average frame rate (frames per second).
        width, height: frame size after rotation (what `read_video` returns).
        duration: seconds (num_frames / fps when the container gives none).
        rotation: display rotation in degrees counter-clockwise applied to the frames (0, 90, 180, 270).
        codec: decoder name.
        is_image: True for still images (one frame).
        constant_frame_rate: False when the stream's timestamps are irregular (variable frame rate).
    """

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    duration: float
    rotation: int = 0
    codec: str = ""
    is_image: bool = False
    constant_frame_rate: bool = True


def is_image_file(path: str | os.PathLike) -> bool:
    return os.fspath(path).lower().endswith(IMAGE_EXTENSIONS)


def _check_exists(path: str) -> None:
    if not os.path.exists(path):
        raise FileNotFoundError(f"video file not found: {path}")
    if os.path.isdir(path):
        raise VideoDecodeError(path, "is a directory, expected a video or image file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")


def _looks_like_image(head: bytes) -> bool:
    """Magic numbers of still-image formats (PNG, JPEG, GIF, BMP, WebP, TIFF)."""
    return (
        head.startswith(b"\x89PNG")
        or head.startswith(b"\xff\xd8\xff")
        or head.startswith(b"GIF8")
        or head.startswith(b"BM")
        or (head.startswith(b"RIFF") and head[8:12] == b"WEBP")
        or head[:4] in (b"II*\x00", b"MM\x00*")
    )


def _read_image(source: Any, path: str) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(source) as img:
            img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert("RGB"))
    except Image.DecompressionBombError as e:  # a few KB that would decode to gigabytes
        raise VideoDecodeError(path, f"image too large to decode, a possible decompression bomb ({e})") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise VideoDecodeError(path, f"cannot read image ({type(e).__name__}: {e})") from e


def _normalize_rotation(rotation: float | int | None) -> int:
    if rotation is None:
        return 0
    r = int(round(float(rotation))) % 360
    if r % 90:
        logger.warning_once(f"display rotation of {rotation} degrees is not a multiple of 90: ignored")
        return 0
    return r


class VideoReader:
    """Random access to the frames of one video (or image) file.

    Example:
        ```python
        with VideoReader("clip.mp4") as reader:
            print(reader.metadata.num_frames, reader.metadata.fps)
            frames = reader.get_frames([0, 4, 8])  # uint8 [3, H, W, 3]
        ```

    Args:
        path: video or image file, raw bytes, a binary file object, or a `datasets` value `{"bytes", "path"}`.
        name: name used in messages when `path` is bytes or a file object.
        apply_rotation: rotate frames by the container's display matrix (multiples of 90 degrees).
        num_threads: FFmpeg decoding threads; None = 1 inside a DataLoader worker, automatic otherwise.
        seek: allow seeking (set False to always decode from the start).
    """

    def __init__(
        self,
        path: str | os.PathLike | bytes | dict | BinaryIO,
        *,
        apply_rotation: bool = True,
        num_threads: int | None = None,
        seek: bool = True,
        name: str | None = None,
    ):
        self._source: Any = None
        if isinstance(path, dict):  # a `datasets` Video/Image value read with decode=False: {"bytes", "path"}
            if path.get("bytes") is not None:
                name = name or path.get("path") or "<bytes>"
                path = path["bytes"]
            elif path.get("path"):
                path = path["path"]
            else:
                raise ValueError(f"a video dict needs 'bytes' or 'path', got keys {sorted(path)}")
        if isinstance(path, (bytes, bytearray, memoryview)):
            self.path = name or "<bytes>"
            self._source = io.BytesIO(bytes(path))
        elif hasattr(path, "read"):
            self.path = name or getattr(path, "name", None) or "<file object>"
            self._source = path
        else:
            self.path = os.fspath(path)
            _check_exists(self.path)
            self._source = self.path
        self.apply_rotation = apply_rotation
        self.allow_seek = seek
        self.frames_decoded = 0  # frames decoded by the last get_frames call (for tests and benchmarks)
        self._container = None
        self._image: np.ndarray | None = None
        if self._is_image():
            self._image = _read_image(self._source, self.path)
            h, w = self._image.shape[:2]
            self.metadata = VideoMetadata(self.path, 1, 1.0, w, h, 1.0, codec="image", is_image=True)
            return
        self._open(num_threads)

    def _is_image(self) -> bool:
        if is_image_file(self.path):
            return True
        if isinstance(self._source, str):
            return False
        pos = self._source.tell()
        head = self._source.read(16)
        self._source.seek(pos)
        return _looks_like_image(head)

    # ------------------------------------------------------------------ opening
    def _open(self, num_threads: int | None) -> None:
        import av

        path = self.path
        try:
            self._container = av.open(self._source, mode="r", metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError) as e:
            raise VideoDecodeError(path, f"cannot open as a video ({type(e).__name__}: {e})") from e
        if not self._container.streams.video:
            kinds = [s.type for s in self._container.streams]
            self.close()
            raise VideoDecodeError(path, f"no video stream in the file (streams: {kinds or 'none'})")
        stream = self._container.streams.video[0]
        self._stream = stream
        self._iter, self._pos, self._pending = None, 0, None
        codec_ctx = stream.codec_context
        if codec_ctx is None or getattr(codec_ctx, "codec", None) is None:
            name = getattr(getattr(stream, "codec", None), "name", None) or "unknown"
            self.close()
            raise VideoDecodeError(path, f"unsupported codec {name!r}: the bundled FFmpeg has no decoder for it")
        if num_threads is None:
            try:
                import torch.utils.data

                in_worker = torch.utils.data.get_worker_info() is not None
            except Exception:  # pragma: no cover
                in_worker = False
            num_threads = 1 if in_worker else 0
        try:
            codec_ctx.thread_count = int(num_threads)
            codec_ctx.thread_type = "AUTO" if num_threads != 1 else "SLICE"
        except Exception:  # pragma: no cover - some decoders refuse threading settings
            pass

        self._time_base = stream.time_base or Fraction(1, 1000)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        base = float(stream.base_rate) if stream.base_rate else fps
        self._start_pts = stream.start_time if stream.start_time is not None else 0
        num_frames = int(stream.frames or 0)
        constant = bool(fps) and abs(base - fps) <= 0.01 * max(fps, 1.0)
        if num_frames <= 0:
            num_frames = self._count_packets()
        if num_frames <= 0:
            self.close()
            raise VideoDecodeError(path, "the video stream contains no frames")
        if not fps:
            dur = self._duration_seconds()
            fps = num_frames / dur if dur else 1.0
            constant = False
        duration = self._duration_seconds() or num_frames / fps
        try:
            first = self._first_frame()
        except VideoDecodeError:
            self.close()
            raise
        rotation = first.rotation
        tag = stream.metadata.get("rotate") if stream.metadata else None
        if not rotation and tag:
            rotation = -float(tag)  # the legacy tag is clockwise
        rotation = _normalize_rotation(rotation) if self.apply_rotation else 0
        w, h = int(codec_ctx.width or 0), int(codec_ctx.height or 0)
        if rotation in (90, 270):
            w, h = h, w
        self.metadata = VideoMetadata(
            path=path,
            num_frames=num_frames,
            fps=fps,
            width=w,
            height=h,
            duration=float(duration),
            rotation=rotation,
            codec=codec_ctx.name,
            is_image=False,
            constant_frame_rate=constant,
        )

    def _duration_seconds(self) -> float | None:
        s = self._stream
        if s.duration is not None and s.time_base:
            return float(s.duration * s.time_base)
        if self._container.duration is not None:
            return self._container.duration / 1_000_000
        return None

    def _count_packets(self) -> int:
        """Count the frames of a stream whose header has no frame count (mkv, webm): demux without decoding."""
        import av

        n = 0
        try:
            for packet in self._container.demux(self._stream):
                if packet.size and (packet.pts is not None or packet.dts is not None):
                    n += 1
        except av.FFmpegError as e:
            logger.warning(f"{self.path}: demuxing stopped early ({e}); counted {n} frames")
        self._iter, self._pos = None, -1  # the cursor is at the end: force a seek to the start
        return n

    def _restart(self) -> None:
        """Position the decoding cursor on frame 0."""
        import av

        if self._iter is not None or self._pos != 0:
            try:
                self._container.seek(self._start_pts, stream=self._stream, backward=True, any_frame=False)
            except av.FFmpegError:
                self._reopen()
        self._iter = self._container.decode(self._stream)
        self._pos = 0
        self._pending = None

    def _next_frame(self):
        """Next frame at the cursor (index `self._pos` before the call). Raises StopIteration at the end."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            frame = next(self._iter)
        self._pos += 1
        return frame

    def _first_frame(self):
        """Decode frame 0 (kept for the next read) to learn the display rotation and check the stream decodes."""
        import av

        self._restart()
        try:
            frame = next(self._iter)
        except StopIteration:
            raise VideoDecodeError(self.path, "the video stream contains no decodable frames") from None
        except av.FFmpegError as e:
            raise VideoDecodeError(self.path, f"cannot decode the first frame ({type(e).__name__}: {e})") from e
        self._pending = frame
        return frame

    def _reopen(self) -> None:
        import av

        threads, ttype = self._stream.codec_context.thread_count, self._stream.codec_context.thread_type
        self._container.close()
        if not isinstance(self._source, str):
            self._source.seek(0)
        self._container = av.open(self._source, mode="r", metadata_errors="ignore")
        self._stream = self._container.streams.video[0]
        self._stream.codec_context.thread_count = threads
        self._stream.codec_context.thread_type = ttype
        self._iter = None
        self._pos = 0
        self._pending = None

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return self.metadata.num_frames

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            finally:
                self._container = None

    def __del__(self):  # pragma: no cover
        try:
            self.close()
        except Exception:
            pass

    def _to_rgb(self, frame) -> np.ndarray:
        arr = frame.to_ndarray(format="rgb24")
        rot = self.metadata.rotation
        if rot:
            arr = np.ascontiguousarray(np.rot90(arr, k=rot // 90))
        return arr

    def get_frames(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Decode the frames at `indices` (presentation order, repeats and any order allowed).

        Args:
            indices: frame indices in `[0, num_frames)`; None = every frame.

        Returns:
            uint8 array `[len(indices), H, W, 3]` (RGB).
        """
        n = self.metadata.num_frames
        if indices is None:
            idx = np.arange(n, dtype=np.int64)
        else:
            idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            raise ValueError(f"{self.path}: `indices` is empty; expected at least one frame index")
        if idx.min() < 0 or idx.max() >= n:
            raise VideoDecodeError(
                self.path, f"frame indices must be in [0, {n}) (the video has {n} frames), got {idx.min()}..{idx.max()}"
            )
        if self._image is not None:
            self.frames_decoded = 1
            return np.repeat(self._image[None], idx.size, axis=0)
        if self._container is None:
            raise ValueError(f"{self.path}: reader is closed")
        wanted = np.unique(idx)
        decoded = self._decode(wanted)
        missing = [int(i) for i in wanted if int(i) not in decoded]
        if missing:
            last = max(decoded) if decoded else None
            raise VideoDecodeError(
                self.path,
                f"frames {missing[:5]}{'...' if len(missing) > 5 else ''} could not be decoded although the file "
                f"claims {n} frames (last frame decoded: {last}); the file is truncated or corrupt",
            )
        return np.stack([decoded[int(i)] for i in idx])

    def _decode(self, wanted: np.ndarray) -> dict[int, np.ndarray]:
        import av

        first, last = int(wanted[0]), int(wanted[-1])
        fps = self.metadata.fps
        self.frames_decoded = 0
        # Continue from the cursor when the clip starts at or shortly after it; otherwise seek (constant frame rate
        # only, where a timestamp gives the index exactly) or restart from frame 0.
        near_cursor = self._iter is not None and self._pos >= 0 and 0 <= first - self._pos < max(8, int(fps))
        if not near_cursor and self.allow_seek and self.metadata.constant_frame_rate and first >= max(8, int(fps)):
            try:
                out = self._decode_seek(wanted, first, last, fps, self._time_base)
                if out is not None:
                    return out
            except av.FFmpegError as e:
                logger.debug(f"{self.path}: seek failed ({e}), decoding from the start")
            self._iter, self._pos = None, -1
        return self._decode_sequential(wanted, first, last)

    def _decode_seek(self, wanted, first, last, fps, tb) -> dict[int, np.ndarray] | None:
        """Seek to the keyframe before `first` and decode up to `last`. Returns None when timestamps do not map to
        indices cleanly (the caller then decodes sequentially)."""
        target = self._start_pts + int(math.floor((first - 0.1) / fps / tb))
        self._container.seek(max(target, self._start_pts), stream=self._stream, backward=True, any_frame=False)
        self._iter, self._pending, self._pos = self._container.decode(self._stream), None, -1
        wanted_set = set(int(i) for i in wanted)
        out: dict[int, np.ndarray] = {}
        started = False
        for frame in self._iter:
            self.frames_decoded += 1
            if frame.pts is None:
                return None
            pos = float((frame.pts - self._start_pts) * tb) * fps
            i = int(round(pos))
            if abs(pos - i) > 0.2:
                return None  # irregular timestamps: not a clean constant-frame-rate stream
            if not started:
                if i > first:
                    return None  # landed after the wanted frame
                started = True
            if i in wanted_set:
                out[i] = self._to_rgb(frame)
            if i >= last:
                self._pos = i + 1
                break
        return out

    def _decode_sequential(self, wanted, first, last) -> dict[int, np.ndarray]:
        import av

        if self._iter is None or self._pos < 0 or self._pos > first:
            self._restart()
        wanted_set = set(int(i) for i in wanted)
        out: dict[int, np.ndarray] = {}
        try:
            while self._pos <= last:
                i = self._pos
                frame = self._next_frame()
                self.frames_decoded += 1
                if i in wanted_set:
                    out[i] = self._to_rgb(frame)
        except StopIteration:
            self._iter, self._pos = None, -1
        except av.FFmpegError as e:
            self._iter, self._pos = None, -1
            if not out or max(out) < last:
                raise VideoDecodeError(
                    self.path, f"decoding failed after {self.frames_decoded} frames ({type(e).__name__}: {e})"
                ) from e
        return out


def get_video_metadata(path: str | os.PathLike | bytes | dict) -> VideoMetadata:
    """Metadata of a video or image file (opens it, decodes at most one frame)."""
    with VideoReader(path) as reader:
        return reader.metadata


def read_video(
    path: str | os.PathLike | bytes | dict,
    indices: Sequence[int] | np.ndarray | None = None,
    *,
    return_metadata: bool = False,
    apply_rotation: bool = True,
) -> np.ndarray | tuple[np.ndarray, VideoMetadata]:
    """Decode a video (or image) file.

    Args:
        path: video or image file, raw bytes, or a `datasets` Video/Image value `{"bytes": ..., "path": ...}`.
        indices: frame indices to return (presentation order); None = all frames. For an image every index must be
            0 and the image is repeated `len(indices)` times.
        return_metadata: also return the file's `VideoMetadata`.
        apply_rotation: apply the display-matrix rotation.

    Returns:
        uint8 `[T, H, W, 3]` RGB frames, and the metadata when `return_metadata=True`.
    """
    with VideoReader(path, apply_rotation=apply_rotation) as reader:
        frames = reader.get_frames(indices)
        return (frames, reader.metadata) if return_metadata else frames
