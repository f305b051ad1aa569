"""The `vjepa2-hf` command line.

Each subcommand lives in `vjepa2_hf.commands.<module>` and exposes `add_arguments(parser)` and
`run(args) -> int` (and optionally `make_parser(**kwargs)`, its parser class, e.g. an `HfArgumentParser`). Only the chosen subcommand's module is imported, so `vjepa2-hf --help` stays fast.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys

# name -> (module under vjepa2_hf.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "quickstart": ("quickstart", "End to end on embedded synthetic data: pretrain, probe, compare, report."),
    "embed": ("embed", "Extract per-token and pooled clip embeddings from videos."),
    "feature-map": ("feature_map", "PCA-coloured maps of an encoder's patch features, one PNG per frame."),
    "convert-official": ("convert_official", "Convert an official V-JEPA 2 .pt checkpoint to a model folder."),
    "export": ("export", "Export a model folder to transformers' own layout or to the official .pt layout."),
    "synth": ("synth", "Write a synthetic moving-shapes video dataset (real mp4 files)."),
    "pretrain": ("pretrain", "Self-supervised V-JEPA 2 pretraining on Accelerate."),
    "probe": ("probe", "Train an attentive probe on a frozen (or LoRA-tuned) encoder with the Trainer."),
    "train-ac": ("train_ac", "Train the action-conditioned V-JEPA 2-AC predictor on trajectories."),
    "plan": ("plan", "Plan toward a goal image with CEM/MPC in the built-in reaching environment."),
    "train-vlm": ("train_vlm", "Align V-JEPA 2 with a causal LLM for video question answering."),
}


def _top_level_parser() -> argparse.ArgumentParser:
    epilog = "commands:\n" + "\n".join(f"  {name:<18}{help_}" for name, (_, help_) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="vjepa2-hf",
        description="V-JEPA 2 for the Hugging Face ecosystem. --debug (or VJEPA2_HF_DEBUG=1) shows tracebacks.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND", help="one of the commands below")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from .threads import prefer_passive_openmp

    prefer_passive_openmp()  # before any command loads torch (vjepa2_hf.threads says why)
    from .commands.errors import pop_debug_flag, run_command

    debug, argv = pop_debug_flag(argv)
    top = _top_level_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        print(f"vjepa2-hf: error: unknown command {name!r}; {hint}expected one of: {', '.join(COMMANDS)} "
              "(see 'vjepa2-hf --help')", file=sys.stderr)
        return 2
    parser = build_parser(name)
    try:
        args = parser.parse_args(rest)
    except SystemExit as exit_:  # --help (0) or a one-line usage error (2)
        return exit_.code if isinstance(exit_.code, int) else 2
    from .commands._options import apply_common_options

    apply_common_options(args)
    module = importlib.import_module(f"vjepa2_hf.commands.{COMMANDS[name][0]}")
    status = run_command(name, lambda: module.run(args), debug=debug)
    _leave_process_group()
    return status


def _leave_process_group() -> None:
    """Under torchrun: destroy this process's gloo / NCCL group before the interpreter exits. A group left to the
    interpreter's teardown can abort the process ("terminate called without an active exception", exit -6) while
    its background threads still run."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def build_parser(name: str) -> argparse.ArgumentParser:
    """The parser of `vjepa2-hf NAME`: the command's options, the shared ones (`--no-progress` / `--quiet`,
    `--num-threads`), every long option hyphenated with its underscore spelling accepted, one-line errors."""
    from .commands._options import add_common_options, add_underscore_aliases, one_line_errors

    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(f"vjepa2_hf.commands.{module_name}")
    make_parser = getattr(module, "make_parser", argparse.ArgumentParser)  # a command may bring its parser class
    parser = make_parser(prog=f"vjepa2-hf {name}", description=help_)
    module.add_arguments(parser)
    add_common_options(parser)
    add_underscore_aliases(parser)
    one_line_errors(parser)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
