"""Import layering of `src/vjepa2_hf`: the library below, the applications (`workflows/`, `commands/`, `cli`) above.

Every `import` / `from ... import` of every module is checked, at module level and inside functions. The rules
(issue 16):

- `encoder` imports no capability, not the training engine and no application;
- `video` imports no model and no application;
- no library module imports `commands`, `cli` or `workflows`;
- `world_model` <-> `vlm`, `probe` <-> `pretraining`, `vlm` -> `probe`, `world_model` -> `pretraining` are forbidden;
- the training engine (`training/`) imports no capability (nor the encoder or video: it is model-agnostic);
- no module imports the package root `vjepa2_hf` (`from .. import __version__`), except the root itself;
- `argparse` only in the command layer (`commands/`, `cli.py`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "vjepa2_hf"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE

CAPABILITIES = {"pretraining", "probe", "world_model", "vlm"}
MODELS = {"encoder"} | CAPABILITIES
APPLICATIONS = {"commands", "cli", "workflows"}
COMMAND_LAYER = {"commands", "cli"}

# (importing layer, imported layer) pairs that are forbidden, besides the library -> application rule
FORBIDDEN = (
    {("encoder", c) for c in CAPABILITIES | {"training"} | APPLICATIONS}
    | {("video", m) for m in MODELS | APPLICATIONS}
    | {("world_model", "vlm"), ("vlm", "world_model"), ("probe", "pretraining"), ("pretraining", "probe"),
       ("vlm", "probe"), ("world_model", "pretraining")}
    | {("training", m) for m in MODELS | {"video"}}
)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(dotted: str, root: Path) -> bool:
    rel = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def imported_modules(source: str, module: str, is_package: bool, root: Path = ROOT) -> list[tuple[str, int]]:
    """Absolute names of everything `source` (the text of `module`) imports, with line numbers; `from X import Y`
    counts as an import of `X.Y` when `Y` is a submodule, else of `X`."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                is_sub = candidate.startswith(PACKAGE) and _is_module(candidate, root)
                found.append((candidate if is_sub else target, node.lineno))
    return found


def layer_of(module: str) -> str:
    """`vjepa2_hf.probe.modeling_probe` -> `probe`; `vjepa2_hf.cli` -> `cli`; the root -> `<root>`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def violations(module: str, imports: list[tuple[str, int]]) -> list[str]:
    """The layering rules broken by `module`'s imports (one message each)."""
    source_layer = layer_of(module)
    out = []
    for target, line in imports:
        where = f"{module}:{line} imports {target}"
        if target.split(".")[0] == "argparse" and source_layer not in COMMAND_LAYER:
            out.append(f"{where}: argparse belongs to the command layer (commands/, cli.py)")
        if target.split(".")[0] != PACKAGE:
            continue
        target_layer = layer_of(target)
        if target == PACKAGE and module != PACKAGE:
            out.append(f"{where}: a leaf module must not import the package root")
        elif source_layer not in APPLICATIONS and target_layer in APPLICATIONS and module != PACKAGE:
            out.append(f"{where}: the library must not import the application layer")
        elif (source_layer, target_layer) in FORBIDDEN:
            out.append(f"{where}: {source_layer} -> {target_layer} is forbidden")
    if module == PACKAGE:  # the root may import the library, never the applications
        out += [f"{module}:{line} imports {t}: the package root must not import the application layer"
                for t, line in imports if t.split(".")[0] == PACKAGE and layer_of(t) in APPLICATIONS]
    return out


def all_violations(root: Path = ROOT) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        imports = imported_modules(path.read_text(encoding="utf-8"), module, path.name == "__init__.py", root)
        out += violations(module, imports)
    return out


def test_the_tree_has_no_forbidden_import():
    found = all_violations()
    assert not found, "forbidden imports:\n" + "\n".join(found)


def test_every_module_is_seen():
    modules = {_module_name(p, ROOT) for p in ROOT.rglob("*.py")}
    for expected in ("vjepa2_hf.training.loop", "vjepa2_hf.workflows.quickstart", "vjepa2_hf.commands.probe",
                     "vjepa2_hf.probe.modeling_probe", "vjepa2_hf.cli"):
        assert expected in modules


@pytest.mark.parametrize(
    "module, is_package, source, expected",
    [
        ("vjepa2_hf.encoder.modeling_vjepa2", False, "def f():\n    from ..probe import x\n", "encoder -> probe"),
        ("vjepa2_hf.encoder.modeling_vjepa2", False, "from ..training import loop\n", "encoder -> training"),
        ("vjepa2_hf.video.decoding", False, "from vjepa2_hf.encoder import VJEPA2Model\n", "video -> encoder"),
        ("vjepa2_hf.probe.quickstart", False, "from .. import pretraining\n", "probe -> pretraining"),
        ("vjepa2_hf.pretraining.evaluation", False, "import vjepa2_hf.probe.attentive_pooler\n", "pretraining -> probe"),
        ("vjepa2_hf.vlm.model_card", False, "from ..probe.model_card import render_model_card\n", "vlm -> probe"),
        ("vjepa2_hf.vlm", True, "from ..world_model import planning\n", "vlm -> world_model"),
        ("vjepa2_hf.world_model.training_vjepa2_ac", False, "from ..pretraining import checkpointing\n",
         "world_model -> pretraining"),
        ("vjepa2_hf.training.loop", False, "from ..world_model.world_model import VJEPA2WorldModel\n",
         "training -> world_model"),
        ("vjepa2_hf.probe.model_card", False, "def f():\n    from .. import __version__\n", "package root"),
        ("vjepa2_hf.world_model.convert_vjepa2_ac_checkpoint", False, "from ..cli import main\n",
         "application layer"),
        ("vjepa2_hf.probe.export", False, "from ..workflows.quickstart import run_quickstart\n", "application layer"),
        ("vjepa2_hf.probe.run_video_classification", False, "import argparse\n", "argparse"),
    ],
)
def test_the_checker_catches_each_rule(module, is_package, source, expected):
    found = violations(module, imported_modules(source, module, is_package))
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    "module, source",
    [
        ("vjepa2_hf.commands.probe", "import argparse\nfrom ..workflows.quickstart import run_quickstart\n"),
        ("vjepa2_hf.workflows.quickstart", "from ..pretraining import pretrain\nfrom ..probe import run_probe\n"),
        ("vjepa2_hf.world_model.training_vjepa2_ac", "from ..training.checkpointing import save_checkpoint\n"),
        ("vjepa2_hf.auto_registration", "from . import vlm\n"),
        ("vjepa2_hf.vlm.model_card", "from .._version import __version__\n"),
    ],
)
def test_allowed_imports_pass(module, source):
    assert violations(module, imported_modules(source, module, False)) == []
