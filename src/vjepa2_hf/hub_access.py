"""Loading from the Hugging Face Hub fails fast when the Hub cannot be reached.

Without a network, `huggingface_hub` retries each request five times with growing pauses (about a minute) before
transformers says it could not connect, even when the files are in the local cache. Before our loaders ask the Hub
for a repo id, `prepare_hub_load` opens one TCP connection to the Hub endpoint (a few seconds at most, once per
process): when that fails, a cached repo is loaded from the cache (`local_files_only=True`) and an uncached one is
a one-line `OSError` at once. `HF_HUB_OFFLINE=1` skips the check (the cache only, as in huggingface_hub).
"""

from __future__ import annotations

import os
import re
import socket
from urllib.parse import urlparse

__all__ = ["hub_reachable", "prepare_hub_load"]

_REACHABLE: dict[str, bool] = {}
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
#: seconds one connection attempt may take (VJEPA2_HF_HUB_TIMEOUT overrides)
DEFAULT_TIMEOUT = 3.0


def hub_reachable(timeout: float | None = None) -> bool:
    """Whether a TCP connection to the Hub endpoint (`HF_ENDPOINT`, huggingface.co by default; DNS included)
    opens within `timeout` seconds. Asked once per endpoint and process."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    key = f"{host}:{port}"
    if key not in _REACHABLE:
        seconds = float(os.environ.get("VJEPA2_HF_HUB_TIMEOUT", timeout or DEFAULT_TIMEOUT))
        try:
            socket.create_connection((host, port), timeout=seconds).close()
            _REACHABLE[key] = True
        except OSError:
            _REACHABLE[key] = False
    return _REACHABLE[key]


def _is_repo_id(name: str) -> bool:
    return not os.path.exists(name) and _REPO_ID.fullmatch(name) is not None


def prepare_hub_load(name, filenames=("config.json",), cache_dir=None, what: str = "model") -> bool:
    """Call before loading `name` with `from_pretrained`. Returns True when the load must use the local cache only
    (pass `local_files_only=True`): `name` is a Hub repo id, offline mode is off, the Hub cannot be reached and one
    of `filenames` of the repo is cached.

    Raises:
        OSError: the Hub cannot be reached and `name` is not in the local cache (one line, naming both).
    """
    from huggingface_hub import constants, try_to_load_from_cache

    if not isinstance(name, (str, os.PathLike)):
        return False
    name = os.fspath(name)
    if constants.is_offline_mode() or not _is_repo_id(name) or hub_reachable():
        return False
    if any(isinstance(try_to_load_from_cache(name, f, cache_dir=cache_dir), str) for f in filenames):
        return True
    raise OSError(f"{what} {name!r}: the Hugging Face Hub ({constants.ENDPOINT}) cannot be reached and the repo is not "
                  "in the local cache; connect to the network, or pass a local folder (HF_HUB_OFFLINE=1 uses the "
                  "cache without trying the network)")
