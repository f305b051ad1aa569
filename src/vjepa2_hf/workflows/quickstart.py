"""`vjepa2-hf quickstart`: the whole V-JEPA 2 workflow on CPU in a few minutes, with no download.

1. **data**: synthetic clips written as real H.264 mp4 files with a held-out split: camera motion over photographs
   that pretraining never sees (label = pan direction / zoom / rotation, 12 classes; the default) or moving shapes
   (`--content shapes`: direction of motion, 8 classes), or `--data` (any folder / list / dataset `vjepa2-hf probe`
   reads);
2. **pretraining**: a tiny V-JEPA 2 with the natural-content recipe (`frozen_comparison.NATURAL_RECIPE`: official
   loss and EMA target, masks that also hide the future, with kNN / pooled-linear accuracy tracked during training)
   or, for shapes, the `tiny` recipe; or `--model` (a Hub repo or folder: no pretraining);
3. **probing**: the attentive probe trained with the `Trainer` on the frozen encoder's cached features, and the same
   probe on a randomly initialised encoder of the same shape (the baseline);
4. **inference**: `pipeline("video-classification")` on a held-out video;
5. **report**: `report.md` (results table, timings), PNG plots of the losses and accuracies, and the model folders
   (weights, processor, model card) under `models/`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers.utils import logging

logger = logging.get_logger(__name__)

__all__ = ["QuickstartSettings", "QuickstartResult", "run_quickstart", "SMALL_SETTINGS"]


@dataclass
class QuickstartSettings:
    """Knobs of the quickstart (the defaults are the README's run: under 10 minutes on 2 shared CPU cores).

    Attributes:
        output_dir: where everything goes.
        model: a backbone Hub repo / folder to probe instead of pretraining the tiny model.
        data: a dataset to probe instead of the synthetic one.
        num_videos: synthetic clips (train + held-out, 25% held out).
        content: synthetic data: ``"photographs"`` (camera motion over real photographs, 12 classes; pretraining
            with `frozen_comparison.NATURAL_RECIPE`, the recipe measured to beat random encoders; needs the
            ``natural`` extra) or ``"shapes"`` (moving shapes, 8 directions; the ``tiny`` recipe, which stays level
            with random encoders).
        num_frames, size: synthetic clip geometry (8 frames; size None: 32 px for photographs, 64 px for shapes).
        pretrain_steps: optimizer steps of the pretraining recipe (None: `NATURAL_QUICKSTART_STEPS` for photographs,
            the tiny recipe's 600 for shapes); the warmup and cooldown scale with it.
        probe_epochs, probe_learning_rate, probe_batch_size: the probe's Trainer recipe.
        probe_layers, probe_heads: probe shape: self-attention blocks before the cross-attention block (0 here, for
            speed on CPU; the released V-JEPA 2 probes have 3) and heads.
        frame_step: frame step when sampling user videos (`--data`).
        random_baseline: also probe a randomly initialised encoder of the same shape.
        seed: seed of everything.
        progress: progress bars.
        num_threads: torch CPU threads. Default: 1 for the tiny model (its small matrix products gain little from
            threads, and multi-threaded OpenMP on a busy machine spin-waits: a 2-core box shared with other work ran
            pretraining steps >10x slower with 2 threads than with 1), torch's default with `--model`.
    """

    output_dir: str = "quickstart_out"
    model: str | None = None
    data: str | None = None
    num_videos: int = 512
    content: str = "photographs"
    num_frames: int = 8
    size: int | None = None
    pretrain_steps: int | None = None
    probe_epochs: int = 20
    probe_learning_rate: float = 5e-3
    probe_batch_size: int = 16
    probe_layers: int = 0
    probe_heads: int = 4
    frame_step: int = 4
    random_baseline: bool = True
    seed: int = 0
    progress: bool = True
    num_threads: int | None = None


#: pretraining steps of the default (photographs) run: the tracked kNN / pooled-linear accuracy of the 8000-step
#: evidence runs is within a few points of its plateau by 4000 steps (about 4 minutes on one CPU thread)
NATURAL_QUICKSTART_STEPS = 4000

#: a setting that runs end to end in well under a minute (tests)
SMALL_SETTINGS = dict(num_videos=96, pretrain_steps=12, probe_epochs=3)


@dataclass
class QuickstartResult:
    """Paths and measured numbers of a quickstart run."""

    output_dir: Path
    report: Path
    plots: list[Path]
    model_dirs: dict[str, Path]
    results: dict[str, dict[str, float]]
    pretraining: dict[str, Any]
    pipeline_prediction: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


def _stage(index: int, total: int, text: str, progress: bool) -> None:
    if progress:
        print(f"[{index}/{total}] {text}", flush=True)


def _clip_size(settings: QuickstartSettings) -> int:
    return settings.size or (32 if settings.content == "photographs" else 64)


def _pretrain(settings: QuickstartSettings, out: Path) -> tuple[Path, dict[str, Any]]:
    """The pretraining step: the natural recipe on photographs, or the tiny recipe on moving shapes."""
    if settings.content == "photographs":
        return _pretrain_photographs(settings, out)
    return _pretrain_shapes(settings, out)


def _check_content(settings: QuickstartSettings) -> None:
    """Before anything runs: a known ``content``, and its photographs installed when clips are rendered from them
    (the synthetic data, or the pretraining when no ``model`` is given)."""
    if settings.content not in ("photographs", "shapes"):
        raise ValueError(f"content: expected 'photographs' or 'shapes', got {settings.content!r}")
    if settings.content != "photographs" or (settings.data is not None and settings.model is not None):
        return
    from ..video.natural_synthetic import natural_content_available

    if not natural_content_available():
        raise ValueError("the quickstart's default clips are rendered from scikit-image's photographs, which are not "
                         "installed: pip install 'vjepa2-hf[natural]', or run with --content shapes")


def _pretrain_photographs(settings: QuickstartSettings, out: Path) -> tuple[Path, dict[str, Any]]:
    """`NATURAL_RECIPE` with a kNN / pooled-linear tracker on held-out photographs (its curves go to the report)."""
    from .frozen_comparison import pretrain_natural, random_encoder

    steps = settings.pretrain_steps or NATURAL_QUICKSTART_STEPS
    result, tracker = pretrain_natural(out / "pretrain", seed=settings.seed, steps=steps, size=_clip_size(settings),
                                       num_frames=settings.num_frames, progress=settings.progress,
                                       track_every=max(1, steps // 8))
    summary = _pretraining_summary(result, "natural-content recipe (`frozen_comparison.NATURAL_RECIPE`)")
    randoms = [tracker.evaluate(random_encoder(tracker.last_model.config, settings.seed + s)) for s in (1, 2, 3)]
    summary["tracking"] = {"history": tracker.history,
                           "random": {k: sum(r[k] for r in randoms) / len(randoms) for k in randoms[0]}}
    plot = out / "plots" / "frozen_feature_curves.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    tracker.plot(plot, chance=1 / 12, baselines=summary["tracking"]["random"],
                 title="camera motion (12 classes), held-out photographs")
    summary["tracking_plot"] = str(plot)
    return Path(result.final_model_dir), summary


def _pretraining_summary(result, recipe: str) -> dict[str, Any]:
    if result.final_model_dir is None:
        raise RuntimeError(f"pretraining stopped early ({result.stopped}); see {result.output_dir}")
    losses = [h["loss"] for h in result.history]
    return {
        "recipe": recipe,
        "steps": result.step,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "min_loss": min(losses),
        "loss_history": losses,
        "final_target_std": result.history[-1].get("target_std"),
        "model_dir": str(result.final_model_dir),
    }


def _pretrain_shapes(settings: QuickstartSettings, out: Path) -> tuple[Path, dict[str, Any]]:
    """The tiny recipe (moving shapes, rendered in memory)."""
    from ..pretraining import load_pretraining_config, pretrain

    recipe = load_pretraining_config("tiny").optimization
    steps = settings.pretrain_steps or recipe.total_steps
    overrides = [
        f"run.output_dir={out / 'pretrain'}",
        f"optimization.total_steps={steps}",
        "run.report_to=[]",
        f"run.seed={settings.seed}",
        f"run.checkpoint_every={steps}",
        f"run.progress_bar={'true' if settings.progress else 'false'}",
    ]
    overrides += _scaled_schedule(steps, recipe)
    result = pretrain("tiny", overrides=overrides, overwrite=True)  # the quickstart owns out/pretrain
    summary = _pretraining_summary(result, "`tiny` recipe (moving shapes)")
    return Path(result.final_model_dir), summary


def _scaled_schedule(steps: int, recipe) -> list[str]:
    """Warmup and cooldown of `recipe` (the tiny recipe's `optimization` section) scaled to a run of `steps` (none
    for a run as long as the recipe's)."""
    if steps >= recipe.total_steps:
        return []
    scale = steps / recipe.total_steps
    warmup = max(1, round(recipe.warmup_steps * scale))
    cooldown = max(1, round(recipe.cooldown_steps * scale))
    return [f"optimization.warmup_steps={warmup}", f"optimization.cooldown_steps={cooldown}"]


def _save_random_encoder(model_dir: Path, reference_dir: Path, seed: int) -> Path:
    """A randomly initialised encoder of the reference's shape, with the reference's processor (same input)."""
    from ..encoder.configuration_vjepa2 import VJEPA2Config, clip_num_frames
    from ..encoder.modeling_vjepa2 import VJEPA2Model
    from ..video.video_processing_vjepa2 import load_video_processor

    config = VJEPA2Config.from_pretrained(str(reference_dir))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VJEPA2Model(config)
    model.save_pretrained(str(model_dir))
    load_video_processor(reference_dir, config, clip_num_frames(config)).save_pretrained(str(model_dir))
    return model_dir


def _epoch_curves(log_history: list[dict[str, Any]]) -> dict[str, list[float]]:
    curves: dict[str, list[float]] = {"epoch": [], "loss": [], "eval_epoch": [], "eval_accuracy": [], "eval_loss": []}
    for entry in log_history:
        if "loss" in entry and "epoch" in entry:
            curves["epoch"].append(float(entry["epoch"]))
            curves["loss"].append(float(entry["loss"]))
        if "eval_accuracy" in entry and "epoch" in entry:
            curves["eval_epoch"].append(float(entry["epoch"]))
            curves["eval_accuracy"].append(float(entry["eval_accuracy"]))
            curves["eval_loss"].append(float(entry["eval_loss"]))
    return curves


def _plots(out: Path, pretraining: dict[str, Any], curves: dict[str, dict[str, list[float]]], chance: float) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    plot_dir = out / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    if pretraining.get("loss_history"):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(range(1, len(pretraining["loss_history"]) + 1), pretraining["loss_history"], lw=1)
        ax.set(xlabel="optimizer step", ylabel="L1 latent loss", title="V-JEPA 2 pretraining (tiny)")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        paths.append(plot_dir / "pretraining_loss.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, curve in curves.items():
        axes[0].plot(curve["epoch"], curve["loss"], marker="o", ms=3, label=name)
        axes[1].plot(curve["eval_epoch"], curve["eval_accuracy"], marker="o", ms=3, label=name)
    axes[0].set(xlabel="epoch", ylabel="training cross-entropy", title="attentive probe: training loss")
    axes[1].axhline(chance, color="gray", ls="--", lw=1, label="chance")
    axes[1].set(xlabel="epoch", ylabel="held-out top-1 accuracy", title="attentive probe: held-out accuracy",
                ylim=(0, 1))
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    paths.append(plot_dir / "probe_curves.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def _report(out: Path, settings: QuickstartSettings, results: dict[str, dict[str, float]], pretraining: dict[str, Any],
            prediction: dict[str, Any], timings: dict[str, float], plots: list[Path], model_dirs: dict[str, Path],
            data_line: str, chance: float, num_eval: int, protocols=None) -> Path:
    lines = ["# V-JEPA 2 quickstart report", ""]
    lines.append(f"Data: {data_line}")
    lines.append("")
    if pretraining:
        lines += [
            "## Pretraining",
            "",
            f"Tiny V-JEPA 2 ({pretraining['recipe']}), {pretraining['steps']} optimizer steps: L1 latent loss "
            f"{pretraining['first_loss']:.4f} (first step) -> {pretraining['last_loss']:.4f} (last step), minimum "
            f"{pretraining['min_loss']:.4f}; target feature std at the end {pretraining['final_target_std']:.3f} "
            "(no collapse if well above 0).",
            "",
        ]
    lines += [
        "## Attentive probe on frozen features (held-out clips)",
        "",
        "| encoder | top-1 accuracy | top-5 accuracy | class-mean recall@5 | held-out loss | final train loss |",
        "|---|---|---|---|---|---|",
    ]
    for name, metrics in results.items():
        lines.append(
            f"| {name} | {metrics['eval_accuracy']:.3f} | {metrics.get('eval_top5_accuracy', float('nan')):.3f} | "
            f"{metrics.get('eval_class_mean_recall@5', float('nan')):.3f} | {metrics['eval_loss']:.3f} | "
            f"{metrics['final_train_loss']:.3f} |"
        )
    lines.append(f"| chance | {chance:.3f} | | | | |")
    lines.append("")
    if len(results) == 2:
        (a, ma), (b, mb) = results.items()
        lines.append(
            f"Held-out top-1 accuracy: {a} {ma['eval_accuracy']:.3f}, {b} {mb['eval_accuracy']:.3f} (difference "
            f"{ma['eval_accuracy'] - mb['eval_accuracy']:+.3f}), chance {chance:.3f}. The probe, its training recipe "
            "and the data are identical for both encoders."
        )
        pa, pb = ma["eval_accuracy"], mb["eval_accuracy"]
        noise = math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / max(num_eval, 1))
        verdict = "beyond" if abs(pa - pb) > 2 * noise else "within"
        lines.append("")
        lines.append(
            f"With {num_eval} held-out clips the standard error of the difference is {noise:.3f}: the difference is "
            f"{verdict} two standard errors."
        )
        if pretraining and settings.data is None and settings.content == "shapes":
            lines.append(
                "On this synthetic data the tiny recipe is level with random features (measured with thousands of "
                "probe clips; `scripts/pretraining_ablation.py` shows that a predictor trained on the frozen random "
                "encoder reaches the same pretraining loss, so these clips give the encoder nothing to learn)."
            )
        lines.append("")
    if protocols:
        lines += _protocol_lines(protocols, chance)
    if pretraining.get("tracking"):
        lines += _tracking_lines(pretraining["tracking"])
    lines += [
        "## Pipeline on a held-out video",
        "",
        f"`pipeline(\"video-classification\")` on `{prediction['video']}` (true label: **{prediction['true_label']}**):",
        "",
        "| rank | label | score |",
        "|---|---|---|",
    ]
    for rank, item in enumerate(prediction["top"], start=1):
        lines.append(f"| {rank} | {item['label']} | {item['score']:.3f} |")
    verdict = "correct" if prediction["correct"] else (
        f"**wrong**: the true label is {prediction['true_label']}, the classifier said {prediction['top'][0]['label']}")
    lines += ["", f"Top-1 prediction: {verdict}."]
    lines += ["", "## Plots", ""]
    lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in plots]
    lines += ["", "## Model folders", ""]
    lines += [f"- `{p.relative_to(out).as_posix() if p.is_relative_to(out) else p}`: {name}" for name, p in model_dirs.items()]
    lines += ["", "## Timings (seconds)", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in timings.items()]
    lines += ["", "## Settings", "", "```json", json.dumps(asdict(settings), indent=2), "```", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _tracking_lines(tracking: dict[str, Any]) -> list[str]:
    """The pretraining callback's kNN / pooled-linear accuracy against step (the curves are in the plots)."""
    lines = ["## Representation quality during pretraining", "",
             "Every few hundred steps `FrozenFeatureCallback` ran kNN and a linear probe on mean-pooled features of the "
             "EMA encoder (camera motion, 12 classes, 192 + 192 clips of held-out photographs); the last row is the "
             "mean of three random encoders of the same shape.", "",
             "| step | kNN | linear (mean-pooled) |", "|---|---|---|"]
    lines += [f"| {h['step']} | {h['knn']:.3f} | {h['linear_mean']:.3f} |" for h in tracking["history"]]
    random = tracking["random"]
    lines += [f"| random encoders | {random['knn']:.3f} | {random['linear_mean']:.3f} |", ""]
    return lines


def run_quickstart(settings: QuickstartSettings | None = None, **overrides: Any) -> QuickstartResult:
    """Run the quickstart (see the module docstring) and return its measured numbers."""
    settings = settings or QuickstartSettings()
    for key, value in overrides.items():
        if not hasattr(settings, key):
            raise ValueError(f"unknown quickstart setting {key!r}")
        setattr(settings, key, value)
    threads = settings.num_threads or (1 if settings.model is None else None)
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    from transformers.utils import logging as hf_logging

    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()  # one bar per stage: no "Loading weights" / "Writing model shards" bars
    if not settings.progress:  # quiet: no load reports of the new probe heads either, only the summary
        hf_logging.set_verbosity_error()
    try:
        return _run(settings)
    finally:
        torch.set_num_threads(previous_threads)
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _prepare_data(settings: QuickstartSettings, out: Path) -> tuple[Path | str, str]:
    """Step 1: the synthetic mp4 clips (or the user's `--data`) and the report's line about them."""
    from ..video.synthetic import generate_motion_dataset

    if settings.data is not None:
        _stage(1, _STAGES, f"checking the videos in {settings.data} ...", settings.progress)
        _validate_data(settings)
        return settings.data, f"`{settings.data}`"
    photographs = settings.content == "photographs"
    what = "camera-motion videos over held-out photographs" if photographs else "moving-shape videos"
    _stage(1, _STAGES, f"writing {settings.num_videos} synthetic {what} (mp4) ...", settings.progress)
    size = _clip_size(settings)
    data_dir = generate_motion_dataset(
        out / "data", settings.num_videos, num_frames=settings.num_frames, size=size, seed=settings.seed,
        task="camera" if photographs else "direction", overwrite=False, content=settings.content,
        progress=settings.progress,
    )
    info = json.loads((Path(data_dir) / "dataset_info.json").read_text())
    content = ("camera motion over photographs never seen in pretraining (pan in 8 directions, zoom in / out, "
               "rotate cw / ccw)" if photographs else "moving shapes, direction of motion")
    data_line = (
        f"synthetic {content} ({info['num_classes']} classes), {info['num_train']} training and {info['num_test']} "
        f"held-out mp4 clips of {settings.num_frames} frames at {size}x{size} px (`{Path(data_dir).relative_to(out)}`)"
    )
    return data_dir, data_line


def _validate_data(settings: QuickstartSettings) -> None:
    """Read `--data`'s splits before anything long runs: a clear error now instead of one after pretraining."""
    from ..probe.run_video_classification import DataArguments, load_video_splits

    try:
        train, evals, id2label = load_video_splits(
            DataArguments(data=str(settings.data), frame_step=settings.frame_step), seed=settings.seed)
    except Exception as error:  # noqa: BLE001 - any failure to read the data is reported as a `--data` error
        raise ValueError(f"--data {settings.data!r}: expected a folder / CSV / dataset of labelled videos that "
                         f"`vjepa2-hf probe` reads, but reading it failed: {error}") from error
    if len(id2label) < 2 or len(train) < 2 or len(evals) < 1:
        raise ValueError(f"--data {settings.data!r}: expected at least 2 classes, 2 training and 1 held-out video, "
                         f"got {len(id2label)} classes, {len(train)} training and {len(evals)} held-out videos")


def _prepare_encoder(settings: QuickstartSettings, out: Path) -> tuple[Path | str, str, dict[str, Any]]:
    """Step 2: the tiny pretraining (or the user's `--model`): the encoder folder, its name, the pretraining
    summary."""
    if settings.model is None:
        default = NATURAL_QUICKSTART_STEPS if settings.content == "photographs" else "the recipe's"
        steps = settings.pretrain_steps or default
        _stage(2, _STAGES, f"pretraining a tiny V-JEPA 2 ({steps} steps) ...", settings.progress)
        encoder_dir, pretraining = _pretrain(settings, out)
        return encoder_dir, "pretrained (tiny V-JEPA 2)", pretraining
    _stage(2, _STAGES, f"using the encoder {settings.model} (no pretraining)", settings.progress)
    encoder_dir = Path(settings.model) if os.path.exists(settings.model) else settings.model
    return encoder_dir, f"pretrained ({settings.model})", {}


def _encoders_to_probe(settings: QuickstartSettings, out: Path, encoder_dir: Path | str, encoder_name: str):
    """The encoder under test and, for the baseline, a randomly initialised encoder of the same shape."""
    encoders = {encoder_name: str(encoder_dir)}
    if settings.random_baseline:
        reference = encoder_dir if isinstance(encoder_dir, Path) else Path(encoder_dir)
        random_dir = out / "models" / "random-encoder"
        if not isinstance(encoder_dir, Path):
            from huggingface_hub import snapshot_download

            from ..hub_access import prepare_hub_load

            patterns = ["config.json", "*preprocessor_config.json"]
            cached_only = prepare_hub_load(str(encoder_dir))
            reference = Path(snapshot_download(str(encoder_dir), allow_patterns=patterns, local_files_only=cached_only))
        encoders["random init (same shape)"] = str(_save_random_encoder(random_dir, reference, settings.seed + 1))
    return encoders


def _probe_one(settings: QuickstartSettings, path: str, folder: Path, data_dir, data_line: str, note: str):
    """One attentive probe with the Trainer on the frozen, cached features of the encoder at `path`."""
    from ..probe.run_video_classification import DataArguments, ModelArguments, default_training_arguments, run_probe

    synthetic = settings.data is None
    model_args = ModelArguments(
        model=path, cache_features=True, feature_cache_dir=str(_feature_cache(folder)),
        num_pooler_layers=settings.probe_layers,
        probe_num_attention_heads=settings.probe_heads, seed_model=settings.seed,
    )
    data_args = DataArguments(
        data=str(data_dir),
        frames_per_clip=settings.num_frames if synthetic else None,
        frame_step=1 if synthetic else settings.frame_step,
        do_resize=not synthetic,
        crop_size=_clip_size(settings) if synthetic else None,  # the clips as written: no resize, no padding
    )
    training_args = default_training_arguments(
        str(folder),
        num_train_epochs=settings.probe_epochs,
        learning_rate=settings.probe_learning_rate,
        per_device_train_batch_size=settings.probe_batch_size,
        seed=settings.seed,
        use_cpu=not torch.cuda.is_available(),
    )
    return run_probe(model_args, data_args, training_args, progress=settings.progress,
                     data_description=data_line, card_note=note, quiet_logs=True)


def _train_probes(settings: QuickstartSettings, out: Path, encoders: dict[str, str], data_dir, data_line: str):
    """One probe per encoder; their metrics, curves, classifier folders and the chance accuracy."""
    results: dict[str, dict[str, float]] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    folders: dict[str, Path] = {}
    probe_dirs: dict[str, Path] = {}
    chance = None
    for index, (name, path) in enumerate(encoders.items()):
        folder = out / "models" / ("pretrained-probe" if index == 0 else "random-probe")
        note = "" if index == 0 else (
            "**Baseline:** the encoder of this model is randomly initialised (not pretrained); only the probe is trained."
        )
        run = _probe_one(settings, path, folder, data_dir, data_line, note)
        metrics = dict(run.metrics)
        curve = _epoch_curves(run.log_history)
        metrics["final_train_loss"] = curve["loss"][-1] if curve["loss"] else float("nan")
        results[name] = metrics
        curves[name] = curve
        folders[f"classifier: {name} encoder + attentive probe (with model card)"] = folder
        probe_dirs[name] = folder
        chance = metrics["chance_accuracy"]
    return results, curves, folders, probe_dirs, chance


def _feature_cache(model_folder: Path) -> Path:
    """Where the probe saved in `model_folder` caches its features: `<output_dir>/feature_cache/<name>`, outside the
    model folders (the frozen-feature protocols read them after the probes)."""
    return model_folder.parent.parent / "feature_cache" / model_folder.name


def _cached_split(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen features ``(N, tokens, D)`` and labels the probe saved in `folder` cached for ``split`` (views
    pooled into tokens)."""
    from safetensors.torch import load_file

    cache = _feature_cache(folder)
    paths = sorted(cache.glob(f"{split}-*.safetensors"), key=lambda p: p.stat().st_mtime)
    if not paths:
        raise FileNotFoundError(f"no cached {split} features in {cache}")
    stored = load_file(str(paths[-1]))
    features = stored["features"].float()
    if features.ndim == 4:  # (N, views, tokens, D)
        features = features.flatten(1, 2)
    return features, stored["labels"].long()


def _frozen_protocols(settings: QuickstartSettings, folders: dict[str, Path], attentive: dict[str, dict[str, float]],
                      num_eval: int) -> dict[str, dict[str, dict[str, float]]]:
    """Every frozen-feature protocol on each encoder's cached features: ``{encoder: {protocol: summary}}``."""
    from ..probe.frozen_features import binomial_standard_error, evaluate_frozen_features

    table = {}
    for name, folder in folders.items():
        train_x, train_y = _cached_split(folder, "train")
        eval_x, eval_y = _cached_split(folder, "eval")
        shots = max(1, min(5, int(torch.bincount(train_y).min())))
        summaries = evaluate_frozen_features(
            train_x, train_y, eval_x, eval_y, protocols=("knn", "linear_mean", "linear_mean_std", "low_shot"),
            seeds=(settings.seed, settings.seed + 1, settings.seed + 2), k=min(20, len(train_y)), shots=shots)
        row = {p: {"accuracy": r.accuracy, "se_seeds": r.se_seeds, "se_clips": r.se_clips,
                   "accuracies": r.accuracies} for p, r in summaries.items()}
        accuracy = attentive[name]["eval_accuracy"]
        row["attentive"] = {"accuracy": accuracy, "se_seeds": float("nan"), "accuracies": [accuracy],
                            "se_clips": binomial_standard_error(accuracy, max(num_eval, 1))}
        row["low_shot"]["shots"] = shots
        table[name] = row
    return table


def _protocol_lines(protocols: dict[str, dict[str, dict[str, float]]], chance: float) -> list[str]:
    names = list(protocols)
    first = next(iter(protocols.values()))
    shots = first["low_shot"].get("shots", 5)
    labels = {"knn": "kNN (cosine, mean-pooled)", "linear_mean": "linear, mean-pooled",
              "linear_mean_std": "linear, mean+std-pooled", "low_shot": f"low-shot linear ({shots} clips/class)",
              "attentive": "attentive probe (Trainer)"}
    lines = ["## Frozen-feature protocols (held-out clips)", "",
             "Accuracy ± standard error over held-out clips (± over 3 probe seeds where the protocol has a seed).", "",
             "| protocol | " + " | ".join(names) + " | chance |", "|---|" + "---|" * (len(names) + 1)]
    for protocol, label in labels.items():
        cells = []
        for name in names:
            r = protocols[name][protocol]
            seeds = "" if math.isnan(r["se_seeds"]) or protocol == "knn" else f" ± {r['se_seeds']:.3f}"
            cells.append(f"{r['accuracy']:.3f} ± {r['se_clips']:.3f}{seeds}")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {chance:.3f} |")
    return lines + [""]


def _pipeline_prediction(settings: QuickstartSettings, out: Path, data_dir, classifier_dir: Path):
    """Step 4: `pipeline("video-classification")` on the first held-out video; the prediction and the number of
    held-out videos."""
    from transformers import pipeline

    from ..probe.run_video_classification import DataArguments, load_video_splits

    _stage(4, _STAGES, "classifying a held-out video with pipeline(\"video-classification\") ...", settings.progress)
    synthetic = settings.data is None
    _, eval_split, id2label = load_video_splits(
        DataArguments(data=str(data_dir), frame_step=1 if synthetic else settings.frame_step), seed=settings.seed
    )
    sample = eval_split[0]
    classifier = pipeline("video-classification", model=str(classifier_dir))
    top = classifier(sample["video"], top_k=3, frame_sampling_rate=1 if synthetic else settings.frame_step)
    prediction = {
        "video": os.path.relpath(sample["video"], out) if str(sample["video"]).startswith(str(out)) else sample["video"],
        "true_label": id2label[int(sample["label"])],
        "top": [{"label": item["label"], "score": float(item["score"])} for item in top],
    }
    prediction["correct"] = prediction["top"][0]["label"] == prediction["true_label"]
    return prediction, len(eval_split)


_STAGES = 5


def _timed(timings: dict[str, float], name: str, fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    timings[name] = time.perf_counter() - start
    return result


def _run(settings: QuickstartSettings) -> QuickstartResult:
    _check_content(settings)
    out = Path(settings.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    torch.manual_seed(settings.seed)
    data_dir, data_line = _timed(timings, "data", _prepare_data, settings, out)
    encoder_dir, encoder_name, pretraining = _timed(timings, "pretraining", _prepare_encoder, settings, out)
    start = time.perf_counter()
    _stage(3, _STAGES, "training attentive probes with the Trainer (frozen, cached features) ...", settings.progress)
    encoders = _encoders_to_probe(settings, out, encoder_dir, encoder_name)
    model_dirs: dict[str, Path] = {}
    if isinstance(encoder_dir, Path) and pretraining:
        model_dirs["pretrained tiny V-JEPA 2 encoder and predictor (VJEPA2Model)"] = encoder_dir
    if settings.random_baseline:
        model_dirs["randomly initialised encoder of the same shape (VJEPA2Model, the baseline)"] = Path(
            encoders["random init (same shape)"])
    results, curves, classifiers, probe_dirs, chance = _train_probes(settings, out, encoders, data_dir, data_line)
    model_dirs.update(classifiers)
    timings["probing"] = time.perf_counter() - start
    prediction, num_eval = _timed(timings, "pipeline", _pipeline_prediction, settings, out, data_dir,
                                  next(iter(classifiers.values())))
    _stage(5, _STAGES, "frozen-feature protocols (kNN, linear, low-shot), report and plots ...", settings.progress)
    protocols = _timed(timings, "protocols", _frozen_protocols, settings, probe_dirs, results, num_eval)
    plots = _plots(out, pretraining, curves, chance)
    if pretraining.get("tracking_plot"):
        plots.append(Path(pretraining["tracking_plot"]))
    timings["total"] = time.perf_counter() - clock
    report = _report(out, settings, results, pretraining, prediction, timings, plots, model_dirs, data_line, chance,
                     num_eval=num_eval, protocols=protocols)
    summary = {
        "results": results,
        "protocols": protocols,
        "pretraining": {k: v for k, v in pretraining.items() if k != "loss_history"},
        "pipeline_prediction": prediction,
        "timings": timings,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    if settings.progress:
        print(f"done in {timings['total']:.0f}s: report {report}", flush=True)
    return QuickstartResult(
        output_dir=out,
        report=report,
        plots=plots,
        model_dirs=model_dirs,
        results=results,
        pretraining=pretraining,
        pipeline_prediction=prediction,
        timings=timings,
    )
