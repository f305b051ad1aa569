"""Planning speed of V-JEPA 2-AC against the official notebook planner, per planned action, same weights.

Baseline: the official notebook's `WorldModel.infer_next_action` (`notebooks/utils/world_model_wrapper.py` +
`mpc_utils.py` of `../shared/reference/official-vjepa2.0`, imported from there, never copied; fp32, as the notebook
runs it; uncached: the whole trajectory through the predictor at every step) with the official
`VisionTransformerPredictorAC` holding our predictor's weights (`internal_to_official_ac_predictor`). Ours:
`VJEPA2WorldModel.infer_next_action` (KV cache) in fp32 and bf16, plus an ablation of what each part contributes
(uncached = the official computation on our modules; cached; cached + `torch.compile`). Ours and official alternate
in one process (the CPU is shared); ratios are official / ours per planned action (> 1: ours faster). In fp32 the
two plans are compared (same global seed: they must agree to float rounding).

The official code needs `einops`/`scipy` (`pip install vjepa2-hf[bench]`) and two stand-ins this script provides
for modules missing from the reference copy (`timm.models.layers.drop_path`, `src.utils.logging.get_logger`).

`--backends onnxruntime,onnxruntime_int8,openvino` adds our exported rollout step (`vjepa2_hf.world_model.exporting`,
what `vjepa2-hf plan --backend ... [--int8]` runs), exported before the rounds (export time printed); its plans are
compared with ours in fp32.

    python scripts/bench_planning.py                                   # released size + tiny at the paper's counts
    python scripts/bench_planning.py --only released --repeats 3 --profile
    python scripts/bench_planning.py --only released --backends onnxruntime,onnxruntime_int8 --no-uncached --threads 2

Measured (the last line, quiet 2-core AMD EPYC with AVX512-BF16, 2026-12-07), seconds per planned action, official /
ours: official 12.28; ours fp32 8.07 (1.52x), bf16 4.21 (2.91x), ONNX Runtime fp32 7.98 (1.54x), ONNX Runtime int8
2.86 (4.29x).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
import types
from contextlib import nullcontext

import torch
import torch.nn.functional as F

OFFICIAL = os.environ.get(
    "VJEPA2_OFFICIAL_DIR",
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "reference", "official-vjepa2.0"),
)
if not os.path.isdir(OFFICIAL):
    OFFICIAL = "/work/shared/reference/official-vjepa2.0"


def _official_modules():
    """Import the official AC predictor and notebook wrapper from the reference folder (with stand-ins)."""
    if "timm.models.layers" not in sys.modules:  # drop_path is only used in training (rate 0 here)
        layers = types.ModuleType("timm.models.layers")
        layers.drop_path = lambda x, drop_prob=0.0, training=False: x
        sys.modules.update({"timm": types.ModuleType("timm"), "timm.models": types.ModuleType("timm.models"),
                            "timm.models.layers": layers})
    if "src.utils.logging" not in sys.modules:
        sys.path.insert(0, os.path.abspath(OFFICIAL))
        import src.utils  # noqa: F401  (the reference package)

        stub = types.ModuleType("src.utils.logging")
        stub.get_logger = lambda name=None, force=False: logging.getLogger(name)
        sys.modules["src.utils.logging"] = stub
    sys.path.insert(0, os.path.join(os.path.abspath(OFFICIAL), "notebooks"))
    from src.models.ac_predictor import vit_ac_predictor
    from utils.world_model_wrapper import WorldModel

    return vit_ac_predictor, WorldModel


def build(size: str):
    from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
    from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2VisionModel
    from vjepa2_hf.world_model.configuration_vjepa2_ac import VJEPA2ACConfig
    from vjepa2_hf.world_model.convert_vjepa2_ac_checkpoint import internal_to_official_ac_predictor
    from vjepa2_hf.world_model.modeling_vjepa2_ac import VJEPA2ACPredictor
    from vjepa2_hf.world_model.world_model import VJEPA2WorldModel

    preset = "vit_giant" if size == "released" else "tiny"
    enc_cfg, pred_cfg = VJEPA2Config.from_preset(preset), VJEPA2ACConfig.from_preset(preset)
    with torch.device("meta"):  # planning starts from embeddings: the encoder is never run
        encoder = VJEPA2VisionModel(enc_cfg)
    torch.manual_seed(0)
    ours = VJEPA2WorldModel(encoder, VJEPA2ACPredictor(pred_cfg).eval(), state_update="franka")
    vit_ac_predictor, WorldModel = _official_modules()
    c = pred_cfg
    official = vit_ac_predictor(
        img_size=(c.crop_size, c.crop_size), patch_size=c.patch_size, num_frames=c.frames_per_clip,
        tubelet_size=c.tubelet_size, embed_dim=c.hidden_size, predictor_embed_dim=c.pred_hidden_size,
        depth=c.pred_num_hidden_layers, num_heads=c.pred_num_attention_heads, action_embed_dim=c.action_dim,
        use_rope=True, is_frame_causal=True, use_extrinsics=False,
    ).eval()
    official.load_state_dict(internal_to_official_ac_predictor(ours.predictor.state_dict()))
    return ours, official, WorldModel


def inputs(cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, d = cfg.tokens_per_frame, cfg.hidden_size
    rep = F.layer_norm(torch.randn(1, 1, n, d, generator=g), (d,))
    goal = F.layer_norm(torch.randn(1, 1, n, d, generator=g), (d,))
    pose = torch.cat((0.3 * torch.rand(1, 1, 6, generator=g), torch.zeros(1, 1, 1)), dim=-1)
    return rep, pose, goal


def _timed(fn):
    t0 = time.perf_counter()
    with torch.no_grad():
        out = fn()
    return time.perf_counter() - t0, out


def exported_variants(ours, backends: list[str], workdir: str) -> tuple[dict, dict]:
    """World models running the exported rollout step (`vjepa2_hf.world_model.exporting`), one per backend name
    (`onnxruntime`, `onnxruntime_int8`, `openvino`); and the export seconds of each."""
    from vjepa2_hf.encoder.exporting import load_exported, with_submodule
    from vjepa2_hf.world_model.exporting import ExportedVJEPA2ACPredictor, export_rollout_step

    models, export_seconds = {}, {}
    for name in backends:
        runtime, int8 = name.removesuffix("_int8"), name.endswith("_int8")
        folder = os.path.join(workdir, name)
        start = time.perf_counter()
        export_rollout_step(ours.predictor, folder, "openvino" if runtime == "openvino" else "onnx", int8=int8)
        export_seconds[name] = time.perf_counter() - start
        step = ExportedVJEPA2ACPredictor(load_exported(folder, runtime), runtime)
        models[name] = with_submodule(ours, "predictor", step)
        print(f"  exported the rollout step for {name} in {export_seconds[name]:.1f} s", flush=True)
    return models, export_seconds


def compare(size: str, mpc: dict, repeats: int, dtypes: list[str], compile_: bool, profile: bool,
            warmup: bool = True, uncached: bool = True, backends: tuple[str, ...] = ()) -> dict:
    import copy
    import tempfile

    ours, official, WorldModel = build(size)
    cfg = ours.config
    rep, pose, goal = inputs(cfg)
    wrapper = WorldModel(None, official, cfg.tokens_per_frame, None, mpc_args={**mpc, "verbose": False},
                         normalize_reps=True, device="cpu")
    variants = {"official": lambda: wrapper.infer_next_action(rep, pose, goal)}
    models = {"fp32": ours}
    if "bf16" in dtypes:
        models["bf16"] = copy.deepcopy(ours).to(torch.bfloat16)
    for name, wm in models.items():
        if name == "fp32" and uncached:
            variants["ours fp32 uncached"] = (
                lambda wm=wm: wm.infer_next_action(rep, pose, goal, use_cache=False, **mpc))
        variants[f"ours {name}"] = lambda wm=wm: wm.infer_next_action(rep, pose, goal, **mpc)
        if compile_:
            variants[f"ours {name} compiled"] = lambda wm=wm: wm.infer_next_action(rep, pose, goal, compile=True, **mpc)
    workdir = tempfile.TemporaryDirectory()
    exported, export_seconds = exported_variants(ours, list(backends), workdir.name)
    for name, wm in exported.items():
        variants[f"ours {name}"] = lambda wm=wm: wm.infer_next_action(rep, pose, goal, **mpc)
    times = {k: [] for k in variants}
    plans = {}
    first = 0 if warmup else 1
    for r in range(first, repeats + 1):  # round 0 warms up (and compiles); then the variants alternate
        for key, fn in variants.items():
            torch.manual_seed(100 + r)  # the official planner draws from the global RNG; ours too (generator=None)
            seconds, plan = _timed(fn)
            if r:
                times[key].append(seconds)
                print(f"    round {r}: {key} {seconds:.3f} s", flush=True)
            plans[key] = plan
    best = {k: min(v) for k, v in times.items()}
    result = {
        "size": size,
        "predictor": f"{cfg.pred_hidden_size} wide x {cfg.pred_num_hidden_layers} blocks, "
                     f"{cfg.pred_num_attention_heads} heads, {cfg.tokens_per_frame} tokens/frame",
        "mpc": mpc, "repeats": repeats, "threads": torch.get_num_threads(),
        "seconds_per_action": {k: {"min": best[k], "all": v} for k, v in times.items()},
        "official_over": {k: best["official"] / best[k] for k in best if k != "official"},
        "fp32_plan_max_abs_diff_vs_official": float((plans["ours fp32"] - plans["official"]).abs().max()),
        "plan_max_abs_diff_vs_ours_fp32": {k: float((plans[k] - plans["ours fp32"]).abs().max()) for k in plans},
        "export_seconds": export_seconds,
    }
    print(f"\n[{size}] {result['predictor']}; {mpc['samples']} samples x {mpc['cem_steps']} CEM steps, rollout "
          f"{mpc['rollout']}; {repeats} alternating repeats, min per planned action")
    for k in variants:
        ratio = "" if k == "official" else f"  official/ours = {result['official_over'][k]:.2f}x"
        print(f"  {k:<24} {best[k]:8.3f} s{ratio}")
    print(f"  fp32 plan vs official: max abs diff {result['fp32_plan_max_abs_diff_vs_official']:.2e}")
    for k in exported:
        print(f"  {k} plan vs ours fp32: max abs diff {result['plan_max_abs_diff_vs_ours_fp32'][f'ours {k}']:.2e}")
    if profile:
        result["profile"] = {k: op_profile(variants[k]) for k in variants if "compiled" not in k}
    workdir.cleanup()
    return result


def op_profile(fn, top: int = 8) -> list[tuple[str, float]]:
    """Share of CPU time per operator (self time), top entries."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof, torch.no_grad():
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1
    rows = sorted(((e.key, e.self_cpu_time_total / total) for e in events), key=lambda r: -r[1])[:top]
    print("    " + ", ".join(f"{k} {100 * s:.0f}%" for k, s in rows))
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["released", "tiny"], default=None)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--dtypes", default="fp32,bf16")
    p.add_argument("--compile", action="store_true", help="also time the torch.compile path")
    p.add_argument("--profile", action="store_true", help="print a per-operator profile of each variant")
    p.add_argument("--no-warmup", action="store_true", help="time the first round too (no compile variants)")
    p.add_argument("--no-uncached", action="store_true", help="skip the uncached ablation")
    p.add_argument("--backends", default="",
                   help="comma-separated exported rollout steps to time too: onnxruntime, onnxruntime_int8, openvino")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, capability "
          f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads")
    runs = {
        # the released-size setting: 4 samples, 1 CEM step, rollout 2
        "released": dict(rollout=2, samples=4, topk=2, cem_steps=1, momentum_mean=0.15, momentum_std=0.15,
                         maxnorm=0.05),
        # the paper's counts (800 samples, 10 iterations, top-10; rollout 2 as the notebook) on the tiny model
        "tiny": dict(rollout=2, samples=800, topk=10, cem_steps=10, momentum_mean=0.15, momentum_std=0.15,
                     maxnorm=0.05),
    }
    sizes = [args.only] if args.only else ["released", "tiny"]
    dtypes = args.dtypes.split(",")
    backends = tuple(b for b in args.backends.split(",") if b)
    unknown = set(backends) - {"onnxruntime", "onnxruntime_int8", "openvino"}
    if unknown:
        p.error(f"--backends: expected onnxruntime, onnxruntime_int8 or openvino, got {sorted(unknown)}")
    results = [compare(s, runs[s], args.repeats, dtypes, args.compile, args.profile, not args.no_warmup,
                       not args.no_uncached, backends) for s in sizes]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=str)
    return results


if __name__ == "__main__":
    main()
