"""transformers' common model tests, taken from the source distribution of the installed transformers release.

The test files are not shipped in the wheel, and they are not copied into this repository: on first use the
source distribution of exactly the installed version is fetched from the package index with pip
(`pip download --no-deps --no-binary :all: transformers==<version>`), its top-level `tests/*.py` are extracted into
a cache folder (`$VJEPA2_HF_CACHE` or `~/.cache/vjepa2_hf/transformers-tests-<version>/`) as the package
`transformers_sdist_tests`, and that package is imported. Without network (and no cache) the common tests skip,
saying so.

The source distribution lacks two modules that `tests/test_modeling_common.py` imports: `tests/exporters/` (the
base class `ExportTesterMixin`: `torch.export` checks) and `tests/generation/` (`GenerationTesterMixin`). They are
replaced by empty stand-ins, so those two mixins' tests do not run; every test of `ModelTesterMixin` itself does.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import transformers

PACKAGE = "transformers_sdist_tests"
# modules the source distribution lacks: empty stand-ins (see the module docstring)
STAND_INS = {
    "exporters/__init__.py": "",
    "exporters/test_export.py": "class ExportTesterMixin:\n    \"\"\"Stand-in: tests/exporters is not in the sdist.\"\"\"\n",
    "generation/__init__.py": "",
    "generation/test_utils.py": "class GenerationTesterMixin:\n    \"\"\"Stand-in: tests/generation is not in the sdist.\"\"\"\n",
}


class CommonTestsUnavailable(RuntimeError):
    """The source distribution could not be fetched (no network and no cache)."""


def cache_root() -> Path:
    base = os.environ.get("VJEPA2_HF_CACHE") or Path.home() / ".cache" / "vjepa2_hf"
    return Path(base) / f"transformers-tests-{transformers.__version__}"


def _fetch_sdist(into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet",
               "--disable-pip-version-check", f"transformers=={transformers.__version__}", "-d", str(into)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CommonTestsUnavailable(f"pip download of the transformers sdist failed: {error}") from error
    archives = sorted(into.glob("transformers-*.tar.gz"))
    if result.returncode or not archives:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no archive"]
        raise CommonTestsUnavailable(f"cannot fetch transformers=={transformers.__version__} sdist: {tail[0]}")
    return archives[0]


def _extract(archive: Path, target: Path) -> None:
    """Top-level `tests/*.py` of the archive into `target` (a package), plus the stand-ins."""
    target.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) == 3 and parts[1] == "tests" and parts[2].endswith(".py") and member.isfile():
                (target / parts[2]).write_bytes(tar.extractfile(member).read())
    (target / "__init__.py").touch()
    for relative, text in STAND_INS.items():
        (target / relative).parent.mkdir(exist_ok=True)
        (target / relative).write_text(text)


def ensure_extracted() -> Path:
    """Folder holding the package `transformers_sdist_tests` (fetched and extracted once per version)."""
    root = cache_root()
    package = root / PACKAGE
    if (package / "test_modeling_common.py").is_file():
        return root
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        archive = _fetch_sdist(Path(scratch))
        staged = Path(scratch) / PACKAGE
        _extract(archive, staged)
        try:
            staged.rename(package)  # atomic: a concurrent session may have won the race
        except OSError:
            if not (package / "test_modeling_common.py").is_file():
                raise
    return root


def load_module(name: str = "test_modeling_common"):
    """Import `transformers_sdist_tests.<name>`; raises `CommonTestsUnavailable` when it cannot be fetched."""
    root = str(ensure_extracted())
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"{PACKAGE}.{name}")
