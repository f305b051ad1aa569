#!/usr/bin/env python
"""Parameter counts (meta device, no memory used) and memory estimates of the VLM presets, as a markdown table.

python scripts/vlm_memory.py [--text-tokens 512] [--lora-rank 16]
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text-tokens", type=int, default=512)
    parser.add_argument("--lora-rank", type=int, default=16)
    args = parser.parse_args(argv)
    from vjepa2_hf.vlm.presets import VLM_PRESETS, count_parameters, memory_requirements, vlm_config_from_preset

    print(
        "| preset | encoder | projector | LLM | frames | visual tokens (per frame) | bf16 weights | KV cache | "
        "inference | train projector | + LoRA | + full LLM | end to end |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in VLM_PRESETS:
        cfg = vlm_config_from_preset(name)
        c = count_parameters(cfg)
        m = memory_requirements(cfg, text_tokens=args.text_tokens, lora_rank=args.lora_rank)
        print(
            f"| `{name}` | {c['vision_tower'] / 1e9:.3f}B | {c['multi_modal_projector'] / 1e6:.1f}M | "
            f"{c['language_model'] / 1e9:.3f}B | {cfg.num_frames} | {cfg.num_video_tokens()} ({cfg.tokens_per_frame():g}) | "
            f"{m['weights_gib']:.1f} GiB | {m['kv_cache_gib']:.2f} GiB | {m['inference_gib']:.1f} GiB | "
            f"{m['train_projector_gib']:.1f} GiB | {m['train_projector_lora_gib']:.1f} GiB | "
            f"{m['train_projector_llm_gib']:.1f} GiB | {m['train_end_to_end_gib']:.1f} GiB |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
