"""Deployment speed on this CPU: eager fp32 / eager bf16 / torch.compile / ONNX Runtime fp32 / int8 / OpenVINO.

One process; the variants alternate round by round (the CPU may be shared: ratios to eager fp32 in the same round
are what to read). For each variant: median latency, speedup over our eager fp32, and its distance to eager fp32
(max |diff| of the tokens, min cosine of the clip embeddings), so a speedup is only read at its accuracy.

* Encoder: ViT-L width (`vit_large` preset) at 16x256x256, batch 1, and the tiny model (`--quick`: tiny only, small
  clip). OpenVINO runs its graph in fp32 and in its bf16 inference precision (`embed --backend openvino --dtype
  bfloat16`). Exports use `vjepa2_hf.encoder.exporting` (transformers' exporters; int8 = ONNX Runtime dynamic
  quantization of the exported graph); compile = `torch.compile(model)` with its compile time reported.
* Planning one action (`VJEPA2WorldModel.infer_next_action`, the official notebook's CEM from one frame) with the
  released AC predictor size (`vit_giant` preset; `--quick`: tiny) from embeddings: eager bf16 / fp32 against the
  exported rollout step (`vjepa2_hf.world_model.exporting`) in ONNX Runtime fp32 / int8 and OpenVINO fp32 / bf16.
  CEM settings are reduced
  (`--samples 4 --cem-steps 1` by default) so the run fits ~10 minutes; every variant runs the same settings and
  seed, so the ratios hold for the notebook's 400 x 10 (which is ~400x the work per action).

    python scripts/bench_deploy.py --quick          # tiny sizes, a check that everything runs (~2 min)
    python scripts/bench_deploy.py                  # ~10-15 min on a quiet 2-core EPYC (--only splits it)
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench_machine import cpu_name  # noqa: E402 - scripts/ is on the path when a script runs


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _alternate(variants: dict, repeats: int) -> dict[str, list[float]]:
    """Run every variant once per round; seconds per call (the accuracy pass before it is the warm-up)."""
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(_timed(fn)[0])
    return times


def _report(title: str, times: dict, accuracy: dict, extra: dict) -> dict:
    base = statistics.median(times["eager_fp32"])
    rows = {}
    print(f"\n{title}")
    print(f"{'variant':<22}{'median s':>10}{'speedup':>9}   accuracy vs eager fp32")
    for name, values in times.items():
        median = statistics.median(values)
        rows[name] = {"median_s": median, "speedup_vs_eager_fp32": base / median, **accuracy.get(name, {}),
                      **extra.get(name, {})}
        acc = ", ".join(f"{k} {v:.3g}" for k, v in accuracy.get(name, {}).items())
        print(f"{name:<22}{median:>10.4f}{base / median:>8.2f}x   {acc}")
    return rows


def _encoder_accuracy(out, ref) -> dict:
    tokens, pooled = out.last_hidden_state.float(), out.pooler_output.float()
    return {"max_abs_diff": float((tokens - ref.last_hidden_state).abs().max()),
            "min_cosine": float(torch.nn.functional.cosine_similarity(pooled, ref.pooler_output).min())}


def bench_encoder(preset: str, shape: tuple, repeats: int, workdir: Path) -> dict:
    from vjepa2_hf.encoder import VJEPA2Config, VJEPA2VisionModel
    from vjepa2_hf.encoder.exporting import ExportedVJEPA2Encoder, export_encoder

    torch.manual_seed(0)
    model = VJEPA2VisionModel(VJEPA2Config.from_preset(preset)).eval()
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    pixels = torch.randn(shape)
    variants, extra = {}, {}
    with torch.no_grad():
        variants["eager_fp32"] = lambda: model(pixels)
        variants["eager_bf16"] = lambda: bf16(pixels)
        compiled = torch.compile(model)
        extra["compiled_fp32"] = {"compile_s": _timed(lambda: compiled(pixels))[0]}
        variants["compiled_fp32"] = lambda: compiled(pixels)
        compiled_bf16 = torch.compile(bf16)
        extra["compiled_bf16"] = {"compile_s": _timed(lambda: compiled_bf16(pixels))[0]}
        variants["compiled_bf16"] = lambda: compiled_bf16(pixels)
    runtimes = [("onnxruntime_fp32", "onnx", "onnxruntime", False), ("onnxruntime_int8", "onnx", "onnxruntime", True)]
    if importlib.util.find_spec("openvino") is not None:
        runtimes.append(("openvino_fp32", "openvino", "openvino", False))
    for name, export_format, backend, int8 in runtimes:
        folder = workdir / f"{preset}-{name}"
        extra[name] = {"export_s": _timed(lambda: export_encoder(model, folder, export_format, int8=int8))[0]}
        runner = ExportedVJEPA2Encoder.from_pretrained(folder, backend)
        variants[name] = (lambda r: lambda: r(pixels))(runner)
        if backend == "openvino":  # the same graph in OpenVINO's bf16 inference precision (`--dtype bfloat16`)
            runner = ExportedVJEPA2Encoder.from_pretrained(folder, backend, precision="bf16")
            variants["openvino_bf16"] = (lambda r: lambda: r(pixels))(runner)
    with torch.no_grad():
        ref = model(pixels)
        accuracy = {name: _encoder_accuracy(fn(), ref) for name, fn in variants.items()}
        times = _alternate(variants, repeats)
    return _report(f"encoder {preset} {shape}", times, accuracy, extra)


def _world_model(preset: str):
    from vjepa2_hf.encoder import VJEPA2Config, VJEPA2VisionModel
    from vjepa2_hf.world_model.configuration_vjepa2_ac import VJEPA2ACConfig
    from vjepa2_hf.world_model.modeling_vjepa2_ac import VJEPA2ACPredictor
    from vjepa2_hf.world_model.world_model import VJEPA2WorldModel

    with torch.device("meta"):  # planning starts from embeddings: the encoder is never run
        encoder = VJEPA2VisionModel(VJEPA2Config.from_preset(preset))
    torch.manual_seed(0)
    return VJEPA2WorldModel(encoder, VJEPA2ACPredictor(VJEPA2ACConfig.from_preset(preset)).eval(),
                            state_update="franka")


def bench_planning(preset: str, samples: int, cem_steps: int, repeats: int, workdir: Path) -> dict:
    from vjepa2_hf.encoder.exporting import load_exported, with_submodule
    from vjepa2_hf.world_model.exporting import ExportedVJEPA2ACPredictor, export_rollout_step

    fp32 = _world_model(preset)
    cfg = fp32.predictor.config
    bf16 = with_submodule(fp32, "predictor", copy.deepcopy(fp32.predictor).to(torch.bfloat16))
    rep = torch.nn.functional.layer_norm(torch.randn(cfg.tokens_per_frame, cfg.hidden_size), (cfg.hidden_size,))
    goal = torch.nn.functional.layer_norm(torch.randn(cfg.tokens_per_frame, cfg.hidden_size), (cfg.hidden_size,))
    pose = torch.tensor([0.5, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0])
    settings = {"samples": samples, "cem_steps": cem_steps, "topk": min(10, samples)}

    def planner(model):
        return lambda: model.infer_next_action(rep, pose, goal, generator=torch.Generator().manual_seed(0),
                                               **settings)

    variants = {"eager_fp32": planner(fp32), "eager_bf16": planner(bf16)}
    extra = {}
    runtimes = [("onnxruntime_fp32", "onnx", False, "f32"), ("onnxruntime_int8", "onnx", True, "f32")]
    if importlib.util.find_spec("openvino") is not None:
        runtimes += [("openvino_fp32", "openvino", False, "f32"), ("openvino_bf16", "openvino", False, "bf16")]
    for name, export_format, int8, precision in runtimes:
        backend = "openvino" if export_format == "openvino" else "onnxruntime"
        folder = workdir / f"{preset}-step-{export_format}-{int8}"
        if not folder.exists():
            extra[name] = {"export_s": _timed(lambda: export_rollout_step(fp32.predictor, folder, export_format,
                                                                          int8=int8))[0]}
        step = ExportedVJEPA2ACPredictor(load_exported(folder, backend, precision), backend)
        variants[name] = planner(with_submodule(fp32, "predictor", step))
    ref = variants["eager_fp32"]()
    accuracy = {name: {"plan_max_abs_diff": float((fn() - ref).abs().max())} for name, fn in variants.items()}
    times = _alternate(variants, repeats)
    return _report(f"planning one action, AC {preset} ({settings}, rollout 2)", times, accuracy, extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes only (seconds): a check that it all runs")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds after the accuracy (warm-up) pass")
    parser.add_argument("--samples", type=int, default=4,
                        help="CEM samples per iteration (planning; at the released size one action with 4 samples, "
                             "1 iteration, 2 rollout steps took 57 s in eager fp32 on the loaded 2-core EPYC)")
    parser.add_argument("--cem-steps", type=int, default=1, help="CEM iterations (planning)")
    parser.add_argument("--only", choices=["encoder", "planning"], default=None)
    parser.add_argument("--large-clip", type=int, nargs=2, default=[16, 256], metavar=("FRAMES", "SIZE"),
                        help="clip of the ViT-L width encoder (default 16 frames at 256x256)")
    parser.add_argument("--output", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    results = {"cpu": cpu_name(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    print(f"{results['cpu']}, {results['torch_threads']} torch threads, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.only in (None, "encoder"):
            results["encoder_tiny"] = bench_encoder("tiny", (1, 8, 3, 64, 64), args.repeats, work)
            if not args.quick:
                frames, size = args.large_clip
                results["encoder_vit_large"] = bench_encoder("vit_large", (1, frames, 3, size, size), args.repeats, work)
        if args.only in (None, "planning"):
            preset = "tiny" if args.quick else "vit_giant"
            samples = min(args.samples, 20) if args.quick else args.samples
            results["planning"] = bench_planning(preset, samples, args.cem_steps, args.repeats, work)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
