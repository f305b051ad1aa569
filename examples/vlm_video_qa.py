#!/usr/bin/env python
"""Video question answering with a V-JEPA 2 VLM: assemble, ask, score.

Three ways to get a model:

1. From the released parts (real weights; needs the Hub repos and ~18 GiB of GPU memory in bf16):

       model, processor = assemble_vlm(preset="vitg384-llama3.1-8b")   # ViT-g/384 + Llama-3.1-8B-Instruct
       # or assemble_vlm("facebook/vjepa2-vitl-fpc64-256", "Qwen/Qwen2-7B-Instruct", projector_type="attentive_pool")

   The projector is new: train it first (`vjepa2-hf train-vlm --config examples/vlm_train_llama31_vitg384.yaml`).
2. A folder written by `train-vlm` with `merge: true` (or `vjepa2-hf train-vlm --merge STAGE --output-dir DIR`).
3. `--tiny`: a random tiny model built locally (runs anywhere, answers at random) to try the API.

    python examples/vlm_video_qa.py --tiny --video clip.mp4
    python examples/vlm_video_qa.py --model runs/vlm_motion_qa/merged --video clip.mp4 \
        --question "Which way does the square move?" --options left right up down
"""

from __future__ import annotations

import argparse
import sys

import torch
from transformers import pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a saved VLM folder")
    parser.add_argument("--preset", default=None, help="assemble from the released parts of a preset")
    parser.add_argument("--tiny", action="store_true", help="a random tiny model (API demo)")
    parser.add_argument("--video", default=None, help="video file (default: a synthetic motion clip)")
    parser.add_argument("--question", default="Which way does the square move?")
    parser.add_argument("--options", nargs="*", default=["left", "right", "up", "down"])
    parser.add_argument("--mode", default="letter", choices=["letter", "option", "generate"])
    args = parser.parse_args(argv)

    import vjepa2_hf.vlm  # noqa: F401  (registers the "video-text-to-text" task)
    from vjepa2_hf.vlm import VJEPA2VLMForConditionalGeneration, VJEPA2VLMProcessor, assemble_vlm

    if args.tiny:
        from vjepa2_hf.vlm.tiny import build_word_tokenizer, tiny_vlm_config

        tok = build_word_tokenizer()
        config = tiny_vlm_config(tok, num_frames=4, vision_overrides={"crop_size": 32})
        model, processor = VJEPA2VLMForConditionalGeneration(config), VJEPA2VLMProcessor.from_model_config(config, tok)
    elif args.preset:
        model, processor = assemble_vlm(preset=args.preset, dtype=torch.bfloat16)
    elif args.model:
        model = VJEPA2VLMForConditionalGeneration.from_pretrained(args.model)
        processor = VJEPA2VLMProcessor.from_pretrained(args.model)
    else:
        parser.error("give --model, --preset or --tiny")

    video = args.video
    if video is None:
        from vjepa2_hf.video.synthetic import DIRECTION_NAMES, render_motion_clip

        video = render_motion_clip(
            num_frames=8, size=64, seed=3, task="direction", label=DIRECTION_NAMES.index("right")
        )
        print("video: a synthetic clip of a shape moving right")
    pipe = pipeline("video-text-to-text", model=model, processor=processor)
    options = args.options or None
    print(pipe(video, question=args.question, options=options, mode=args.mode))
    return 0


if __name__ == "__main__":
    sys.exit(main())
