"""`vjepa2-hf plan`: plan toward goal images with CEM/MPC in the built-in reaching environment.

Without `--model` it first collects random trajectories and trains a small AC predictor on a frozen tiny encoder
(a few minutes on a CPU), then plans; with `--model DIR` (a `VJEPA2WorldModel` folder trained on the environment)
it only plans. Either way it reports the success rate against random actions and the oracle controller, and the
planning time per action.

`--energy-landscape FILE.npz` instead evaluates the official notebook's 5x5x5 grid of end-effector translations
one step ahead from the first frame of a trajectory file (e.g. `franka_example_traj.npz`) toward its second frame,
and saves the landscape as a PNG. With no `--model`, the model is a tiny random one: that only exercises the path.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from ._options import add_output_dir_argument, add_runtime_options, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="a VJEPA2WorldModel folder (default: train a small one first)")
    add_output_dir_argument(parser, ["--output"], default="runs/plan", help="output folder")
    parser.add_argument("--eval-episodes", type=positive_int, default=20)
    parser.add_argument("--samples", type=positive_int, default=200, help="CEM samples per iteration")
    parser.add_argument("--iterations", type=positive_int, default=5, help="CEM iterations")
    parser.add_argument("--topk", type=positive_int, default=20)
    parser.add_argument("--horizon", type=positive_int, default=1)
    parser.add_argument("--constraint", choices=["box", "l1"], default="box")
    parser.add_argument("--image-size", type=positive_int, default=64)
    parser.add_argument("--max-steps", type=positive_int, default=20)
    parser.add_argument("--train-steps", type=positive_int, default=600, help="when training first")
    parser.add_argument("--episodes", type=positive_int, default=400, help="random trajectories to collect when training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                        help="planning dtype; 'auto': bf16 on CUDA and on CPUs with native bf16 (AMX, AVX512-BF16), "
                             "float32 otherwise (the choice is logged); with --backend openvino its inference "
                             "precision (ONNX Runtime runs the float32 graph, or --int8)")
    add_runtime_options(parser, "the world model's encoder and rollout step", "OUTPUT",
                        "the predictor blocks' MLPs; the first plan pays the compile time;",
                        "the int8 encoder and rollout step (the fastest planner on CPUs with VNNI / AMX)")
    parser.add_argument("--energy-landscape", default=None, metavar="NPZ",
                        help="compute an energy landscape PNG on the first two frames of this trajectory file")


def _energy_landscape(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch
    from transformers.utils import logging

    from ..world_model.evaluation import energy_landscape, plot_energy_landscape
    from ..world_model.poses import poses_to_actions
    from ..world_model.trajectories import load_episodes
    from ..world_model.world_model import VJEPA2WorldModel

    logger = logging.get_logger(__name__)
    episodes, meta = load_episodes(args.energy_landscape)
    ep = episodes[0]
    if len(ep["frames"]) < 2:
        raise ValueError(f"{args.energy_landscape}: the first episode needs at least 2 frames")
    if args.model:
        model = VJEPA2WorldModel.from_pretrained(args.model, dtype=args.dtype)
        title = "V-JEPA 2-AC energy landscape"
    else:
        from ..encoder.configuration_vjepa2 import VJEPA2Config
        from ..world_model.configuration_vjepa2_ac import VJEPA2ACConfig

        logger.warning("no --model: using a tiny RANDOM world model; the landscape only exercises the code path")
        torch.manual_seed(args.seed)
        state_dim = ep["states"].shape[1]
        model = VJEPA2WorldModel.from_configs(
            VJEPA2Config.from_preset("tiny"),
            VJEPA2ACConfig.from_preset("tiny", action_dim=state_dim, state_dim=state_dim),
            state_update="franka" if state_dim == 7 else "additive",
        ).eval()
        title = "energy landscape (tiny RANDOM model: path check only)"
    land = energy_landscape(model, ep["frames"][0], ep["states"][0], ep["frames"][1])
    pose_format = "franka" if ep["states"].shape[1] == 7 else "euclidean"
    true_action = poses_to_actions(ep["states"][:2].astype(np.float64), pose_format)[0]
    out = Path(args.output_dir)
    path = plot_energy_landscape(land, out / "energy_landscape.png", true_action=true_action, title=title)
    result = {"png": str(path), "argmin_action": land["argmin_action"].tolist(), "true_action": true_action.tolist(),
              "energy_min": float(land["energies"].min()), "energy_max": float(land["energies"].max()),
              "random_model": args.model is None}
    print(json.dumps(result, indent=2))
    return 0


def _check_world_model_folder(model: str) -> None:
    """A folder that is not a world model is one line here, before transformers' loader prints its key report."""
    from pathlib import Path

    from ..model_size import check_config_json
    from ..world_model.world_model import LEGACY_WORLD_MODEL_CONFIG
    from .errors import require_local_or_hub

    require_local_or_hub(model, "--model")
    folder = Path(model)
    if not folder.is_dir() or (folder / LEGACY_WORLD_MODEL_CONFIG).is_file():
        return
    check_config_json(folder)
    config_file = folder / "config.json"
    model_type = json.loads(config_file.read_text()).get("model_type") if config_file.is_file() else None
    if model_type != "vjepa2_world_model":
        raise ValueError(f"--model {model} is not a VJEPA2WorldModel folder (its config.json has model_type "
                         f"{model_type!r}); train one with `vjepa2-hf train-ac` or run `plan` without --model")
    from ..model_size import load_checked_config
    from ..world_model.configuration_vjepa2_world_model import VJEPA2WorldModelConfig
    from ..world_model.world_model import VJEPA2WorldModel

    load_checked_config(VJEPA2WorldModelConfig, VJEPA2WorldModel, folder, what=f"--model {model}")


def run(args: argparse.Namespace) -> int:
    if args.int8 and args.backend != "onnxruntime":
        raise ValueError(f"--int8 plans with the ONNX Runtime int8 graphs: add --backend onnxruntime (got --backend "
                         f"{args.backend})")
    if args.model:
        _check_world_model_folder(args.model)
    if args.energy_landscape:
        return _energy_landscape(args)
    from ..workflows.reaching import ReachingExperimentConfig, run_reaching_experiment

    cfg = ReachingExperimentConfig(
        output_dir=args.output_dir, model=args.model, image_size=args.image_size, episodes=args.episodes,
        train_steps=args.train_steps, eval_episodes=args.eval_episodes, samples=args.samples,
        iterations=args.iterations, topk=args.topk, horizon=args.horizon, constraint=args.constraint,
        max_steps=args.max_steps, seed=args.seed, dtype=args.dtype, progress_bar=not args.no_progress,
        backend=args.backend, compile=args.compile, int8=args.int8,
    )
    report = run_reaching_experiment(cfg)
    print(json.dumps(report["planning"], indent=2))
    return 0
