"""`vjepa2-hf train-vlm --config FILE`: stage-wise alignment of V-JEPA 2 with a causal LLM on video QA.

The YAML / JSON file describes the starting model, the QA data and the stages (see
`vjepa2_hf.vlm.training.VLMTrainConfig`), e.g.::

    output_dir: runs/vlm
    model: {vision: facebook/vjepa2-vitg-fpc64-384, text: meta-llama/Llama-3.1-8B-Instruct, dtype: bfloat16}
    data: {train: data/train.jsonl, eval: data/val.jsonl, num_frames: 32}
    training: {per_device_train_batch_size: 1, gradient_accumulation_steps: 16, bf16: true, gradient_checkpointing: true}
    stages:
      - {name: align, train: [projector], learning_rate: 1.0e-4, num_train_epochs: 1}
      - {name: lora, train: [projector, lora], learning_rate: 2.0e-5, num_train_epochs: 1}
    merge: true

`--merge STAGE_DIR --output-dir DIR` folds a finished stage (LoRA included) into a standalone model folder instead.
"""

from __future__ import annotations

import argparse
import json
from ._options import add_output_dir_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML or JSON file describing the run (model, data, stages)")
    add_output_dir_argument(parser, ["--out"], default=None,
                            help="override `output_dir` of the config file; with --merge, the standalone model's folder")
    parser.add_argument(
        "--merge",
        default=None,
        metavar="STAGE_DIR",
        help="instead of training: merge a trained stage folder into a standalone model (needs --output-dir)",
    )


def run(args: argparse.Namespace) -> int:
    from ..training.launch_environment import is_main_process
    from ..vlm.training import VLMTrainConfig, merge_trained_vlm, train_vlm

    if args.merge is not None:
        if not args.output_dir:
            raise ValueError("--merge needs --output-dir (the folder of the standalone model)")
        print(f"merged model written to {merge_trained_vlm(args.merge, args.output_dir)}")
        return 0
    if not args.config:
        raise ValueError("vjepa2-hf train-vlm needs --config FILE (or --merge STAGE_DIR --output-dir DIR)")
    config = VLMTrainConfig.from_file(args.config)
    if args.output_dir:
        config.output_dir = args.output_dir
    results = train_vlm(config, quiet=args.no_progress)
    if not is_main_process():  # under torchrun / accelerate launch: printed once
        return 0
    for stage in results["stages"]:
        line = f"stage {stage['name']}: trained {', '.join(stage['train'])}, loss {stage['train_loss']:.4f}"
        if "eval" in stage:
            ev = stage["eval"]
            line += f", eval {ev['metric']} {ev['score']:.3f} (chance {ev['chance']:.3f})"
        print(line)
    print(json.dumps({"final_dir": results["final_dir"], "merged_dir": results.get("merged_dir")}))
    return 0
