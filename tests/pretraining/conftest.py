"""Tiny pretraining recipes for the tests (seconds per run on 2 CPU cores)."""

from __future__ import annotations


def tiny_run_config(output_dir, **sections) -> dict:
    """A 4-frame, 32-px tiny-model recipe as a dict; `sections` update its sections (dicts are merged)."""
    config = {
        "model": {"preset": "tiny"},
        "data": {
            "sources": [{"type": "synthetic", "num_clips": 32, "seed": 0}],
            "frames_per_clip": 4,
            "crop_size": 32,
            "horizontal_flip": False,
        },
        "optimization": {
            "total_steps": 6,
            "global_batch_size": 4,
            "start_lr": 2e-4,
            "lr": 1e-3,
            "warmup_steps": 2,
            "ema": [0.99, 0.999],
        },
        "run": {
            "output_dir": str(output_dir),
            "seed": 0,
            "log_every": 1,
            "checkpoint_every": 2,
            "report_to": [],
            "progress_bar": False,
            "checkpoint_hash": True,
        },
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(name), dict):
            config[name] = {**config[name], **value}
        else:
            config[name] = value
    return config
