"""One option style for every command (issue 23): every long option hyphenated, its underscore spelling accepted as
an alias (transformers' `TrainingArguments` names included, for `probe`), `--no-progress` / `--quiet` and a
documented `--num-threads` everywhere."""

from __future__ import annotations

import argparse

import pytest
import torch

from vjepa2_hf.cli import COMMANDS, build_parser

# the other required arguments of each command (the walk only parses; nothing runs)
REQUIRED = {
    "quickstart": [], "embed": [], "feature-map": [], "plan": [], "train-vlm": [], "pretrain": [], "probe": [],
    "convert-official": ["--checkpoint", "x.pt", "--arch", "tiny", "--output-dir", "o"],
    "export": ["--model", "m", "--format", "transformers", "--output-dir", "o"],
    "synth": ["--num-videos", "4", "--output-dir", "o"],
    "train-ac": ["--config", "c.yaml"],
}


def _visible_long_options(parser: argparse.ArgumentParser) -> list[tuple[argparse.Action, str]]:
    return [(action, option) for action in parser._actions if action.help != argparse.SUPPRESS
            for option in action.option_strings if option.startswith("--")]


def test_every_command_is_walked():
    assert sorted(REQUIRED) == sorted(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_long_option_is_hyphenated_and_its_underscore_spelling_is_an_alias(command):
    parser = build_parser(command)
    options = _visible_long_options(parser)
    assert len(options) >= 3
    for action, option in options:
        assert "_" not in option, f"vjepa2-hf {command} {option}"
        underscore = "--" + option[2:].replace("-", "_")
        assert parser._option_string_actions[underscore] is action, (command, option)
    help_text = parser.format_help()
    assert "_" not in " ".join(word for word in help_text.split() if word.startswith("--"))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_no_progress_quiet_and_num_threads(command):
    parser = build_parser(command)
    for spelling in ("--no-progress", "--no_progress", "--quiet"):
        args = parser.parse_args([*REQUIRED[command], spelling])
        assert args.no_progress is True, (command, spelling)
    assert parser.parse_args(REQUIRED[command]).no_progress is False
    for spelling in ("--num-threads", "--num_threads"):
        assert parser.parse_args([*REQUIRED[command], spelling, "3"]).num_threads == 3
    assert "--num-threads" in parser.format_help() and "--no-progress" in parser.format_help()


@pytest.mark.parametrize("command, argv, dest, value", [
    ("quickstart", ["--num_videos", "40"], "num_videos", 40),
    ("quickstart", ["--num-videos", "40"], "num_videos", 40),
    ("quickstart", ["--pretrain_steps", "7"], "pretrain_steps", 7),
    ("embed", ["--batch_size", "3"], "batch_size", 3),
    ("synth", ["--held_out_fraction", "0.5"], "held_out_fraction", 0.5),
    ("probe", ["--num_train_epochs", "3"], "num_train_epochs", 3.0),  # TrainingArguments' own name
    ("probe", ["--num-train-epochs", "3"], "num_train_epochs", 3.0),
    ("probe", ["--per_device_train_batch_size", "5"], "per_device_train_batch_size", 5),
    ("probe", ["--frames-per-clip", "8"], "frames_per_clip", 8),
    ("plan", ["--eval_episodes", "2"], "eval_episodes", 2),
    ("quickstart", ["--pretrain", "7"], "pretrain_steps", 7),  # an abbreviation is not made ambiguous by the alias
])
def test_both_spellings_reach_the_same_value(command, argv, dest, value):
    args = build_parser(command).parse_args([*REQUIRED[command], *argv])
    assert getattr(args, dest) == value


def test_num_threads_is_applied_before_the_command_runs():
    from vjepa2_hf.commands._options import apply_common_options

    before = torch.get_num_threads()
    try:
        apply_common_options(build_parser("embed").parse_args(["--num-threads", "1"]))
        assert torch.get_num_threads() == 1
        with pytest.raises(SystemExit):
            build_parser("embed").parse_args(["--num-threads", "0"])
    finally:
        torch.set_num_threads(before)
