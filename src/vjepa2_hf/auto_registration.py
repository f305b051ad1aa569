"""Registration of the package's configs, models, processors and pipelines with transformers, on first use.

Our models use their own model types (`vjepa2_hf`, `vjepa2_ac`, `vjepa2_world_model`, `vjepa2_vlm`), not `vjepa2`,
which transformers owns. Configs of model type `vjepa2` (the `facebook/vjepa2-*` repos) load into our classes through
`VJEPA2Config.from_pretrained` and `VJEPA2Model.from_pretrained` directly.

`import vjepa2_hf` must stay cheap, and importing transformers' Auto classes alone costs seconds, so nothing is
registered at import time. Instead a post-import hook waits for transformers' Auto modules
(`configuration_auto`, `modeling_auto`, `processing_auto`) and its `pipelines` package: when one of them is
imported (or at once, if it already is), our entries are registered with it. Model, processor and pipeline
classes are registered by name, as [`LazyClass`] stand-ins that import the real class on first use, so
`AutoModel.from_pretrained(folder)` never imports the VLM or the world model unless the folder holds one.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import logging as pylogging
import sys
from collections.abc import Callable

PKG = "vjepa2_hf"
# model type -> (module, config class)
CONFIGS = {
    "vjepa2_hf": (f"{PKG}.encoder.configuration_vjepa2", "VJEPA2Config"),
    "vjepa2_ac": (f"{PKG}.world_model.configuration_vjepa2_ac", "VJEPA2ACConfig"),
    "vjepa2_world_model": (f"{PKG}.world_model.configuration_vjepa2_world_model", "VJEPA2WorldModelConfig"),
    "vjepa2_vlm": (f"{PKG}.vlm.configuration_vjepa2_vlm", "VJEPA2VLMConfig"),
}
# (Auto class, model type, module, class)
MODELS = [
    ("AutoModel", "vjepa2_hf", f"{PKG}.encoder.modeling_vjepa2", "VJEPA2Model"),
    ("AutoModel", "vjepa2_ac", f"{PKG}.world_model.modeling_vjepa2_ac", "VJEPA2ACPredictor"),
    ("AutoModel", "vjepa2_world_model", f"{PKG}.world_model.world_model", "VJEPA2WorldModel"),
    ("AutoModelForVideoClassification", "vjepa2_hf", f"{PKG}.probe.modeling_probe", "VJEPA2ForVideoClassification"),
    ("AutoModelForImageTextToText", "vjepa2_vlm", f"{PKG}.vlm.modeling_vjepa2_vlm", "VJEPA2VLMForConditionalGeneration"),
]
# `AutoProcessor` of a saved folder: the encoder / classifier folders' video processor, the VLM's processor and the
# world model's frame processor (kept in its config.json)
PROCESSORS = [
    ("vjepa2_hf", f"{PKG}.video.video_processing_vjepa2", "VJEPA2VideoProcessor"),
    ("vjepa2_vlm", f"{PKG}.vlm.processing_vjepa2_vlm", "VJEPA2VLMProcessor"),
    ("vjepa2_world_model", f"{PKG}.world_model.processing_vjepa2_ac", "VJEPA2ACFrameProcessor"),
]
# task -> (module, pipeline class, Auto class, type). `video-classification` is transformers' task: its class
# builds our pipeline for our model type only and transformers' own class, unchanged, for every other model.
PIPELINES = {
    "video-classification": (
        f"{PKG}.probe.pipeline_video_classification", "VideoClassificationTaskPipeline",
        "AutoModelForVideoClassification", "video",
    ),
    "video-text-to-text": (
        f"{PKG}.vlm.pipeline_video_text_to_text", "VideoTextToTextPipeline", "AutoModelForImageTextToText",
        "multimodal",
    ),
}


class LazyClass(type):
    """Metaclass of a stand-in for `module.name`: attribute access, calls and isinstance/issubclass checks go to
    the real class, imported on first use."""

    def _resolve(cls) -> type:
        real = cls.__dict__.get("_lazy_real")
        if real is None:
            real = getattr(importlib.import_module(cls._lazy_module), cls.__name__)
            type.__setattr__(cls, "_lazy_real", real)
        return real

    def __getattr__(cls, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return getattr(cls._resolve(), name)

    def __call__(cls, *args, **kwargs):
        return cls._resolve()(*args, **kwargs)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, cls._resolve())

    def __subclasscheck__(cls, sub) -> bool:
        return issubclass(sub, cls._resolve())


def lazy_class(module: str, name: str, **attributes) -> type:
    """A [`LazyClass`] stand-in for `module.name`, with `attributes` (e.g. `config_class`) set without importing."""
    return LazyClass(name, (), {"_lazy_module": module, "__module__": module, "_lazy_real": None, **attributes})


def _config(model_type: str) -> type:
    module, name = CONFIGS[model_type]
    return getattr(importlib.import_module(module), name)


def _register_configs(auto) -> None:
    for model_type in CONFIGS:
        auto.AutoConfig.register(model_type, _config(model_type), exist_ok=True)


def _register_models(auto) -> None:
    for auto_name, model_type, module, name in MODELS:
        config = _config(model_type)
        getattr(auto, auto_name).register(config, lazy_class(module, name, config_class=config), exist_ok=True)


def _register_processors(auto) -> None:
    for model_type, module, name in PROCESSORS:
        auto.AutoProcessor.register(_config(model_type), lazy_class(module, name), exist_ok=True)


def _register_pipelines(pipelines) -> None:
    import transformers

    base_logger = pylogging.getLogger("transformers.pipelines.base")
    previous = base_logger.level
    base_logger.setLevel(pylogging.ERROR)  # no "Overwriting pipeline" warning for video-classification
    try:
        for task, (module, name, auto_name, kind) in PIPELINES.items():
            current = pipelines.PIPELINE_REGISTRY.supported_tasks.get(task, {})
            impl = current.get("impl")  # a class, or a dotted name for transformers' own tasks
            if (impl if isinstance(impl, str) else getattr(impl, "__name__", "")).rsplit(".", 1)[-1] == name:
                continue  # already ours (lazy or real)
            default = pipelines.SUPPORTED_TASKS.get(task, {}).get("default")
            kwargs = {"default": default} if default else {}
            pipelines.PIPELINE_REGISTRY.register_pipeline(
                task, pipeline_class=lazy_class(module, name), pt_model=getattr(transformers, auto_name), type=kind,
                **kwargs,
            )
    finally:
        base_logger.setLevel(previous)


HOOKS: dict[str, Callable] = {
    "transformers.models.auto.configuration_auto": _register_configs,
    "transformers.models.auto.modeling_auto": _register_models,
    "transformers.models.auto.processing_auto": _register_processors,
    "transformers.pipelines": _register_pipelines,
}


def _run_hook(name: str, module) -> None:
    try:
        HOOKS[name](module)
    except Exception as err:  # registration must never break the user's import of transformers
        from transformers.utils import logging  # transformers is being imported: no extra cost

        logging.get_logger(__name__).warning(f"vjepa2_hf: could not register with {name}: {err!r}")


class _HookedLoader(importlib.abc.Loader):
    def __init__(self, loader, name: str) -> None:
        self._loader, self._name = loader, name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        _run_hook(self._name, module)

    def __getattr__(self, name: str):  # get_source, get_resource_reader, ...
        return getattr(self._loader, name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the modules in `HOOKS` so that their hook runs right after they are executed."""

    def __init__(self) -> None:
        self._busy: set[str] = set()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in HOOKS or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _HookedLoader(spec.loader, fullname)
        return spec


def register_auto_classes() -> None:
    """Register everything, now for transformers modules already imported and on import for the others; called
    once when `vjepa2_hf` is imported (idempotent)."""
    if not any(isinstance(f, _PostImportFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PostImportFinder())
    for name in HOOKS:
        if name in sys.modules:
            _run_hook(name, sys.modules[name])
