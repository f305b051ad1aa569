#!/usr/bin/env python
"""Synthetic video QA, end to end: "Which way does the square move? (A) left (B) right (C) up (D) down".

Writes real mp4 motion clips with the package's generator (every training clip asked twice: multiple choice with a
letter answer, and free form with the direction word), aligns a tiny frozen V-JEPA 2 encoder (random init) with a
tiny random Llama by training the bridge (projector + LLM) with `train_vlm` (the Trainer), scores the held-out clips
with the three multiple-choice rules (letter log-likelihood, option-text log-likelihood, generate-then-parse) and
answers a few clips through `pipeline("video-text-to-text")`. Prints a JSON summary.

    python scripts/vlm_motion_qa.py --out runs/motion_qa --num-videos 1000 --steps 400 --seeds 0 1 2

`--path tiny` (default) builds the model from `tiny_vlm_config` inside the run. `--path real` takes the user's route
instead: the same-sized random encoder and LLM (`--llm llama` or `qwen2`) are saved to folders with
`save_pretrained` (the LLM with its tokenizer), and the `train-vlm` spec names those folders, so the model is joined
by `assemble_vlm`. Either way the run goes through the `vjepa2-hf train-vlm` command (spec written to `spec.json`).

Defaults take a few minutes on one CPU thread. The test suite runs a reduced version (tests/vlm/test_end_to_end.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch


def model_spec(args: argparse.Namespace, out: str, seed: int) -> dict:
    """The `model:` entry of the run: a tiny config (`--path tiny`) or two saved folders (`--path real`)."""
    vlm = {"num_frames": args.num_frames, "projector_type": args.projector}
    if args.path == "tiny":
        tiny = {"vision_overrides": {"crop_size": args.crop}, "seed": seed, "text_model_type": args.llm}
        return {"tiny": {**tiny, **vlm}}
    from vjepa2_hf.vlm.tiny import save_tiny_parts

    encoder_dir, llm_dir = save_tiny_parts(
        os.path.join(out, "parts"), seed=seed, crop_size=args.crop, text_model_type=args.llm
    )
    return {"vision": encoder_dir, "text": llm_dir, "dtype": "float32", "seed": seed, **vlm}


def run_one(args: argparse.Namespace, seed: int) -> dict:
    from transformers import pipeline

    from vjepa2_hf.cli import main as cli_main
    from vjepa2_hf.vlm import evaluate_records, load_qa_records
    from vjepa2_hf.vlm.synthetic_qa import make_motion_qa
    from vjepa2_hf.vlm.training import VLMTrainConfig

    out = os.path.join(args.out, f"seed{seed}")
    t0 = time.perf_counter()
    data = make_motion_qa(
        os.path.join(out, "data"),
        args.num_videos,
        num_frames=8,
        size=64,
        held_out_fraction=args.held_out,
        seed=seed,
        shuffle_options=args.shuffle_options,
        free_form=not args.no_free_form,
    )
    t_data = time.perf_counter() - t0
    spec = dict(
        output_dir=os.path.join(out, "run"),
        model=model_spec(args, out, seed),
        data={"train": data["train"], "eval": data["test"], "preload_frames": True},
        training={
            "per_device_train_batch_size": args.batch_size,
            "use_cpu": True,
            "logging_steps": 50,
            "disable_tqdm": True,
        },
        stages=[
            {
                "name": "bridge",
                "train": ["projector", "llm"],
                "learning_rate": args.lr,
                "max_steps": args.steps,
                "warmup_steps": 0,
                "lr_scheduler_type": "constant",
            }
        ],
        merge=True,
        seed=seed,
    )
    VLMTrainConfig.from_dict(spec)  # checked before anything runs
    spec_file = os.path.join(out, "spec.json")
    with open(spec_file, "w") as f:
        json.dump(spec, f, indent=2)
    t1 = time.perf_counter()
    if cli_main(["train-vlm", "--config", spec_file]) != 0:
        raise RuntimeError(f"train-vlm failed on {spec_file}")
    t_train = time.perf_counter() - t1
    with open(os.path.join(spec["output_dir"], "results.json")) as f:
        results = json.load(f)
    stage = results["stages"][0]
    merged = results["merged_dir"]
    from vjepa2_hf.vlm import VJEPA2VLMForConditionalGeneration, VJEPA2VLMProcessor

    model = VJEPA2VLMForConditionalGeneration.from_pretrained(merged).eval()
    processor = VJEPA2VLMProcessor.from_pretrained(merged)
    test = load_qa_records(data["test"])
    scores = {"letter": stage["eval"]["accuracy"]}  # the trained model, in the run
    for mode in ("letter", "option", "generate"):  # the merged folder, reloaded
        m, _ = evaluate_records(model, processor, test, mode=mode)
        scores[mode if mode != "letter" else "letter_reloaded"] = m["accuracy"]
    pipe = pipeline("video-text-to-text", model=merged)
    examples = []
    for r in test[:4]:
        a = pipe(r.video, question=r.question, options=r.options)
        examples.append(
            {
                "video": os.path.relpath(r.video, out),
                "question": r.question,
                "truth": r.options[r.answer],
                "pipeline_answer": a["answer"],
            }
        )
    return {
        "seed": seed,
        "path": args.path,
        "llm": args.llm,
        "attn_implementation": model.language_model.config._attn_implementation,
        "num_train": data["num_train"],
        "num_test": data["num_test"],
        "steps": args.steps,
        "accuracy": scores,
        "by_direction": stage["eval"].get("by_dimension"),
        "losses": stage["losses"],
        "seconds_data": round(t_data, 1),
        "seconds_train": round(t_train, 1),
        "pipeline_examples": examples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/vlm_motion_qa")
    parser.add_argument("--num-videos", type=int, default=1000)
    parser.add_argument("--held-out", type=float, default=0.2)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--num-frames", type=int, default=4)
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--projector", default="mlp", choices=["mlp", "avgpool_mlp", "merge_mlp", "attentive_pool"])
    parser.add_argument("--shuffle-options", action="store_true", help="shuffle the option order per question")
    parser.add_argument(
        "--no-free-form",
        action="store_true",
        help="train on multiple-choice questions only (option-text scoring is then meaningless)",
    )
    parser.add_argument(
        "--path",
        default="tiny",
        choices=["tiny", "real"],
        help="tiny: model from `tiny_vlm_config`; real: parts saved to folders and joined by `assemble_vlm`",
    )
    parser.add_argument("--llm", default="llama", choices=["llama", "qwen2"], help="architecture of the tiny LLM")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import vjepa2_hf.vlm  # noqa: F401

    runs = [run_one(args, s) for s in args.seeds]
    summary = {"path": args.path, "llm": args.llm, "runs": runs, "chance": 0.25}
    for mode in ("letter", "option", "generate"):
        accs = [r["accuracy"][mode] for r in runs]
        summary[f"{mode}_mean"] = statistics.mean(accs)
        summary[f"{mode}_min"] = min(accs)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    for r in runs:
        print(
            f"seed {r['seed']}: {r['num_train']} train / {r['num_test']} held-out, {r['steps']} steps, "
            f"accuracy {r['accuracy']}, train {r['seconds_train']} s; pipeline: "
            + "; ".join(f"{e['truth']} -> {e['pipeline_answer']}" for e in r["pipeline_examples"])
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
