"""The command line's one top-level error handler: one line and exit status 2 instead of a traceback.

Expected errors (bad arguments, missing or unreadable files, this package's `ValueError`s, decode errors, corrupt
checkpoints) print `vjepa2-hf <command>: error: <message>` on stderr and exit 2. Anything else is a bug: it prints
`vjepa2-hf <command>: internal error: ...` with a hint and exits 1. `--debug` anywhere on the command line, or the
environment variable `VJEPA2_HF_DEBUG=1`, lets the exception propagate with its full traceback.

Standard library only: the command line imports this before torch.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Callable

__all__ = [
    "DEBUG_ENV",
    "EXIT_USAGE",
    "format_error",
    "end_progress_bars",
    "is_expected_error",
    "pop_debug_flag",
    "require_local_or_hub",
    "run_command",
]

DEBUG_ENV = "VJEPA2_HF_DEBUG"
EXIT_USAGE = 2
# Exception classes (matched by name along the MRO, so that checking does not import their libraries).
_EXPECTED_NAMES = {
    "FFmpegError",  # PyAV
    "SafetensorError",  # safetensors
    "YAMLError",  # pyyaml
    "HFValidationError",
    "HfHubHTTPError",
    "TooManyBadFilesError",
    "UnpicklingError",
}
_REPO_ID = re.compile(r"(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}")
_EXPECTED_TYPES = (ValueError, OSError, EOFError, KeyError, NotImplementedError)


def pop_debug_flag(argv: list[str]) -> tuple[bool, list[str]]:
    """Remove `--debug` from `argv`; returns `(debug, remaining argv)` (debug also from `VJEPA2_HF_DEBUG`)."""
    debug = os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")
    rest = [a for a in argv if a != "--debug"]
    return debug or len(rest) != len(argv), rest


def require_local_or_hub(value: str | None, what: str) -> None:
    """Raise `FileNotFoundError` when `value` does not exist and is not a Hub repo id either: it looks like a local
    path (absolute, `./`, `~`, more than one `/`) or is not shaped like `name` / `namespace/name` (letters, digits,
    `-`, `_`, `.`). A repo id that exists on no disk is left to the Hub client."""
    if value is None or value == "tiny" or os.path.exists(os.path.expanduser(value)):
        return
    looks_local = os.path.isabs(value) or value.startswith((".", "~")) or value.count("/") > 1
    if looks_local or not _REPO_ID.fullmatch(value) or "--" in value or ".." in value:
        raise FileNotFoundError(f"{what}: the path {value} does not exist (and it is not a Hub repo id)")


def is_expected_error(error: BaseException) -> bool:
    """True for errors that describe the user's input or environment rather than a bug."""
    if isinstance(error, _EXPECTED_TYPES):
        return True
    return any(cls.__name__ in _EXPECTED_NAMES for cls in type(error).__mro__)


def format_error(error: BaseException) -> str:
    """The error's message on one line (a multi-line message is joined with ' | ')."""
    text = str(error).strip()
    if isinstance(error, KeyError) and len(error.args) == 1:
        text = f"missing key {error.args[0]!r}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines) or type(error).__name__


def end_progress_bars() -> None:
    """Close every live tqdm bar, so that an error line starts on a line of its own (not glued to a bar)."""
    tqdm_module = sys.modules.get("tqdm.std")
    if tqdm_module is None:
        return
    for bar in list(getattr(tqdm_module.tqdm, "_instances", ())):
        try:
            bar.close()
        except Exception:  # a half-built bar: nothing to end
            pass
    sys.stderr.flush()


def run_command(name: str, func: Callable[[], int | None], debug: bool = False) -> int:
    """Run `func` (a subcommand's body) and map its exceptions to one line on stderr and an exit status.

    Returns:
        `func`'s status (0 when it returns None), 2 for an expected error, 1 for an unexpected one, 130 on Ctrl-C.
    """
    prefix = f"vjepa2-hf {name}"
    try:
        return int(func() or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        end_progress_bars()
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        end_progress_bars()
        if is_expected_error(error):
            print(f"{prefix}: error: {format_error(error)}", file=sys.stderr)
            return EXIT_USAGE
        print(
            f"{prefix}: internal error: {type(error).__name__}: {format_error(error)} (run again with --debug or "
            f"{DEBUG_ENV}=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
