"""Planning speed of V-JEPA 2-AC: time per CEM iteration and per planned action, KV-cached vs uncached rollouts.

For a predictor size (random weights: speed does not depend on them), this times full CEM plans (`cem`, box
constraint) with the cached rollout (each step runs the predictor on the newest frame only) and with the uncached
one (the official notebook: the whole sequence at every step), and prints the uncached/cached time ratio. It also
times the released size (1024 wide, 24 blocks, on ViT-g tokens: 1408-d, 256 per frame) at reduced sample counts so
that it fits a CPU. The encoder is never run (plans start from random normalised embeddings), so the ViT-g is built
on the `meta` device.

Usage::

    python scripts/bench_planning.py                       # tiny model (paper-like counts) + released size (reduced)
    python scripts/bench_planning.py --size vit_giant --samples 16 --iterations 2 --horizon 3
    python scripts/bench_planning.py --size custom --width 256 --depth 6 --heads 8 --tokens-side 8
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F


def build_world_model(size: str, width: int, depth: int, heads: int, tokens_side: int, hidden: int,
                      max_frames: int):
    from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
    from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2VisionModel
    from vjepa2_hf.world_model.configuration_vjepa2_ac import VJEPA2ACConfig
    from vjepa2_hf.world_model.modeling_vjepa2_ac import VJEPA2ACPredictor
    from vjepa2_hf.world_model.world_model import VJEPA2WorldModel

    if size == "vit_giant":
        enc_cfg = VJEPA2Config.from_preset("vit_giant")
        pred_cfg = VJEPA2ACConfig.from_preset("vit_giant", frames_per_clip=2 * max(max_frames, 32))
    elif size == "tiny":
        enc_cfg = VJEPA2Config.from_preset("tiny")
        pred_cfg = VJEPA2ACConfig.from_preset("tiny", frames_per_clip=2 * max_frames)
    else:
        patch = 16
        enc_cfg = VJEPA2Config.from_preset("tiny", hidden_size=hidden, crop_size=tokens_side * patch,
                                           patch_size=patch)
        pred_cfg = VJEPA2ACConfig(hidden_size=hidden, pred_hidden_size=width, pred_num_hidden_layers=depth,
                                  pred_num_attention_heads=heads, crop_size=tokens_side * patch, patch_size=patch,
                                  frames_per_clip=2 * max_frames)
    with torch.device("meta"):  # the encoder is not needed to time planning
        encoder = VJEPA2VisionModel(enc_cfg)
    torch.manual_seed(0)
    predictor = VJEPA2ACPredictor(pred_cfg).eval()
    return VJEPA2WorldModel(encoder, predictor, state_update="franka")


def time_plan(world_model, samples: int, iterations: int, horizon: int, context_frames: int, use_cache: bool,
              repeats: int, seed: int = 0) -> dict:
    from vjepa2_hf.world_model.planning import BoxConstraint, cem

    cfg = world_model.config
    g = torch.Generator().manual_seed(seed)
    n, d = cfg.tokens_per_frame, cfg.hidden_size
    ctx = F.layer_norm(torch.randn(1, context_frames, n, d, generator=g), (d,))
    goal = F.layer_norm(torch.randn(n, d, generator=g), (d,))
    states = torch.rand(1, context_frames, 7, generator=g)
    ctx_actions = 0.02 * torch.randn(1, context_frames - 1, 7, generator=g)
    times, cpu_times = [], []
    for r in range(repeats + 1):  # the first plan warms up
        fn = world_model.rollout_fn(ctx, states, ctx_actions, use_cache=use_cache)
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            cem(fn, goal, action_dim=7, horizon=horizon, num_samples=samples, iterations=iterations,
                topk=max(1, min(10, samples // 2)), constraint=BoxConstraint(-0.05, 0.05), free_dims=(0, 1, 2, 6),
                init_std=0.05, generator=torch.Generator().manual_seed(r))
        if r:
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
    per_action = sum(times) / len(times)
    cpu = sum(cpu_times) / len(cpu_times)
    # CPU (process) time is reported too: on a shared machine wall time includes waiting for a core
    return {"seconds_per_action": per_action, "seconds_per_iteration": per_action / iterations,
            "cpu_seconds_per_action": cpu, "cpu_seconds_per_iteration": cpu / iterations}


def bench(size: str, samples: int, iterations: int, horizon: int, context_frames: int, repeats: int,
          width: int = 256, depth: int = 6, heads: int = 8, tokens_side: int = 8, hidden: int = 256) -> dict:
    wm = build_world_model(size, width, depth, heads, tokens_side, hidden, context_frames + horizon)
    cfg = wm.config
    cached = time_plan(wm, samples, iterations, horizon, context_frames, True, repeats)
    uncached = time_plan(wm, samples, iterations, horizon, context_frames, False, repeats)
    result = {
        "size": size,
        "predictor": f"{cfg.pred_hidden_size}x{cfg.pred_num_hidden_layers} ({cfg.pred_num_attention_heads} heads)",
        "params_M": round(sum(p.numel() for p in wm.predictor.parameters()) / 1e6, 2),
        "tokens_per_frame": cfg.tokens_per_frame,
        "hidden_size": cfg.hidden_size,
        "samples": samples,
        "iterations": iterations,
        "horizon": horizon,
        "context_frames": context_frames,
        "cached": cached,
        "uncached": uncached,
        "uncached_over_cached": uncached["seconds_per_action"] / cached["seconds_per_action"],
        "uncached_over_cached_cpu_time": uncached["cpu_seconds_per_action"] / cached["cpu_seconds_per_action"],
        "threads": torch.get_num_threads(),
    }
    print(
        f"[{size}] predictor {result['predictor']}, {cfg.tokens_per_frame} tokens/frame, {samples} samples x "
        f"{iterations} iterations, horizon {horizon}, {context_frames} context frame(s)\n"
        f"  cached   : {cached['seconds_per_iteration'] * 1e3:9.1f} ms / CEM iteration, "
        f"{cached['seconds_per_action']:8.3f} s / planned action (CPU time {cached['cpu_seconds_per_action']:.3f} s)\n"
        f"  uncached : {uncached['seconds_per_iteration'] * 1e3:9.1f} ms / CEM iteration, "
        f"{uncached['seconds_per_action']:8.3f} s / planned action (CPU time {uncached['cpu_seconds_per_action']:.3f} s)\n"
        f"  ratio uncached / cached: {result['uncached_over_cached']:.2f}x wall, "
        f"{result['uncached_over_cached_cpu_time']:.2f}x CPU time",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=["tiny", "custom", "vit_giant", "both"], default="both",
                   help="'both': the tiny model at paper-like counts, then the released size at reduced counts")
    p.add_argument("--samples", type=int, default=None, help="CEM samples (default 800 tiny/custom, 8 vit_giant)")
    p.add_argument("--iterations", type=int, default=None, help="CEM iterations (default 10 tiny/custom, 1 vit_giant)")
    p.add_argument("--horizon", type=int, default=3)
    p.add_argument("--context-frames", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--tokens-side", type=int, default=8)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = ["tiny", "vit_giant"] if args.size == "both" else [args.size]
    results = []
    for size in sizes:
        big = size == "vit_giant"
        samples = args.samples or (8 if big else 800)
        iterations = args.iterations or (1 if big else 10)
        repeats = 1 if big else args.repeats
        results.append(bench(size, samples, iterations, args.horizon, args.context_frames, repeats, args.width,
                             args.depth, args.heads, args.tokens_side, args.hidden))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
