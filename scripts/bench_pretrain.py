#!/usr/bin/env python
"""Time one V-JEPA 2 pretraining step and compare its FLOP rate with the measured matrix-multiply rate.

One step = EMA target encoder on the full clips (no grad) + context encoder on the visible tokens of each of the two
official mask configurations + predictor + backward + AdamW step + EMA update, exactly `VJEPA2ForPretraining` as the
trainer runs it. Default: a ViT-L-shaped model (303.9M encoder, 22.1M predictor) on 16 x 128 x 128 clips, batch 2,
fp32 and bf16 autocast.

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` over the forward and backward of one step (matrix
multiplies, convolutions and attention; the element-wise optimizer / EMA updates are not counted but are timed).
PyTorch's counter has no formula for the CPU flash-attention kernels, so `cpu_attention_flop_formulas` adds them
(the same counts as for the CUDA kernels: 4*B*H*N*M*d forward, 2.5x that backward); without them the attention of
the ViT-L step (about 7% of its FLOPs) would be timed but not counted. The
reference rate is a large square `torch.mm` in the same dtype on the same device.

    python scripts/bench_pretrain.py                       # ViT-L, 16x128x128, batch 2, fp32 + bf16
    python scripts/bench_pretrain.py --preset tiny --frames 8 --size 64 --batch 8 --json bench.json
    python scripts/bench_pretrain.py --vs-official --threads 2 --profile --memory   # ours vs the official step
    python scripts/bench_pretrain.py --vs-official --compile --threads 2            # + ours with compiled blocks

Targets (for GPUs): fp32 step >= 60% of the fp32 matmul rate; bf16 step time <= 0.5 x the fp32 step time.

Measured on this project's 2-core CPU machine, 1 thread, defaults (2026-11-28, two runs): fp32 step 20.2 / 20.6 s,
54% / 58% of the matmul rate (the reference 2048^2 `mm` itself measured 158 - 178 GFLOP/s between runs); bf16 step
0.45 / 0.42 x the fp32 step. A profile of the fp32 step (4-block ViT-L width) puts 65% of its time in matrix
multiplies (running at ~67% of the reference rate: the context encoders see only 128 - 136 tokens per clip), 8% in
attention and the rest in element-wise work (residual adds, GELU, LayerNorm, RoPE, the fused AdamW step, the EMA).

Against the official step (`--vs-official --threads 2 --profile`, full ViT-L, defaults, AMD EPYC with AVX512-BF16,
quiet machine, 2026-12-02): fp32 official 16.07 s vs ours 13.91 s (1.16x), bf16 autocast 8.46 s vs 6.02 s (1.41x);
ours fp32 is 83% matrix products and 9% attention (see the README for both profiles).

`--vs-official --compile` adds ours with its transformer blocks `torch.compile`d as `vjepa2-hf pretrain --compile` runs
them (`VJEPA2ForPretraining.compile_blocks`: regional, dynamic token axis), alternating official / ours eager / ours
compiled in one process (ours eager and compiled are the same model and AdamW state, its blocks switched between their
eager and compiled calls), and prints the three median step times, official/ours, official/compiled and
eager/compiled, and the compile time: the first compiled step minus the median compiled step, compiled into a fresh
inductor cache (a first run on a machine; a later run with a warm cache, `TORCHINDUCTOR_CACHE_DIR` set, compiles
faster). Full ViT-L, defaults, `--threads 2`, quiet AMD EPYC (AVX512-BF16), 2026-12-07: fp32 official 14.80 s, ours
12.48 s, compiled 11.94 s (official/compiled 1.24x, compile 33.6 s); bf16 8.56 / 7.49 / 7.42 s (1.15x, compile 25.8 s);
a second bf16 run 9.37 / 7.77 / 7.44 s (1.26x).

Measured on one NVIDIA H200 (torch 2.11 + CUDA 13, `scripts/device_checks.sh`, 2026-11-28): at the defaults the
step is too small to fill the GPU (fp32 0.18 s = 22% of the 50 TFLOP/s fp32 matmul rate; bf16 0.19 s, no faster);
at ``--size 256 --batch 8`` fp32 0.95 s = 72% of the matmul rate and bf16 0.21 s = 0.22x the fp32 step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int, seconds: float = 2.0) -> float:
    """Measured GFLOP/s of a `size x size` matrix multiply."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    count, start = 0, time.perf_counter()
    while True:
        a @ b
        count += 1
        _sync(device)
        elapsed = time.perf_counter() - start
        if elapsed > seconds and count >= 3:
            break
    return 2 * size**3 * count / elapsed / 1e9


