"""Reporting and skipping bad video files during dataset iteration.

A long training run must neither die on one unreadable file nor skip files silently. `BadFileHandler` logs every bad
file with a running count (per process: each DataLoader worker keeps its own count and says which worker it is),
remembers the most recent ones, and raises instead when `on_error="raise"`. If `max_consecutive` files in a row fail
(a dead mount, a wrong root folder), it raises even in `"skip"` mode, because then nothing would ever load.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from transformers.utils import logging

from .decoding import VideoDecodeError

logger = logging.get_logger(__name__)

__all__ = ["BAD_FILE_ERRORS", "BadFileHandler", "TooManyBadFilesError"]


def _bad_file_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [VideoDecodeError, FileNotFoundError, OSError, EOFError]
    try:
        import av

        errors.append(av.FFmpegError)
    except ImportError:  # pragma: no cover
        pass
    try:  # an image that would decode to gigabytes (a few KB on disk): a bad file, not a bug
        from PIL.Image import DecompressionBombError

        errors.append(DecompressionBombError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


# Exceptions that mean "this file is bad" (as opposed to a bug in a transform, which always propagates).
BAD_FILE_ERRORS = _bad_file_errors()


class TooManyBadFilesError(RuntimeError):
    """Raised when `max_consecutive` samples in a row could not be loaded."""


class BadFileHandler:
    """Counts, logs and (optionally) raises on bad files.

    Args:
        on_error: `"skip"` (log a warning with the running count and go on) or `"raise"`.
        max_consecutive: raise `TooManyBadFilesError` after this many failures in a row, even when skipping.
        keep_last: how many recent `(path, message)` pairs to remember in `recent`.

    Attributes:
        count: bad files met by this process so far.
        recent: the most recent bad files.
    """

    def __init__(self, on_error: str = "skip", *, max_consecutive: int = 50, keep_last: int = 100):
        if on_error not in ("skip", "raise"):
            raise ValueError(f"`on_error` must be 'skip' or 'raise', got {on_error!r}")
        if max_consecutive < 1:
            raise ValueError(f"`max_consecutive` must be >= 1, got {max_consecutive}")
        self.on_error = on_error
        self.max_consecutive = int(max_consecutive)
        self.count = 0
        self.consecutive = 0
        self.recent: deque[tuple[str, str]] = deque(maxlen=keep_last)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(on_error={self.on_error!r}, count={self.count})"

    @staticmethod
    def _where() -> str:
        try:
            import torch.utils.data

            info = torch.utils.data.get_worker_info()
        except Exception:  # pragma: no cover
            info = None
        return f" (DataLoader worker {info.id})" if info is not None else ""

    def report(self, path: Any, error: BaseException) -> None:
        """Record a bad file. Re-raises `error` when `on_error="raise"`."""
        if self.on_error == "raise":
            raise error
        self.count += 1
        self.consecutive += 1
        name = getattr(error, "path", None) or str(path)
        message = f"{type(error).__name__}: {error}"
        self.recent.append((name, message))
        logger.warning(f"skipping bad video file {name}{self._where()}: {message} [{self.count} bad files so far]")
        if self.consecutive >= self.max_consecutive:
            raise TooManyBadFilesError(
                f"{self.consecutive} samples in a row failed to load (last: {name}: {message}); check the data paths"
            ) from error

    def success(self) -> None:
        """Record a good sample (resets the consecutive-failure counter)."""
        self.consecutive = 0
