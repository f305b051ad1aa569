"""Regenerate the stored V-JEPA 2.1 reference outputs from the official code (run outside the package).

    PYTHONPATH=src python scripts/make_vjepa2_1_reference.py [--official ../shared/reference/official-vjepa2.1]

Runs the official 2.1 `VisionTransformer` and `VisionTransformerPredictor` (and the official `train_step` of
`app/vjepa_2_1/train.py`, executed from its source) on tiny-but-faithful configurations with seeded weights
(`tests/encoder/vjepa2_1_reference.py`) and writes their outputs, fp32 on CPU, to
`tests/encoder/data/vjepa2_1_reference.safetensors` and `..._train_step_reference.safetensors`. Only outputs,
masks, key names and shapes are stored; the tests rebuild the weights from the seeds and load them through
`convert_official_checkpoint`. The official modules import `timm` / `einops` / `torchvision` for helpers these
configurations never call; the script stubs them so that nothing beyond torch is needed.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.encoder import vjepa2_1_reference as ref  # noqa: E402


def _stub_optional_imports() -> None:
    """Stub imports the official modules make but never use here (drop path is off, no audio, no torchvision)."""
    def unused(*args, **kwargs):
        raise RuntimeError("stubbed: not used by the reference configurations")

    timm = types.ModuleType("timm")
    timm.models = types.ModuleType("timm.models")
    timm.models.layers = types.ModuleType("timm.models.layers")
    timm.models.layers.drop_path = unused
    einops = types.ModuleType("einops")
    einops.rearrange = unused
    for name, module in {"timm": timm, "timm.models": timm.models, "timm.models.layers": timm.models.layers,
                         "einops": einops, "torchvision": types.ModuleType("torchvision")}.items():
        sys.modules.setdefault(name, module)


def build_official(setup: str, img_size: int, encoder_sizes=None, predictor_sizes=None):
    from app.vjepa_2_1.models.predictor import vit_predictor
    from app.vjepa_2_1.models.vision_transformer import VisionTransformer

    from functools import partial

    levels = ref.SETUPS[setup]["levels"]
    enc = dict(encoder_sizes or ref.ENCODER)
    pred = dict(predictor_sizes or ref.PREDICTOR)
    common = dict(img_size=(img_size, img_size), patch_size=enc["patch_size"], num_frames=4,
                  tubelet_size=enc["tubelet_size"], use_rope=True, interpolate_rope=True, img_temporal_dim_size=1,
                  modality_embedding=True, n_output_distillation=levels)
    encoder = VisionTransformer(
        embed_dim=enc["embed_dim"], depth=enc["depth"], num_heads=enc["num_heads"], mlp_ratio=enc["mlp_ratio"],
        qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_sdpa=True, **common,
    )
    predictor = vit_predictor(
        embed_dim=enc["embed_dim"], predictor_embed_dim=pred["predictor_embed_dim"], depth=pred["depth"],
        num_heads=pred["num_heads"], use_mask_tokens=True, num_mask_tokens=pred["num_mask_tokens"],
        return_all_tokens=True, teacher_embed_dim=ref.SETUPS[setup]["teacher_embed_dim"], use_sdpa=True, **common,
    )
    return encoder.eval(), predictor.eval()


def _shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def _load_seeded(module: torch.nn.Module, seed: int) -> None:
    module.load_state_dict(ref.seeded_state_dict(_shapes(module), seed), strict=True)


@torch.no_grad()
def encoder_predictor_reference() -> tuple[dict, dict]:
    tensors, meta = {}, {}
    for setup in ref.SETUPS:
        encoder, predictor = build_official(setup, ref.NATIVE)
        _load_seeded(encoder, 1)
        _load_seeded(predictor, 2)
        meta[setup] = {"encoder": _shapes(encoder), "predictor": _shapes(predictor)}
        for case, (frames, size, n_context, n_target) in ref.CASES.items():
            x = ref.video(frames, size)
            tensors[f"input_sum/{case}"] = x.sum().reshape(1)
            encoder.return_hierarchical = False
            tensors[f"{setup}/{case}/last_hidden_state"] = encoder(x)
            encoder.return_hierarchical = True
            tensors[f"{setup}/{case}/hierarchical"] = encoder(x)
            encoder.return_hierarchical = False
            context, target = ref.random_masks(ref.num_tokens(frames, size), n_context, n_target, seed=size + frames)
            tensors[f"masks/{case}/context"], tensors[f"masks/{case}/target"] = context, target
            # the official predictor takes RoPE positions from its configured grid: build it at this size
            _, case_predictor = build_official(setup, size)
            case_predictor.load_state_dict(predictor.state_dict(), strict=True)
            z = encoder(x, masks=[context], training=True)
            mod = "image" if frames == 1 else "video"
            pred, ctx = case_predictor(z, [context], [target], mod=mod, mask_index=ref.MASK_INDEX)
            tensors[f"{setup}/{case}/predicted"], tensors[f"{setup}/{case}/context_predicted"] = pred, ctx
    return tensors, meta


def official_train_step(official: Path):
    """The nested `train_step` of the official `app/vjepa_2_1/train.py::main`, compiled from its source so that
    the reference runs the official loss code itself; its free variables become globals supplied per call."""
    source = (official / "app" / "vjepa_2_1" / "train.py").read_text()
    main = next(node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name == "main")
    step = next(node for node in ast.walk(main) if isinstance(node, ast.FunctionDef) and node.name == "train_step")
    module = ast.Module(body=[step], type_ignores=[])
    return compile(module, str(official / "app/vjepa_2_1/train.py"), "exec")


class _GradRecorder:
    """Optimizer stand-in: `step()` records the gradients the official step computed, `zero_grad()` clears them."""

    def __init__(self, modules: dict[str, torch.nn.Module]):
        self.modules, self.grads = modules, {}

    def step(self):
        for prefix, module in self.modules.items():
            for name, param in module.named_parameters():
                if param.grad is not None:
                    self.grads[f"{prefix}/{name}"] = param.grad.detach().clone()

    def zero_grad(self):
        for module in self.modules.values():
            module.zero_grad(set_to_none=True)


class _Constant:
    def step(self):
        return 0.0


TRAIN_STEP = dict(global_step=22_500, lambda_value=0.5, crop=64, loss_exp=1.0)
# frames -> (context tokens, target tokens) of each of the two mask configurations
TRAIN_MASKS = {4: [(18, 10), (12, 16)], 1: [(9, 5), (6, 8)]}


def train_step_reference(official: Path) -> tuple[dict, dict]:
    import numpy as np
    import torch.nn.functional as F
    from app.vjepa_2_1.models.utils.masks_dist import compute_mask_distance
    from app.vjepa_2_1.models.utils.modules import Lambda_LinearWarmupHold
    from app.vjepa_2_1.wrappers import MultiSeqWrapper, PredictorMultiSeqWrapper
    from src.masks.utils import apply_masks

    code = official_train_step(official)
    tensors, meta = {}, {}
    grads_sum: dict[str, torch.Tensor] = {}
    for frames, modality in ((4, "video"), (1, "image")):
        encoder, predictor = build_official("levels4", TRAIN_STEP["crop"], ref.TRAIN_ENCODER, ref.TRAIN_PREDICTOR)
        target, _ = build_official("levels4", TRAIN_STEP["crop"], ref.TRAIN_ENCODER, ref.TRAIN_PREDICTOR)
        _load_seeded(encoder, 11)
        _load_seeded(target, 12)
        _load_seeded(predictor, 13)
        meta = {"encoder": _shapes(encoder), "predictor": _shapes(predictor)}
        encoder.train(), predictor.train()
        x = ref.video(frames, TRAIN_STEP["crop"], seed=5)
        tensors[f"train/{modality}/input_sum"] = x.sum().reshape(1)
        masks_enc, masks_pred = [], []
        for j, (n_context, n_target) in enumerate(TRAIN_MASKS[frames]):
            context, target_ids = ref.random_masks(ref.num_tokens(frames, 64), n_context, n_target, seed=100 + j)
            tensors[f"train/{modality}/context_{j}"], tensors[f"train/{modality}/target_{j}"] = context, target_ids
            masks_enc.append(context)
            masks_pred.append(target_ids)
        recorder = _GradRecorder({"encoder": encoder, "predictor": predictor})
        namespace = dict(
            torch=torch, F=F, np=np, apply_masks=apply_masks, compute_mask_distance=compute_mask_distance,
            normalize_nested=None, scheduler=_Constant(), wd_scheduler=_Constant(),
            encoder=MultiSeqWrapper(encoder), target_encoder=MultiSeqWrapper(target),
            predictor=PredictorMultiSeqWrapper(predictor), embed_dim_encoder=ref.TRAIN_ENCODER["embed_dim"],
            levels_predictor=4, img_temporal_dim_size=1, normalize_predictor=False, predict_all=True,
            has_cls_first=False, loss_exp=TRAIN_STEP["loss_exp"], clips=[x], masks_enc=[masks_enc],
            masks_pred=[masks_pred], grid_size=TRAIN_STEP["crop"] // 16, offset_context_loss=False,
            weight_distance_loss=True, lambda_progressive=True,
            lambda_sched=Lambda_LinearWarmupHold(lambda_value=TRAIN_STEP["lambda_value"]),
            epoch=0, ipe=1, itr=TRAIN_STEP["global_step"], lambda_value=TRAIN_STEP["lambda_value"],
            dtype=torch.float32, mixed_precision=False, loss_reg_std_mult=None, optimizer=recorder, scaler=None,
            momentum_scheduler=iter([1.0]), ema=[1.0, 1.0], trailing_losses=[],
        )
        exec(code, namespace)
        loss, *_ = namespace["train_step"]()
        tensors[f"train/{modality}/loss"] = torch.tensor([loss], dtype=torch.float64)
        for name, grad in recorder.grads.items():  # DDP over one image and one video rank averages gradients
            grads_sum[name] = grads_sum.get(name, 0) + grad / 2
    tensors.update({f"grad/{name}": grad for name, grad in grads_sum.items()})
    return tensors, meta


def official_parameter_counts() -> dict[str, dict[str, int]]:
    """Parameter counts of the four released 2.1 models from the official hub factories, built on the meta device
    (`torch.linspace` of the drop-path rates runs on CPU: the factory calls `.item()` on it)."""
    from src.hub import backbones

    linspace = torch.linspace
    counts = {}
    try:
        torch.linspace = lambda *args, **kwargs: linspace(*args, **{**kwargs, "device": "cpu"})
        for name in ("vjepa2_1_vit_base_384", "vjepa2_1_vit_large_384", "vjepa2_1_vit_giant_384",
                     "vjepa2_1_vit_gigantic_384"):
            with torch.device("meta"):
                encoder, predictor = getattr(backbones, name)(pretrained=False)
            counts[name] = {"encoder": sum(p.numel() for p in encoder.parameters()),
                            "predictor": sum(p.numel() for p in predictor.parameters())}
    finally:
        torch.linspace = linspace
    return counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, default=ROOT.parent / "shared" / "reference" / "official-vjepa2.1")
    parser.add_argument("--param-counts", action="store_true",
                        help="only print the official full-size parameter counts (meta device)")
    args = parser.parse_args(argv)
    if not (args.official / "app" / "vjepa_2_1").is_dir():
        raise SystemExit(f"--official: no app/vjepa_2_1 under {args.official}")
    _stub_optional_imports()
    sys.path.insert(0, str(args.official))
    if args.param_counts:
        print(json.dumps(official_parameter_counts(), indent=2))
        return
    torch.manual_seed(0)
    tensors, meta = encoder_predictor_reference()
    ref.DATA.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, ref.DATA, metadata={"shapes": json.dumps(meta)})
    tensors, meta = train_step_reference(args.official)
    save_file({k: v.contiguous() for k, v in tensors.items()}, ref.TRAIN_DATA,
              metadata={"shapes": json.dumps(meta), "train_step": json.dumps(TRAIN_STEP)})
    for path in (ref.DATA, ref.TRAIN_DATA):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