def cpu_attention_flop_formulas() -> dict:
    """`FlopCounterMode(custom_mapping=...)` entries for `aten._scaled_dot_product_flash_attention_for_cpu` and its
    backward, using `torch.utils.flop_counter`'s own SDPA counts."""
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten

    # the counter passes tensor arguments as their shapes
    def forward(query, key, value, *args, out_shape=None, **kwargs) -> int:
        return sdpa_flop_count(query, key, value)

    def backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
        return sdpa_backward_flop_count(grad_out, query, key, value)

    return {
        aten._scaled_dot_product_flash_attention_for_cpu: forward,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: backward,
    }


def build(preset: str, device: torch.device, seed: int = 0):
    from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
    from vjepa2_hf.pretraining.modeling_pretraining import VJEPA2ForPretraining
    from vjepa2_hf.pretraining.optimization import build_param_groups
    from vjepa2_hf.training.optimization import build_adamw

    torch.manual_seed(seed)
    model = VJEPA2ForPretraining(VJEPA2Config.from_preset(preset)).to(device).train()
    optimizer = build_adamw(build_param_groups(model, 0.04), lr=5.25e-4, betas=(0.9, 0.999), eps=1e-8)
    return model, optimizer


def make_batch(model, batch: int, frames: int, size: int, device: torch.device, seed: int = 0):
    from vjepa2_hf.pretraining.masking import OFFICIAL_MASK_CONFIGS, MultiBlockMaskCollator

    torch.manual_seed(seed)
    collator = MultiBlockMaskCollator(OFFICIAL_MASK_CONFIGS, model.config.patch_size, model.config.tubelet_size, seed)
    out = collator([torch.randn(frames, 3, size, size) for _ in range(batch)])
    return out.to(device)


def train_step(model, optimizer, batch, autocast) -> float:
    with autocast:
        out = model(batch.pixel_values_videos, batch.context_masks, batch.target_masks, mask_index=0)
    out.loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    model.update_target_encoder(0.99925)
    return out.loss.item()


