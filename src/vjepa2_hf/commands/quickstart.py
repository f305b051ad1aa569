"""`vjepa2-hf quickstart`: synthetic data -> tiny V-JEPA 2 pretraining -> attentive probe vs a random encoder ->
pipeline -> report, on CPU in a few minutes (see `vjepa2_hf.workflows.quickstart`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..workflows.quickstart import SMALL_SETTINGS, QuickstartSettings
from ._options import add_output_dir_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = QuickstartSettings()
    add_output_dir_argument(parser, ["--output_dir"], default=defaults.output_dir,
                            help="where the data, models and report go")
    parser.add_argument("--model", default=None,
                        help="a V-JEPA 2 backbone (Hub repo or folder) to probe instead of pretraining the tiny model")
    parser.add_argument("--data", default=None,
                        help="labelled videos to probe instead of the synthetic data (folder of class subfolders, "
                             "synthetic folder, `path label` list, or a Hub dataset)")
    parser.add_argument("--num_videos", type=int, default=defaults.num_videos, help="synthetic clips (25%% held out)")
    parser.add_argument("--content", choices=("photographs", "shapes"), default=defaults.content,
                        help="synthetic data: camera motion over real photographs (default; pretraining beats random "
                             "encoders) or moving shapes (the tiny recipe, level with random encoders)")
    parser.add_argument("--pretrain_steps", type=int, default=defaults.pretrain_steps,
                        help="pretraining steps (default: 4000 for photographs, the tiny recipe's 600 for shapes)")
    parser.add_argument("--probe_epochs", type=int, default=defaults.probe_epochs, help="probe training epochs")
    parser.add_argument("--probe_learning_rate", type=float, default=defaults.probe_learning_rate)
    parser.add_argument("--probe_layers", type=int, default=defaults.probe_layers,
                        help="self-attention blocks of the probe before its cross-attention (official probes: 3)")
    parser.add_argument("--frame_step", type=int, default=defaults.frame_step,
                        help="frame step when sampling --data videos")
    parser.add_argument("--no_random_baseline", action="store_true",
                        help="skip the randomly initialised encoder baseline")
    parser.add_argument("--small", action="store_true", help="a seconds-long smoke run (few videos and steps)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    parser.add_argument("--num_threads", type=int, default=None,
                        help="torch CPU threads (default: 1 for the tiny model, torch's default with --model)")


def run(args: argparse.Namespace) -> int:
    from ..workflows.quickstart import run_quickstart
    from .errors import require_local_or_hub

    require_local_or_hub(args.model, "--model")
    if args.data is not None and not Path(args.data).is_dir():
        raise FileNotFoundError(f"--data folder not found: {args.data}")

    settings = QuickstartSettings(
        output_dir=args.output_dir,
        model=args.model,
        data=args.data,
        num_videos=args.num_videos,
        content=args.content,
        pretrain_steps=args.pretrain_steps,
        probe_epochs=args.probe_epochs,
        probe_learning_rate=args.probe_learning_rate,
        probe_layers=args.probe_layers,
        frame_step=args.frame_step,
        random_baseline=not args.no_random_baseline,
        seed=args.seed,
        progress=not args.no_progress,
        num_threads=args.num_threads,
    )
    if args.small:
        for key, value in SMALL_SETTINGS.items():
            setattr(settings, key, value)
    result = run_quickstart(settings)  # a bad --data / --model: the command line's one-line error, exit 2
    for name, metrics in result.results.items():
        print(f"{name:<32} held-out top-1 {metrics['eval_accuracy']:.3f} (chance {metrics['chance_accuracy']:.3f})")
    print(f"report: {result.report}")
    return 0
