"""Benchmark: our V-JEPA 2 encoder against transformers' `VJEPA2Model(skip_predictor=True)`, same weights.

Times a ViT-L-shaped encoder on a 16x128x128 clip (512 tokens), batch 1, `torch.set_num_threads(2)`, with
float32 and bfloat16 *weights* (no autocast), median of `--repeats` runs after warm-up, and prints both speed
ratios and the achieved GFLOP/s next to the measured matrix-multiply rate at the model's own shapes. Then it
measures the peak resident memory of one bf16 forward on a 64x256x256 clip (8,192 tokens) for each
implementation, each in a fresh subprocess.

    python scripts/bench_encoder.py                 # full ViT-L, both parts
    python scripts/bench_encoder.py --layers 4      # quicker: a 4-block ViT-L-wide encoder
    python scripts/bench_encoder.py --skip-memory
    python scripts/bench_encoder.py --v21 --skip-speed --skip-memory   # only the V-JEPA 2.1 comparison

With `--v21` it also times our V-JEPA 2.1 ViT-L (`vjepa2_1_vit_large_384`, `--v21-layers` blocks) against the
official 2.1 `VisionTransformer` (`--official`, run with stubs for its unused `timm`/`einops` imports) on the same
weights, in bfloat16 and float32, on a `--v21-frames` x `--v21-size`^2 clip (the official 16x384x384 reduced to what
a 2-core CPU runs in seconds), plus one single-image input (the image tokenizer). The official module runs its
bfloat16 weights under CPU autocast (without it its RoPE fails on mixed float32 / bfloat16 operands).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch


def _config(layers: int):
    from vjepa2_hf import VJEPA2Config

    # crop 128 = the benchmark input, so that transformers (positions from crop_size) is right too
    return VJEPA2Config.from_preset("vit_large", num_hidden_layers=layers, crop_size=128)


@torch.no_grad()
def _fill_random(model: torch.nn.Module) -> None:
    """Zero biases, unit norms, normal(0, 0.02) weights: cheap values for timing and memory runs."""
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            param.zero_()
        elif "norm" in name:
            param.fill_(1.0)
        else:
            param.normal_(0.0, 0.02)


def build_ours(layers: int, dtype: torch.dtype):
    """Our encoder with random weights, materialised directly in `dtype` (no float32 copy)."""
    from vjepa2_hf import VJEPA2VisionModel

    torch.manual_seed(0)
    with torch.device("meta"):
        model = VJEPA2VisionModel(_config(layers))
    model = model.to(dtype).to_empty(device="cpu")
    _fill_random(model)
    return model.eval()


def build_theirs(layers: int, dtype: torch.dtype, weights_from=None):
    """transformers' `VJEPA2Model` in `dtype`; encoder weights copied from our model `weights_from` if given."""
    import transformers

    from vjepa2_hf.encoder.convert_vjepa2_checkpoint import split_qkv, to_transformers_config

    config = _config(layers)
    with torch.device("meta"):
        model = transformers.VJEPA2Model(to_transformers_config(config))
    model = model.to(dtype).to_empty(device="cpu")
    if weights_from is None:  # random weights, as `build_ours` draws them
        torch.manual_seed(0)
        _fill_random(model)
        return model.eval()
    missing, unexpected = model.load_state_dict(split_qkv(weights_from.state_dict()), strict=False)
    assert not unexpected and all(k.startswith("predictor.") for k in missing), (missing, unexpected)
    return model.eval()


def build_pair(layers: int, dtype: torch.dtype):
    ours = build_ours(layers, dtype)
    return ours, build_theirs(layers, dtype, weights_from=ours)


def median_seconds(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(first, second, repeats: int, warmup: int = 2) -> tuple[float, float]:
    """Median seconds of two functions timed alternately, so that background load hits both alike."""
    for _ in range(warmup):
        first()
        second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, bucket in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def encoder_flops(tokens: int, width: int, layers: int, mlp: int, patch_volume: int) -> float:
    """Multiply-adds x2 of the encoder: projections, MLP, attention products, patch embedding."""
    per_layer = 2 * tokens * width * (3 * width + width + 2 * mlp) + 2 * 2 * tokens * tokens * width
    return layers * per_layer + 2 * tokens * 3 * patch_volume * width


def matmul_rate(tokens: int, width: int, mlp: int, dtype: torch.dtype, repeats: int) -> float:
    """GFLOP/s of the model's own matrix shapes (qkv, proj, fc1, fc2) in `dtype`."""
    shapes = [(tokens, width, 3 * width), (tokens, width, width), (tokens, width, mlp), (tokens, mlp, width)]
    operands = [(torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)) for m, k, n in shapes]
    flops = sum(2 * m * k * n for m, k, n in shapes)
    seconds = median_seconds(lambda: [a @ b for a, b in operands], repeats)
    return flops / seconds / 1e9


