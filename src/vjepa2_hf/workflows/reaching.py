"""The end-to-end reaching experiment: collect, train a small AC predictor, plan to goal images, compare.

1. collect random-action trajectories in `ReachEnv` (numpy rendering, no downloads);
2. train a small AC predictor with `train_ac` on a frozen tiny V-JEPA 2 encoder (random weights; features cached);
3. validate it offline on held-out trajectories (error per horizon, energy of true vs random actions);
4. plan toward goal images with CEM + MPC (`VJEPA2ACPolicy`) over seeded episodes and compare the success rate with
   random actions and with the oracle (straight-line) controller on the same start/goal pairs; time each action.

Used by `vjepa2-hf plan`, `scripts/plan_reaching.py` (full setting) and the end-to-end test (reduced setting).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..world_model.environment import ReachEnv, collect_random_episodes
from ..world_model.evaluation import run_episodes
from ..world_model.policy_vjepa2_ac import VJEPA2ACPolicy, VJEPA2ACPolicyConfig
from ..world_model.training_vjepa2_ac import TrainACConfig, train_ac
from ..world_model.trajectories import save_episodes
from ..world_model.world_model import VJEPA2WorldModel


@dataclass
class ReachingExperimentConfig:
    """Settings of `run_reaching_experiment` (defaults: the full setting of `scripts/plan_reaching.py`)."""

    output_dir: str = "runs/plan_reaching"
    model: str | None = None  # a trained VJEPA2WorldModel folder: skip collection and training
    image_size: int = 64
    episodes: int = 400
    episode_length: int = 12
    train_steps: int = 600
    batch_size: int = 32
    lr: float = 1e-3
    depth: int = 2
    width: int = 64
    num_frames: int = 4
    eval_episodes: int = 50
    samples: int = 200
    iterations: int = 5
    topk: int = 20
    horizon: int = 1
    constraint: str = "box"
    max_steps: int = 20
    use_cache: bool = True
    mixed_precision: str = "no"
    seed: int = 0
    dtype: str = "float32"  # planning dtype of the world model; "auto": bf16 where the hardware runs it natively
    backend: str = "torch"  # "onnxruntime" / "openvino": encoder and rollout step exported (fp32) to export-*
    compile: bool = False  # torch.compile the predictor blocks' MLPs (`VJEPA2WorldModel.compile_predictor`)
    int8: bool = False  # backend "onnxruntime": the int8 graphs (dynamic quantization) in export-onnxruntime-int8
    progress_bar: bool = True

    def __post_init__(self) -> None:
        if self.int8 and self.backend != "onnxruntime":
            raise ValueError(f"`int8` plans with the ONNX Runtime int8 graphs: use backend='onnxruntime', got "
                             f"backend={self.backend!r}")


def _planning_model(cfg: ReachingExperimentConfig, model_dir, out: Path):
    """The world model `cfg` plans with: in `cfg.dtype` (PyTorch; `compile` as asked), or exported from its float32
    weights into `out/export-<backend>[-int8]` and run by `cfg.backend`, where `cfg.dtype` is OpenVINO's inference
    precision (bf16 where native with "auto") and ONNX Runtime runs the float32 (or `int8`) graph."""
    from ..auto_dtype import resolve_dtype

    if cfg.backend == "torch":
        world_model = VJEPA2WorldModel.from_pretrained(model_dir, dtype=cfg.dtype)
        return world_model.compile_predictor() if cfg.compile else world_model
    import shutil

    from ..world_model.exporting import with_backend

    folder = out / (f"export-{cfg.backend}-int8" if cfg.int8 else f"export-{cfg.backend}")
    shutil.rmtree(folder, ignore_errors=True)  # the model may have changed: export anew
    bf16 = cfg.backend == "openvino" and resolve_dtype(cfg.dtype, "cpu") == torch.bfloat16
    world_model = VJEPA2WorldModel.from_pretrained(model_dir, dtype="float32")
    return with_backend(world_model, cfg.backend, folder, int8=cfg.int8, precision="bf16" if bf16 else "f32")


def evaluate_in_reach_env(
    world_model: VJEPA2WorldModel, cfg: ReachingExperimentConfig, env: ReachEnv | None = None
) -> dict[str, Any]:
    """Success rate of CEM/MPC toward goal images vs random actions and the oracle, on the same seeded episodes."""
    env = env or ReachEnv(image_size=cfg.image_size, max_episode_steps=cfg.max_steps)
    step = env.max_step
    policy = VJEPA2ACPolicy(
        world_model,
        VJEPA2ACPolicyConfig(
            horizon=cfg.horizon, num_samples=cfg.samples, iterations=cfg.iterations, topk=cfg.topk,
            constraint=cfg.constraint, action_low=-step, action_high=step, l1_radius=step, init_std=step,
            use_cache=cfg.use_cache, seed=cfg.seed,
        ),
    )
    seeds = [10_000 + i for i in range(cfg.eval_episodes)]

    def on_reset(e: ReachEnv) -> None:
        policy.reset()
        policy.set_goal(e.goal_image)

    planned = run_episodes(env, lambda obs, e: policy.select_action(obs)[0].cpu().numpy(), seeds, cfg.max_steps,
                           on_reset)
    rng = np.random.default_rng(cfg.seed)
    random = run_episodes(env, lambda obs, e: rng.uniform(-step, step, size=2), seeds, cfg.max_steps)
    oracle = run_episodes(env, lambda obs, e: e.oracle_action(), seeds, cfg.max_steps)
    return {
        "success_rate": {"vjepa2_ac_cem": planned["success_rate"], "random": random["success_rate"],
                         "oracle": oracle["success_rate"]},
        "mean_final_distance": {name: float(np.mean(r["final_distances"]))
                                for name, r in (("vjepa2_ac_cem", planned), ("random", random), ("oracle", oracle))},
        "mean_steps": {"vjepa2_ac_cem": planned["mean_steps"], "oracle": oracle["mean_steps"]},
        "planning_seconds_per_action": float(np.mean(policy.planning_times)),
        "seconds_per_action_incl_encoding": planned["seconds_per_action"],
        "episodes": len(seeds),
        "success_radius": env.success_radius,
    }


def run_reaching_experiment(cfg: ReachingExperimentConfig) -> dict[str, Any]:
    """Run the whole experiment; writes `report.json` in `cfg.output_dir` and returns the report."""
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = ReachEnv(image_size=cfg.image_size, max_episode_steps=cfg.max_steps)
    report: dict[str, Any] = {"settings": asdict(cfg), "torch_threads": torch.get_num_threads()}
    if cfg.model is None:
        t0 = time.perf_counter()
        episodes = collect_random_episodes(env, cfg.episodes, cfg.episode_length, seed=cfg.seed)
        save_episodes(out / "data", episodes, fps=4, pose_format="euclidean")
        report["collect_seconds"] = time.perf_counter() - t0
        train_cfg = TrainACConfig.from_dict(
            {
                "model": {
                    "encoder": "tiny", "encoder_seed": cfg.seed, "encoder_overrides": {"crop_size": cfg.image_size},
                    "predictor_preset": "tiny",
                    "predictor_overrides": {"action_dim": 2, "state_dim": 2, "pred_hidden_size": cfg.width,
                                            "pred_num_hidden_layers": cfg.depth},
                    "state_update": "additive",
                },
                "data": {"path": str(out / "data"), "num_frames": cfg.num_frames, "pose_format": "euclidean",
                         "held_out_fraction": 0.1},
                "optimization": {
                    "total_steps": cfg.train_steps, "batch_size": cfg.batch_size,
                    "warmup_steps": cfg.train_steps // 10, "cooldown_steps": cfg.train_steps // 5,
                    "start_lr": cfg.lr / 10, "lr": cfg.lr, "final_lr": 0.0, "mixed_precision": cfg.mixed_precision,
                },
                "run": {"output_dir": str(out / "train"), "seed": cfg.seed, "save_every": cfg.train_steps,
                        "resume": "none", "progress_bar": cfg.progress_bar},
            }
        )
        summary = train_ac(train_cfg, overwrite=True)  # resume: none, a fresh run each time
        report["train"] = {k: v for k, v in summary.items() if k != "validation"}
        report["offline_validation"] = summary.get("validation")
        model_dir = summary["model_dir"]
    else:
        model_dir = cfg.model
    world_model = _planning_model(cfg, model_dir, out)
    report["planning"] = evaluate_in_reach_env(world_model, cfg, env)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


__all__ = ["ReachingExperimentConfig", "evaluate_in_reach_env", "run_reaching_experiment"]
