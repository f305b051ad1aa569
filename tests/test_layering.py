"""Import layering of `src/vjepa2_hf`: the library below, the applications (`workflows/`, `commands/`, `cli`) above.

Every `import` / `from ... import` of every module is checked, at module level and inside functions, and so is every
entry of the lazy-import tables (`_SUBMODULES = {...}` handed to `lazy_imports.attach` in package `__init__`s, keys
relative to the package, e.g. `"modeling_probe"` or `"..training.loop"`), so a lazy import cannot bypass the rules.
The rules (issue 16):

- `encoder` imports no capability, not the training engine and no application;
- `video` imports no model and no application;
- no library module imports `commands`, `cli` or `workflows`;
- `world_model` <-> `vlm`, `probe` <-> `pretraining`, `vlm` -> `probe`, `world_model` -> `pretraining` are forbidden;
- the training engine (`training/`) imports no capability (nor the encoder or video: it is model-agnostic);
- `feature_extraction` (corpus embedding jobs) imports only the encoder and video of the library: no other
  capability and not the training engine; `encoder`, `video` and `training` do not import it;
- no module imports the package root `vjepa2_hf` (`from .. import __version__`), except the root itself;
- `argparse` only in the command layer (`commands/`, `cli.py`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "vjepa2_hf"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE

CAPABILITIES = {"pretraining", "probe", "world_model", "vlm", "feature_extraction"}
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
    | {("feature_extraction", c) for c in CAPABILITIES - {"feature_extraction"} | {"training"}}
)
LAZY_TABLE = "_SUBMODULES"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(dotted: str, root: Path) -> bool:
    rel = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def _resolve(package: str, level: int, name: str | None) -> str:
    base = package.split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def lazy_table_imports(tree: ast.Module, package: str) -> list[tuple[str, int]]:
    """The modules named by the lazy-import tables of a module: `_SUBMODULES = {...}` assignments and dict literals
    passed to `attach(...)`; a key `"x.y"` is `.x.y` relative to `package`, `"..x"` goes one package up."""
    tables = [
        node.value for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        and any(isinstance(t, ast.Name) and t.id == LAZY_TABLE for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))
    ]
    tables += [
        arg for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "attach"
        for arg in node.args if isinstance(arg, ast.Dict)
    ]
    found = []
    for table in tables:
        if not isinstance(table, ast.Dict):
            continue
        for key in table.keys:
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                name = key.value
                level = max(len(name) - len(name.lstrip(".")), 1)
                found.append((_resolve(package, level, name.lstrip(".")), key.lineno))
    return found


def imported_modules(source: str, module: str, is_package: bool, root: Path = ROOT) -> list[tuple[str, int]]:
    """Absolute names of everything `source` (the text of `module`) imports, with line numbers, lazy-import tables
    included; `from X import Y` counts as an import of `X.Y` when `Y` is a submodule, else of `X`."""
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(source)
    found = lazy_table_imports(tree, package)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve(package, node.level, node.module)
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


def test_the_lazy_tables_are_read():
    """The real package `__init__`s' tables resolve to real modules (a key the checker misreads would be missed)."""
    for init in sorted(ROOT.rglob("__init__.py")):
        module = _module_name(init, ROOT)
        for target, _ in lazy_table_imports(ast.parse(init.read_text(encoding="utf-8")), module):
            assert _is_module(target, ROOT), f"{module}: lazy table names {target}, which is not a module"
    pretraining = ROOT / "pretraining" / "__init__.py"
    names = {t for t, _ in lazy_table_imports(ast.parse(pretraining.read_text()), "vjepa2_hf.pretraining")}
    assert {"vjepa2_hf.training.loop", "vjepa2_hf.pretraining.masking"} <= names


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
        ("vjepa2_hf.encoder.modeling_vjepa2", False, "from ..feature_extraction import embed_videos\n",
         "encoder -> feature_extraction"),
        ("vjepa2_hf.video.decoding", False, "from ..feature_extraction.inputs import x\n", "video -> feature_extraction"),
        ("vjepa2_hf.training.loop", False, "import vjepa2_hf.feature_extraction\n", "training -> feature_extraction"),
        ("vjepa2_hf.feature_extraction.embed_job", False, "from ..probe import x\n", "feature_extraction -> probe"),
        ("vjepa2_hf.feature_extraction.embed_job", False, "from ..training import loop\n",
         "feature_extraction -> training"),
        # lazy-import tables: relative keys, leading dots, a dict literal handed to attach()
        ("vjepa2_hf.encoder", True, "_SUBMODULES = {'modeling_vjepa2': ['A'], '..probe.hub': ['B']}\n",
         "encoder -> probe"),
        ("vjepa2_hf.vlm", True, "_SUBMODULES: dict = {'..world_model.planning': ['cem']}\n", "vlm -> world_model"),
        ("vjepa2_hf.training", True, "__getattr__, __dir__ = attach(__name__, {'..video.decoding': ['R']})\n",
         "training -> video"),
        ("vjepa2_hf.probe", True, "_SUBMODULES = {'..workflows.quickstart': ['run']}\n", "application layer"),
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
        ("vjepa2_hf.feature_extraction.embed_job", "from ..encoder import VJEPA2Model\nfrom ..video import VideoReader\n"),
        ("vjepa2_hf.pretraining", "_SUBMODULES = {'..training.loop': ['NonFiniteLossError'], 'masking': ['M']}\n"),
    ],
)
def test_allowed_imports_pass(module, source):
    is_package = (ROOT / Path(*module.split(".")[1:]) / "__init__.py").is_file()
    assert violations(module, imported_modules(source, module, is_package)) == []


def test_modeling_never_imports_conversion_tooling():
    """transformers' rule: a `modeling_*` module imports no `convert_*` module (strict-loading checks live in
    `strict_loading`, which both use)."""
    offenders = []
    for path in sorted(ROOT.rglob("modeling_*.py")):
        module = _module_name(path, ROOT)
        for target, line in imported_modules(path.read_text(encoding="utf-8"), module, False):
            if target.rpartition(".")[2].startswith("convert_"):
                offenders.append(f"{module}:{line} imports {target}")
    assert offenders == []
