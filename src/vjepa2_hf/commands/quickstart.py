"""`vjepa2-hf quickstart`: synthetic data -> tiny V-JEPA 2 pretraining -> attentive probe vs a random encoder ->
pipeline -> report, on CPU in a few minutes (see `vjepa2_hf.workflows.quickstart`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..workflows.quickstart import SMALL_SETTINGS, QuickstartSettings
from ._options import add_output_dir_argument, non_negative_int, positive_float, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = QuickstartSettings()
    add_output_dir_argument(parser, [], default=defaults.output_dir,
                            help="where the data, models and report go")
    parser.add_argument("--model", default=None,
                        help="a V-JEPA 2 backbone (Hub repo or folder) to probe instead of pretraining the tiny model")
    parser.add_argument("--data", default=None,
                        help="labelled videos to probe instead of the synthetic data (folder of class subfolders, "
                             "synthetic folder, `path label` list, or a Hub dataset)")
    # options that --small also sets: None here, so that an explicit value wins over --small
    parser.add_argument("--num-videos", type=positive_int, default=None,
                        help=f"synthetic clips, 25%% held out (default {defaults.num_videos}; --small: "
                             f"{SMALL_SETTINGS['num_videos']})")
    parser.add_argument("--content", choices=("photographs", "shapes"), default=defaults.content,
                        help="synthetic data: camera motion over real photographs (default; pretraining beats random "
                             "encoders) or moving shapes (the tiny recipe, level with random encoders)")
    parser.add_argument("--pretrain-steps", type=positive_int, default=None,
                        help="pretraining steps (default: 4000 for photographs, the tiny recipe's 600 for shapes; "
                             f"--small: {SMALL_SETTINGS['pretrain_steps']})")
    parser.add_argument("--probe-epochs", type=positive_int, default=None,
                        help=f"probe training epochs (default {defaults.probe_epochs}; --small: "
                             f"{SMALL_SETTINGS['probe_epochs']})")
    parser.add_argument("--probe-learning-rate", type=positive_float, default=defaults.probe_learning_rate)
    parser.add_argument("--probe-layers", type=non_negative_int, default=defaults.probe_layers,
                        help="self-attention blocks of the probe before its cross-attention (official probes: 3)")
    parser.add_argument("--frame-step", type=positive_int, default=defaults.frame_step,
                        help="frame step when sampling --data videos")
    parser.add_argument("--no-random-baseline", action="store_true",
                        help="skip the randomly initialised encoder baseline")
    parser.add_argument("--small", action="store_true",
                        help="a seconds-long smoke run (few videos and steps); explicit options still win")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--num-threads", type=positive_int, default=None,
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
        content=args.content,
        probe_learning_rate=args.probe_learning_rate,
        probe_layers=args.probe_layers,
        frame_step=args.frame_step,
        random_baseline=not args.no_random_baseline,
        seed=args.seed,
        progress=not args.no_progress,
        num_threads=args.num_threads,
    )
    for key in SMALL_SETTINGS:  # an explicit option, else --small's value, else the default
        value = getattr(args, key)
        if value is None and args.small:
            value = SMALL_SETTINGS[key]
        if value is not None:
            setattr(settings, key, value)
    result = run_quickstart(settings)  # a bad --data / --model: the command line's one-line error, exit 2
    for name, metrics in result.results.items():
        print(f"{name:<32} held-out top-1 {metrics['eval_accuracy']:.3f} (chance {metrics['chance_accuracy']:.3f})")
    print(f"report: {result.report}")
    return 0