def speed(layers: int, repeats: int) -> list[dict]:
    torch.set_num_threads(2)
    x32 = torch.randn(1, 16, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        ours, theirs = build_pair(layers, dtype)
        x = x32.to(dtype)
        with torch.inference_mode():
            a = ours(x).last_hidden_state
            b = theirs(x, skip_predictor=True).last_hidden_state
            diff = (a.float() - b.float()).abs().max().item()
            t_ours, t_theirs = interleaved_medians(lambda: ours(x), lambda: theirs(x, skip_predictor=True), repeats)
        cfg = ours.config
        tokens = 8 * 8 * 8
        flops = encoder_flops(tokens, cfg.hidden_size, layers, cfg.intermediate_size, 2 * 16 * 16)
        rate = matmul_rate(tokens, cfg.hidden_size, cfg.intermediate_size, dtype, repeats)
        rows.append(
            dict(
                dtype=str(dtype).replace("torch.", ""),
                ours_s=t_ours,
                transformers_s=t_theirs,
                speedup=t_theirs / t_ours,
                ours_gflops=flops / t_ours / 1e9,
                transformers_gflops=flops / t_theirs / 1e9,
                matmul_gflops=rate,
                max_abs_diff=diff,
            )
        )
        del ours, theirs
    return rows


def build_v21_pair(layers: int, dtype: torch.dtype, official_root: str):
    """Our 2.1 ViT-L (`layers` blocks) and the official 2.1 `VisionTransformer` holding the same weights."""
    import os
    from functools import partial

    from vjepa2_hf import VJEPA2Config, VJEPA2VisionModel
    from vjepa2_hf.encoder.convert_vjepa2_checkpoint import internal_to_official

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
    from make_vjepa2_1_reference import _stub_optional_imports

    _stub_optional_imports()
    sys.path.insert(0, official_root)
    from app.vjepa_2_1.models.vision_transformer import VisionTransformer

    if layers < 4:
        raise ValueError(f"--v21-layers must be >= 4 (four norms_block levels), got {layers}")
    hierarchical = list(range(layers - 4, layers))  # the last four blocks; the plain output is the last one's
    config = VJEPA2Config.from_preset("vjepa2_1_vit_large_384", num_hidden_layers=layers,
                                      hierarchical_layers=hierarchical)
    torch.manual_seed(0)
    with torch.device("meta"):
        ours = VJEPA2VisionModel(config)
    ours = ours.to(dtype).to_empty(device="cpu")
    _fill_random(ours)
    official = VisionTransformer(
        img_size=(384, 384), patch_size=16, num_frames=64, tubelet_size=2, embed_dim=1024,
        depth=12 if layers <= 12 else 24, num_heads=16,
        mlp_ratio=4, qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_sdpa=True, use_rope=True,
        img_temporal_dim_size=1, interpolate_rope=True, modality_embedding=True, n_output_distillation=1,
    )
    # the official class derives its levels from its depth (12 or 24): cut the blocks and point the levels at ours
    official.blocks = official.blocks[:layers]
    official.hierarchical_layers, official.out_layers_distillation = hierarchical, [layers - 1]
    state = internal_to_official(ours.state_dict())["encoder"]
    official.load_state_dict(state, strict=True)
    return ours.eval(), official.to(dtype).eval()


def speed_v21(layers: int, repeats: int, frames: int, size: int, official_root: str) -> list[dict]:
    torch.set_num_threads(2)
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        ours, official = build_v21_pair(layers, dtype, official_root)
        for kind, clip_frames in (("video", frames), ("image", 1)):
            x32 = torch.randn(1, clip_frames, 3, size, size, generator=torch.Generator().manual_seed(0))
            x = x32.to(dtype)
            x_official = x.permute(0, 2, 1, 3, 4).contiguous()

            def run_official():
                # the official RoPE mixes float32 positions into bf16 queries: it runs in bf16 only under autocast,
                # as the official training does
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
                    return official(x_official)

            with torch.inference_mode():
                diff = (ours(x).last_hidden_state.float() - run_official().float()).abs().max().item()
                t_ours, t_official = interleaved_medians(lambda: ours(x), run_official, repeats)
            rows.append(dict(dtype=str(dtype).replace("torch.", ""), input=kind, frames=clip_frames, size=size,
                             ours_s=t_ours, official_s=t_official, speedup=t_official / t_ours, max_abs_diff=diff))
        del ours, official
    return rows


_MEMORY_CHILD = r"""
import sys, threading, time, psutil, torch
sys.path.insert(0, {script_dir!r})
import bench_encoder
torch.set_num_threads(2)
if {which!r} == "ours":
    model = bench_encoder.build_ours({layers}, torch.bfloat16)
    run = lambda x: model(x)
else:  # transformers' VJEPA2Model (encoder + predictor weights; the predictor is 22M parameters)
    model = bench_encoder.build_theirs({layers}, torch.bfloat16)
    run = lambda x: model(x, skip_predictor=True)
import gc; gc.collect()
x = torch.randn(1, 64, 3, 256, 256).to(torch.bfloat16)
process = psutil.Process()
before = process.memory_info().rss
peak = [before]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.002)
thread = threading.Thread(target=sample, daemon=True)
thread.start()
with torch.inference_mode():
    run(x)
done.set(); thread.join()
print(peak[0], before)
"""


def memory(layers: int) -> dict:
    """Resident memory (bytes) of a fresh process holding one bf16 model, before and at the peak of one
    8,192-token forward (RSS sampled every 2 ms during the forward)."""
    import os

    script_dir = os.path.dirname(os.path.abspath(__file__))
    result = {}
    for which in ("ours", "transformers"):
        code = _MEMORY_CHILD.format(script_dir=script_dir, layers=layers, which=which)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        peak, before = (int(v) for v in out.stdout.split())
        result[which] = dict(peak_rss_gb=peak / 1e9, rss_before_forward_gb=before / 1e9)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=24, help="encoder depth (ViT-L: 24)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--v21", action="store_true", help="also compare a V-JEPA 2.1 ViT-L with the official module")
    parser.add_argument("--v21-layers", type=int, default=4)
    parser.add_argument("--v21-frames", type=int, default=16)
    parser.add_argument("--v21-size", type=int, default=192)
    parser.add_argument("--official", default=None,
                        help="official V-JEPA 2.1 code (default: ../shared/reference/official-vjepa2.1)")
    args = parser.parse_args()
    results: dict = {"layers": args.layers, "threads": 2}
    if not args.skip_speed:
        results["speed"] = speed(args.layers, args.repeats)
        print(f"ViT-L-wide encoder, {args.layers} blocks, 1x16x3x128x128 (512 tokens), 2 threads, median of "
              f"{args.repeats}")
        print(f"{'dtype':<9}{'ours s':>9}{'hf s':>9}{'speedup':>9}{'ours GF/s':>11}{'hf GF/s':>10}"
              f"{'matmul GF/s':>13}{'max|diff|':>11}")
        for r in results["speed"]:
            print(f"{r['dtype']:<9}{r['ours_s']:>9.3f}{r['transformers_s']:>9.3f}{r['speedup']:>8.2f}x"
                  f"{r['ours_gflops']:>11.1f}{r['transformers_gflops']:>10.1f}{r['matmul_gflops']:>13.1f}"
                  f"{r['max_abs_diff']:>11.2e}")
    if not args.skip_memory:
        results["memory"] = memory(args.layers)
        print(f"peak resident memory, bf16, 1x64x3x256x256 (8,192 tokens), {args.layers} blocks:")
        for which, r in results["memory"].items():
            print(f"  {which:<13} peak {r['peak_rss_gb']:.2f} GB (before the forward {r['rss_before_forward_gb']:.2f} GB)")
    if args.v21:
        import os

        root = args.official or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                                             "reference", "official-vjepa2.1")
        results["v21"] = speed_v21(args.v21_layers, args.repeats, args.v21_frames, args.v21_size, root)
        print(f"V-JEPA 2.1 ViT-L, {args.v21_layers} blocks, ours vs the official module, 2 threads, median of "
              f"{args.repeats}")
        print(f"{'dtype':<9}{'input':<16}{'ours s':>9}{'official s':>12}{'speedup':>9}{'max|diff|':>11}")
        for r in results["v21"]:
            shape = f"{r['frames']}x{r['size']}x{r['size']}"
            print(f"{r['dtype']:<9}{r['input'] + ' ' + shape:<16}{r['ours_s']:>9.3f}{r['official_s']:>12.3f}"
                  f"{r['speedup']:>8.2f}x{r['max_abs_diff']:>11.2e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
