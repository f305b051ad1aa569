"""`JobLock`: one corpus job at a time per output folder.

The lock is `fcntl.flock` on `output_dir/.lock`, which also holds the owner's pid and host for the message a second
job gets. The kernel drops the lock when its process ends (exit, crash, kill -9), so a lock file left behind by a dead
job never blocks the next one: there are no stale locks to clean. (Where `fcntl` is missing, Windows, the folder is
not locked and a warning says so.)
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from transformers.utils import logging

logger = logging.get_logger(__name__)

__all__ = ["JobLock", "JobLockedError"]


class JobLockedError(ValueError):
    """Another job is writing the same output folder."""


class JobLock:
    """Exclusive lock on a job folder, held from `acquire()` to `release()` (or the end of the process)."""

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / ".lock"
        self._fd: int | None = None

    def _owner(self) -> str:
        try:
            owner = json.loads(self.path.read_text(encoding="utf-8"))
            return f"pid {owner['pid']} on {owner['host']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def _refuse(self) -> None:
        raise JobLockedError(
            f"{self.path.parent} is being written by another job ({self._owner()}); wait for it to finish or use "
            "another output folder"
        )

    def acquire(self) -> "JobLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks
            logger.warning(f"no fcntl on this system: {self.path.parent} is not locked against a second job")
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self._refuse()
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        import fcntl

        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