def bench(args, dtype_name: str, device: torch.device) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    model, optimizer = build(args.preset, device)
    if args.activation_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    batch = make_batch(model, args.batch, args.frames, args.size, device)
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        if dtype_name == "bf16"
        else contextlib.nullcontext()
    )
    counter = FlopCounterMode(display=False, custom_mapping=cpu_attention_flop_formulas())
    with counter:
        with autocast:
            out = model(batch.pixel_values_videos, batch.context_masks, batch.target_masks, mask_index=0)
        out.loss.backward()
    optimizer.zero_grad(set_to_none=True)
    flops = counter.get_total_flops()
    for _ in range(args.warmup):
        train_step(model, optimizer, batch, autocast)
    _sync(device)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = train_step(model, optimizer, batch, autocast)
        _sync(device)
        times.append(time.perf_counter() - start)
    step = sorted(times)[len(times) // 2]
    matmul_dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    rate = matmul_rate(device, matmul_dtype, args.matmul_size)
    achieved = flops / step / 1e9
    tokens = (args.frames // model.config.tubelet_size) * (args.size // model.config.patch_size) ** 2
    result = {
        "dtype": dtype_name,
        "step_seconds": step,
        "step_seconds_all": times,
        "gflop_per_step": flops / 1e9,
        "achieved_gflops": achieved,
        "matmul_gflops": rate,
        "fraction_of_matmul": achieved / rate,
        "loss": loss,
        "tokens_per_clip": tokens,
        "context_tokens": [m.shape[1] for m in batch.context_masks],
        "target_tokens": [m.shape[1] for m in batch.target_masks],
        "encoder_params": sum(p.numel() for p in model.encoder.parameters()),
        "predictor_params": sum(p.numel() for p in model.predictor.parameters()),
    }
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    del model, optimizer
    return result


def _bench_in_subprocess(argv: list[str] | None, dtype_name: str) -> dict:
    import os
    import subprocess
    import tempfile

    argv = list(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        # argparse keeps the last value of a repeated option: these override the parent's --dtypes / --json
        subprocess.run(
            [sys.executable, os.path.abspath(__file__), *argv, "--dtypes", dtype_name, "--json", out],
            check=True, stdout=subprocess.DEVNULL,
        )
        with open(out) as f:
            return json.load(f)["results"][0]



# ---------------------------------------------------------------------------------------------- vs the official step
OFFICIAL_DIR = "/work/shared/reference/official-vjepa2.0"


def _official_step_fn(model, batch, frames: int, size: int, autocast):
    """The official `app/vjepa/train.py` train step (forward_target, forward_context, loss_fn, AdamW, foreach EMA)
    on official modules imported from the reference folder, holding `model`'s weights. Returns `step() -> loss`."""
    import types

    if "timm.models.layers" not in sys.modules:  # drop_path at rate 0 (the reference copy has no timm)
        layers = types.ModuleType("timm.models.layers")
        layers.drop_path = lambda x, drop_prob=0.0, training=False: x
        sys.modules.update({"timm": types.ModuleType("timm"), "timm.models": types.ModuleType("timm.models"),
                            "timm.models.layers": layers})
    sys.path.insert(0, OFFICIAL_DIR)
    import torch.nn.functional as F
    from src.masks.utils import apply_masks
    from src.models import predictor as vit_pred
    from src.models import vision_transformer as video_vit
    from src.utils.wrappers import MultiSeqWrapper, PredictorMultiSeqWrapper

    from vjepa2_hf.encoder.convert_vjepa2_checkpoint import internal_to_official, split_qkv

    cfg = model.config
    kw = dict(img_size=size, patch_size=cfg.patch_size, num_frames=frames, tubelet_size=cfg.tubelet_size,
              uniform_power=True, use_sdpa=True, use_rope=True)
    from functools import partial

    def vit():  # official `vit_large` with this model's depth (the reduced comparison keeps fewer blocks)
        return video_vit.VisionTransformer(embed_dim=cfg.hidden_size, depth=cfg.num_hidden_layers,
                                           num_heads=cfg.num_attention_heads, mlp_ratio=4, qkv_bias=True,
                                           norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), **kw)

    enc, tgt = vit(), vit()
    pred = vit_pred.vit_predictor(**kw, use_mask_tokens=True, num_mask_tokens=cfg.pred_num_mask_tokens, embed_dim=enc.embed_dim,
                                  predictor_embed_dim=cfg.pred_hidden_size, depth=cfg.pred_num_hidden_layers,
                                  num_heads=cfg.pred_num_attention_heads)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("target_encoder.")}
    off = internal_to_official(split_qkv(state) if any(".query." in k for k in enc.state_dict()) else state)
    enc.load_state_dict(off["encoder"])
    tgt.load_state_dict(off["encoder"])
    pred.load_state_dict(off["predictor"])
    encoder, target_encoder, predictor = MultiSeqWrapper(enc), MultiSeqWrapper(tgt), PredictorMultiSeqWrapper(pred)
    for p in target_encoder.parameters():
        p.requires_grad = False
    groups = [
        {"params": [p for m in (encoder, predictor) for n, p in m.named_parameters() if "bias" not in n and p.ndim != 1]},
        {"params": [p for m in (encoder, predictor) for n, p in m.named_parameters() if "bias" in n or p.ndim == 1],
         "weight_decay": 0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=5.25e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.04)
    clips = [batch.pixel_values_videos.permute(0, 2, 1, 3, 4).contiguous()]  # official (B, C, T, H, W)
    masks_enc, masks_pred = [list(batch.context_masks)], [list(batch.target_masks)]

    def step() -> float:
        with autocast:
            with torch.no_grad():
                h = [F.layer_norm(hi, (hi.size(-1),)) for hi in target_encoder(clips)]
            z = predictor(encoder(clips, masks_enc), masks_enc, masks_pred)
            h = [apply_masks(hi, mi, concat=False) for hi, mi in zip(h, masks_pred)]
            loss, n = 0, 0
            for zi, hi in zip(z, h):
                for zij, hij in zip(zi, hi):
                    loss += torch.mean(torch.abs(zij - hij) ** 1.0) / 1.0
                    n += 1
            loss /= n
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        with torch.no_grad():
            params_k = list(target_encoder.parameters())
            params_q = list(encoder.parameters())
            torch._foreach_mul_(params_k, 0.99925)
            torch._foreach_add_(params_k, params_q, alpha=1 - 0.99925)
        return float(loss)

    return step


def _comparison_setup(args):
    """Our model (truncated to ``--layers`` blocks if given), its AdamW and the batch, on the CPU."""
    model, optimizer = build(args.preset, torch.device("cpu"))
    if args.layers:
        model = _truncate(model, args.layers)
        from vjepa2_hf.pretraining.optimization import build_param_groups
        from vjepa2_hf.training.optimization import build_adamw

        optimizer = build_adamw(build_param_groups(model, 0.04), lr=5.25e-4, betas=(0.9, 0.999), eps=1e-8)
    return model, optimizer, make_batch(model, args.batch, args.frames, args.size, torch.device("cpu"))


@contextlib.contextmanager
def _eager_blocks(model):
    """Inside, `model`'s compiled blocks run eagerly: `nn.Module.compile` keeps the compiled call in
    `_compiled_call_impl`, set aside here and put back after. The eager and the compiled steps then alternate on one
    model (same weights, one AdamW state) instead of a third ViT-L copy in memory."""
    blocks = [m for m in model.modules() if getattr(m, "_compiled_call_impl", None) is not None]
    saved = [m._compiled_call_impl for m in blocks]
    for m in blocks:
        m._compiled_call_impl = None
    try:
        yield
    finally:
        for m, call in zip(blocks, saved):
            m._compiled_call_impl = call


def _compiled_step(model, optimizer, batch, autocast) -> tuple:
    """Compile `model`'s blocks as `pretrain --compile` does (`VJEPA2ForPretraining.compile_blocks`) and run the
    first compiled step (which compiles). Returns `(step() -> loss, first step seconds)`."""
    torch._dynamo.reset()  # this dtype's graphs compiled from scratch (and not counted against the recompile limit)
    model.compile_blocks()
    step = lambda: train_step(model, optimizer, batch, autocast)  # noqa: E731
    t0 = time.perf_counter()
    step()
    return step, time.perf_counter() - t0


def compare_official(args, dtype_name: str) -> dict:
    """Ours and the official step on the same weights, masks and clips, alternating in one process; with
    `--compile` also ours with compiled blocks, on the same model as ours eager."""
    model, optimizer, batch = _comparison_setup(args)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if dtype_name == "bf16" else contextlib.nullcontext()
    official = _official_step_fn(model, batch, args.frames, args.size, autocast)

    def ours():
        with _eager_blocks(model):
            return train_step(model, optimizer, batch, autocast)

    losses = {"ours": ours(), "official": official()}  # warm-up; first-step losses must agree (same weights)
    steps = {"official": official, "ours": ours}
    if args.compile:
        steps["ours_compiled"], first_compiled = _compiled_step(model, optimizer, batch, autocast)
    times = {name: [] for name in steps}
    for _ in range(args.steps):
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    result = {"dtype": dtype_name, "layers": args.layers or model.config.num_hidden_layers,
              "first_step_loss": losses, "seconds": times, "median": med,
              "official_over_ours": med["official"] / med["ours"]}
    line = (f"[{dtype_name}] encoder blocks {result['layers']}, predictor {model.config.pred_hidden_size}x"
            f"{model.config.pred_num_hidden_layers}: official {med['official']:.2f} s, ours {med['ours']:.2f} s -> "
            f"official/ours {result['official_over_ours']:.2f}x")
    if args.compile:
        result.update(official_over_compiled=med["official"] / med["ours_compiled"],
                      eager_over_compiled=med["ours"] / med["ours_compiled"], first_compiled_step=first_compiled,
                      compile_seconds=first_compiled - med["ours_compiled"])
        line += (f"; ours compiled {med['ours_compiled']:.2f} s -> official/compiled "
                 f"{result['official_over_compiled']:.2f}x, eager/compiled {result['eager_over_compiled']:.2f}x, "
                 f"compile time {result['compile_seconds']:.1f} s (first compiled step {first_compiled:.1f} s)")
    print(f"{line} (first-step loss ours {losses['ours']:.6f}, official {losses['official']:.6f})", flush=True)
    if args.profile:
        result["profile"] = {name: _op_profile(fn) for name, fn in steps.items()}
    return result


def step_memory(args, which: str) -> dict:
    """Peak memory one step adds (activations, gradients, temporaries) for ``which`` (``ours`` / ``official``),
    measured in this process (Linux): resident set before a step (after a warm-up step, so AdamW's state already
    exists) against the peak resident set during it (``VmHWM``, reset just before through ``/proc/self/clear_refs``).
    Run each side in its own process (`--memory`)."""

    def status_mb(field: str) -> float:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith(field + ":"))
        return int(line.split()[1]) / 1024  # kB

    if args.threads:
        torch.set_num_threads(args.threads)
    model, optimizer, batch = _comparison_setup(args)
    autocast = contextlib.nullcontext()
    if which == "official":
        step = _official_step_fn(model, batch, args.frames, args.size, autocast)
    else:
        step = lambda: train_step(model, optimizer, batch, autocast)  # noqa: E731
    step()
    before = status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set size (VmHWM) to the current one
    step()
    peak = status_mb("VmHWM")
    return {"which": which, "resident_before_mb": before, "peak_mb": peak, "step_peak_mb": peak - before}


def _memory_in_subprocesses(argv: list[str]) -> dict:
    """`step_memory` of each side in a fresh process (the resident-set peak is per process)."""
    import subprocess

    out = {}
    for which in ("official", "ours"):
        code = (f"import sys, json; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
                "import bench_pretrain as b; args = b.parse_args(sys.argv[1:]); "
                f"print(json.dumps(b.step_memory(args, {which!r})))")
        done = subprocess.run([sys.executable, "-c", code, *argv], check=True, capture_output=True, text=True)
        out[which] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def _truncate(model, layers: int):
    """Keep the first `layers` encoder blocks (context and target) for a reduced-size comparison."""
    for enc in (model.encoder, model.target_encoder):
        enc.layer = enc.layer[:layers]
    model.config.num_hidden_layers = layers
    return model


def _op_profile(fn, top: int = 10) -> list:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1
    rows = sorted(((e.key, round(e.self_cpu_time_total / total, 3)) for e in events), key=lambda r: -r[1])[:top]
    print("   ", ", ".join(f"{k} {100 * s:.0f}%" for k, s in rows), flush=True)
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="vit_large", help="VJEPA2Config preset (default: vit_large)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps (the median is reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--matmul-size", type=int, default=None, help="default: 8192 on GPU, 2048 on CPU")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads on CPU")
    parser.add_argument("--activation-checkpointing", action="store_true")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--vs-official", action="store_true",
                        help="time ours against the official app/vjepa/train.py step (CPU, same weights and masks)")
    parser.add_argument("--layers", type=int, default=None, help="with --vs-official: keep this many encoder blocks")
    parser.add_argument("--profile", action="store_true", help="with --vs-official: per-operator profiles")
    parser.add_argument("--memory", action="store_true",
                        help="with --vs-official: also the peak memory one step adds, each side in its own process")
    parser.add_argument("--compile", action="store_true",
                        help="with --vs-official: also ours with torch.compile'd blocks (what `pretrain --compile` "
                             "runs), alternating with ours eager on the same model; compile time = first compiled step "
                             "- a compiled step, in a fresh inductor cache")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.vs_official and args.memory:
        memory = _memory_in_subprocesses(list(sys.argv[1:] if argv is None else argv))
        for which, m in memory.items():
            print(f"[memory, fp32] {which}: one step adds {m['step_peak_mb']:.0f} MB over {m['resident_before_mb']:.0f} MB "
                  f"resident (peak {m['peak_mb']:.0f} MB)", flush=True)
    if args.vs_official and args.compile and "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        import tempfile  # a cold compile, as a first run on a new machine (not graphs cached by an earlier run)

        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_pretrain_inductor_")
    if args.vs_official:
        print(f"ours vs official step: {args.preset}, {args.frames}x{args.size}x{args.size}, batch {args.batch}, "
              f"official masks, cpu x {torch.get_num_threads()} ({torch.backends.cpu.get_cpu_capability()})")
        out = [compare_official(args, d.strip()) for d in args.dtypes.split(",")]
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=2, default=str)
        return 0
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.matmul_size is None:
        args.matmul_size = 8192 if device.type == "cuda" else 2048
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 (TF32 would change the reference rate)
        torch.backends.cudnn.allow_tf32 = False
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    bad = [d for d in dtypes if d not in ("fp32", "bf16")]
    if bad:
        raise ValueError(f"--dtypes must be a comma-separated subset of fp32,bf16; got {bad}")
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x {torch.get_num_threads()}"
    print(f"V-JEPA 2 pretraining step: {args.preset}, {args.frames}x{args.size}x{args.size}, batch {args.batch}, "
          f"official masks, device {device_name}")
    results = []
    for name in dtypes:
        # Each dtype runs in a fresh process: after the fp32 run in the same process, the CPU bf16 step measured
        # 14.6 s instead of 10.6 s (allocator state), which would misstate the bf16 / fp32 ratio.
        r = bench(args, name, device) if len(dtypes) == 1 else _bench_in_subprocess(argv, name)
        results.append(r)
        print(
            f"  {name:>4}: step {r['step_seconds']:.3f} s | {r['gflop_per_step']:.1f} GFLOP/step | "
            f"{r['achieved_gflops']:.1f} GFLOP/s achieved vs {r['matmul_gflops']:.1f} GFLOP/s matmul "
            f"({100 * r['fraction_of_matmul']:.0f}%) | tokens/clip {r['tokens_per_clip']}, context "
            f"{r['context_tokens']}, targets {r['target_tokens']} | loss {r['loss']:.4f}"
        )
    summary = {"device": device_name, "args": vars(args), "results": results}
    by = {r["dtype"]: r for r in results}
    if "fp32" in by:
        summary["fp32_target_met"] = by["fp32"]["fraction_of_matmul"] >= 0.6
        print(f"  fp32 at >= 60% of the matmul rate: {'yes' if summary['fp32_target_met'] else 'no'}")
    if "fp32" in by and "bf16" in by:
        ratio = by["bf16"]["step_seconds"] / by["fp32"]["step_seconds"]
        summary["bf16_over_fp32"] = ratio
        summary["bf16_target_met"] = ratio <= 0.5
        print(f"  bf16 step / fp32 step = {ratio:.2f} (target <= 0.50: {'yes' if ratio <= 0.5 else 'no'})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    return 0 if all(math.isfinite(r["loss"]) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
