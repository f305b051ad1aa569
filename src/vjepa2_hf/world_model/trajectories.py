"""Robot trajectories on disk, and fixed-fps windows of them for V-JEPA 2-AC training and validation.

An *episode* is a dict of numpy arrays:

* ``frames``: uint8 ``(T, H, W, 3)`` RGB frames of one camera;
* ``states``: float ``(T, state_dim)`` proprioceptive state per frame (e.g. the 7-D Franka end-effector pose
  ``[xyz, extrinsic-xyz Euler, gripper]``);
* ``actions`` (optional): float ``(T - 1, action_dim)``, the action taken between frame ``t`` and ``t + 1``;
* ``extrinsics`` (optional): float ``(T, extrinsics_dim)`` camera pose per frame.

Formats read by `load_episodes`:

1. **npz folder** (written by `save_episodes`): ``meta.json`` (``{"format": "vjepa2-ac-npz", "version": 1,
   "fps": ..., "pose_format": "franka" | "euclidean", ...}``) and one ``episode_000000.npz`` per episode with the
   arrays above.
2. **single npz** with a leading episode axis, the layout of the official demo file
   ``franka_example_traj.npz``: ``observations`` uint8 ``(E, T, H, W, 3)``, ``states`` ``(E, T, 7)`` and optional
   ``actions`` ``(E, T - 1, A)``.
3. **LeRobot v2.1 folder**: ``meta/info.json`` (``fps``, ``features``), ``data/chunk-*/episode_*.parquet`` with
   ``observation.state``, optional ``action``, and the camera either as ``dtype: video``
   (``videos/chunk-*/<key>/episode_*.mp4``, decoded with PyAV) or ``dtype: image`` (PNG/JPEG bytes in the parquet).
   `save_episodes_lerobot` writes this layout.

Windows (`TrajectoryWindowDataset`) follow the official DROID loader: ``num_frames`` frames spaced by
``frame_step = ceil(source_fps / fps)`` from a start frame, the states at those frames, and actions computed as
pose differences between the sampled frames (`poses_to_actions`) -- or, when the episode stores actions and
``frame_step == 1``, the stored actions if ``action_source="stored"``.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .poses import poses_to_actions

NPZ_FORMAT = "vjepa2-ac-npz"


# ------------------------------------------------------------------------------------------------- validation
def validate_episode(episode: dict[str, np.ndarray], index: int | str = "?") -> dict[str, np.ndarray]:
    """Check one episode's arrays; returns it with `frames` uint8 and float32 `states`/`actions`/`extrinsics`."""
    where = f"episode {index}"
    for key in ("frames", "states"):
        if key not in episode:
            raise ValueError(f"{where} lacks {key!r}; expected keys 'frames', 'states' and optionally 'actions'")
    frames = np.asarray(episode["frames"])
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{where}: `frames` must be uint8 (T, H, W, 3) RGB, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"{where}: `frames` must be uint8 (T, H, W, 3), got dtype {frames.dtype}")
    num = frames.shape[0]
    states = np.asarray(episode["states"], dtype=np.float32)
    if states.ndim != 2 or states.shape[0] != num:
        raise ValueError(f"{where}: `states` must have shape (T={num}, state_dim), got {states.shape}")
    if not np.all(np.isfinite(states)):
        raise ValueError(f"{where}: `states` contains NaN or infinite values")
    out = {"frames": frames, "states": states}
    if episode.get("actions") is not None:
        actions = np.asarray(episode["actions"], dtype=np.float32)
        if actions.ndim != 2 or actions.shape[0] not in (num - 1, num):
            raise ValueError(
                f"{where}: `actions` must have shape (T - 1 = {num - 1}, action_dim) (or T rows, the last unused), "
                f"got {actions.shape}"
            )
        if not np.all(np.isfinite(actions)):
            raise ValueError(f"{where}: `actions` contains NaN or infinite values")
        out["actions"] = actions[: num - 1]
    if episode.get("extrinsics") is not None:
        extr = np.asarray(episode["extrinsics"], dtype=np.float32)
        if extr.ndim != 2 or extr.shape[0] != num:
            raise ValueError(f"{where}: `extrinsics` must have shape (T={num}, extrinsics_dim), got {extr.shape}")
        out["extrinsics"] = extr
    return out


# ------------------------------------------------------------------------------------------------- npz
def save_episodes(
    directory: str | os.PathLike,
    episodes: Sequence[dict[str, np.ndarray]],
    fps: float,
    pose_format: str = "euclidean",
    extra_meta: dict[str, Any] | None = None,
) -> Path:
    """Write episodes as an npz folder (`meta.json` + `episode_XXXXXX.npz`). Returns the folder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    checked = [validate_episode(ep, i) for i, ep in enumerate(episodes)]
    if not checked:
        raise ValueError("`episodes` is empty")
    for i, ep in enumerate(checked):
        np.savez_compressed(directory / f"episode_{i:06d}.npz", **ep)
    meta = {
        "format": NPZ_FORMAT,
        "version": 1,
        "fps": float(fps),
        "pose_format": pose_format,
        "num_episodes": len(checked),
        "state_dim": int(checked[0]["states"].shape[1]),
        "action_dim": int(checked[0]["actions"].shape[1]) if "actions" in checked[0] else None,
        "frame_shape": list(checked[0]["frames"].shape[1:]),
        **(extra_meta or {}),
    }
    (directory / "meta.json").write_text(json.dumps(meta, indent=2))
    return directory


def _load_npz_folder(directory: Path) -> tuple[list[dict[str, np.ndarray]], dict[str, Any]]:
    meta = json.loads((directory / "meta.json").read_text())
    if meta.get("format") != NPZ_FORMAT:
        raise ValueError(f"{directory / 'meta.json'} has format {meta.get('format')!r}, expected {NPZ_FORMAT!r}")
    files = sorted(directory.glob("episode_*.npz"))
    if not files:
        raise FileNotFoundError(f"no episode_*.npz files in {directory}")
    episodes = []
    for i, path in enumerate(files):
        with np.load(path) as data:
            episodes.append(validate_episode({k: data[k] for k in data.files}, path.name))
    return episodes, meta


def _load_single_npz(path: Path, fps: float | None) -> tuple[list[dict[str, np.ndarray]], dict[str, Any]]:
    with np.load(path) as data:
        if "observations" not in data.files or "states" not in data.files:
            raise ValueError(
                f"{path} must hold 'observations' (E, T, H, W, 3) uint8 and 'states' (E, T, state_dim) arrays "
                f"(the franka_example_traj.npz layout); found {data.files}"
            )
        obs, states = data["observations"], data["states"]
        actions = data["actions"] if "actions" in data.files else None
    if obs.ndim != 5 or states.ndim != 3 or obs.shape[:2] != states.shape[:2]:
        raise ValueError(
            f"{path}: expected observations (E, T, H, W, 3) and states (E, T, state_dim) with the same E and T, got "
            f"{obs.shape} and {states.shape}"
        )
    episodes = [
        validate_episode(
            {"frames": obs[e], "states": states[e], "actions": None if actions is None else actions[e]}, e
        )
        for e in range(obs.shape[0])
    ]
    pose_format = "franka" if states.shape[-1] == 7 else "euclidean"
    return episodes, {"format": "single-npz", "fps": fps, "pose_format": pose_format}


# ------------------------------------------------------------------------------------------------- LeRobot
def _lerobot_info(checked, fps: float, image_key: str, use_videos: bool, state_dim: int,
                  action_dim: int) -> dict[str, Any]:
    """`meta/info.json` of a LeRobot v2.1 dataset holding `checked` episodes."""
    height, width = checked[0]["frames"].shape[1:3]
    features = {
        image_key: {
            "dtype": "video" if use_videos else "image",
            "shape": [height, width, 3],
            "names": ["height", "width", "channels"],
        },
        "observation.state": {"dtype": "float32", "shape": [state_dim], "names": None},
        "action": {"dtype": "float32", "shape": [action_dim], "names": None},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
    }
    info = {
        "codebase_version": "v2.1",
        "robot_type": "vjepa2_hf_reach",
        "total_episodes": len(checked),
        "total_frames": int(sum(ep["frames"].shape[0] for ep in checked)),
        "total_tasks": 1,
        "chunks_size": 1000,
        "fps": fps,
        "splits": {"train": f"0:{len(checked)}"},
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
        if use_videos
        else None,
        "features": features,
    }
    return info


def _write_episode_video(root: Path, image_key: str, episode: int, frames: np.ndarray, fps: float) -> None:
    from ..video.encoding import write_video

    path = root / "videos" / "chunk-000" / image_key / f"episode_{episode:06d}.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, fps=fps, crf=0)


def _png_images(frames: np.ndarray) -> list[dict[str, Any]]:
    """Frames as LeRobot image cells (PNG bytes)."""
    from PIL import Image

    images = []
    for frame in frames:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="PNG")
        images.append({"bytes": buf.getvalue(), "path": None})
    return images


def save_episodes_lerobot(
    root: str | os.PathLike,
    episodes: Sequence[dict[str, np.ndarray]],
    fps: float,
    image_key: str = "observation.image",
    use_videos: bool = True,
    task: str = "reach the goal",
) -> Path:
    """Write episodes in the LeRobot v2.1 dataset layout (parquet per episode, mp4 per camera and episode when
    `use_videos`, else PNG bytes in the parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    checked = [validate_episode(ep, i) for i, ep in enumerate(episodes)]
    if not checked:
        raise ValueError("`episodes` is empty")
    state_dim = checked[0]["states"].shape[1]
    action_dim = checked[0]["actions"].shape[1] if "actions" in checked[0] else state_dim
    info = _lerobot_info(checked, fps, image_key, use_videos, state_dim, action_dim)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=2))
    (root / "meta" / "tasks.jsonl").write_text(json.dumps({"task_index": 0, "task": task}) + "\n")
    lines = []
    index = 0
    for e, ep in enumerate(checked):
        num = ep["frames"].shape[0]
        actions = ep.get("actions")
        # LeRobot stores one action per frame; the last frame's action is unused (zeros here)
        act = np.zeros((num, action_dim), np.float32) if actions is None else np.concatenate(
            [actions, np.zeros((1, action_dim), np.float32)]
        )
        columns: dict[str, Any] = {
            "observation.state": [row.tolist() for row in ep["states"]],
            "action": [row.tolist() for row in act],
            "timestamp": (np.arange(num) / fps).astype(np.float32),
            "frame_index": np.arange(num, dtype=np.int64),
            "episode_index": np.full(num, e, dtype=np.int64),
            "index": np.arange(index, index + num, dtype=np.int64),
            "task_index": np.zeros(num, dtype=np.int64),
        }
        index += num
        if use_videos:
            _write_episode_video(root, image_key, e, ep["frames"], fps)
        else:
            columns[image_key] = _png_images(ep["frames"])
        data_path = root / "data" / "chunk-000" / f"episode_{e:06d}.parquet"
        data_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), data_path)
        lines.append(json.dumps({"episode_index": e, "tasks": [task], "length": num}))
    (root / "meta" / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _load_lerobot(
    root: Path, image_key: str | None, state_key: str, action_key: str | None
) -> tuple[list[dict[str, np.ndarray]], dict[str, Any]]:
    import pyarrow.parquet as pq

    info = json.loads((root / "meta" / "info.json").read_text())
    features = info.get("features", {})
    cameras = [k for k, v in features.items() if v.get("dtype") in ("video", "image")]
    if image_key is None:
        if not cameras:
            raise ValueError(f"{root}: no image or video feature in meta/info.json")
        image_key = cameras[0]
    if image_key not in features:
        raise ValueError(f"{root}: camera {image_key!r} not in meta/info.json features {sorted(features)}")
    if state_key not in features:
        raise ValueError(f"{root}: state feature {state_key!r} not in meta/info.json features {sorted(features)}")
    files = sorted((root / "data").glob("chunk-*/episode_*.parquet"))
    if not files:
        raise FileNotFoundError(f"no data/chunk-*/episode_*.parquet files under {root}")
    episodes = []
    for path in files:
        table = pq.read_table(path).to_pydict()
        states = np.asarray(table[state_key], dtype=np.float32)
        actions = None
        if action_key is not None and action_key in table:
            actions = np.asarray(table[action_key], dtype=np.float32)[:-1]
        episode_index = int(path.stem.split("_")[-1])
        if features[image_key]["dtype"] == "video":
            from ..video.decoding import read_video

            chunk = path.parent.name
            video = root / "videos" / chunk / image_key / f"episode_{episode_index:06d}.mp4"
            frames = read_video(video)
        else:
            from PIL import Image

            frames = np.stack(
                [np.asarray(Image.open(io.BytesIO(item["bytes"])).convert("RGB")) for item in table[image_key]]
            )
        if frames.shape[0] != states.shape[0]:
            raise ValueError(
                f"{path}: {states.shape[0]} state rows but {frames.shape[0]} frames for camera {image_key!r}"
            )
        episodes.append(validate_episode({"frames": frames, "states": states, "actions": actions}, path.name))
    return episodes, {"format": "lerobot", "fps": info.get("fps"), "pose_format": None, "image_key": image_key}


def load_episodes(
    path: str | os.PathLike,
    fps: float | None = None,
    image_key: str | None = None,
    state_key: str = "observation.state",
    action_key: str | None = "action",
) -> tuple[list[dict[str, np.ndarray]], dict[str, Any]]:
    """Read trajectories from an npz folder, a single npz (franka demo layout) or a LeRobot v2.1 folder.

    Args:
        path: file or folder.
        fps: frame rate of the recording, for formats that do not store it (the single-npz layout).
        image_key, state_key, action_key: LeRobot feature names (camera default: the first image/video feature).

    Returns:
        `(episodes, meta)`: validated episode dicts and the metadata (`fps`, `pose_format`, `format`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trajectory data not found: {path}")
    if path.is_file():
        if path.suffix != ".npz":
            raise ValueError(f"a trajectory file must be a .npz (franka_example_traj.npz layout), got {path}")
        episodes, meta = _load_single_npz(path, fps)
    elif (path / "meta.json").is_file():
        episodes, meta = _load_npz_folder(path)
    elif (path / "meta" / "info.json").is_file():
        episodes, meta = _load_lerobot(path, image_key, state_key, action_key)
    else:
        raise ValueError(
            f"{path} is neither an npz trajectory folder (meta.json + episode_*.npz), a single .npz file, nor a "
            f"LeRobot v2.1 folder (meta/info.json)"
        )
    if fps is not None:
        meta["fps"] = float(fps)
    return episodes, meta


# ------------------------------------------------------------------------------------------------- windows
class TrajectoryWindowDataset(Dataset):
    """Fixed-fps windows of `num_frames` frames from episodes, for V-JEPA 2-AC training.

    Args:
        episodes: validated episodes (see `load_episodes`).
        num_frames (`int`, defaults to 8): frames per window (the DROID config: 8 at 4 fps).
        fps (`float`, *optional*): target frame rate; with `source_fps`, ``frame_step = ceil(source_fps / fps)``
            (official `droid.py`). None keeps every frame (`frame_step = 1`).
        source_fps (`float`, *optional*): frame rate of the episodes.
        action_source (`str`, defaults to "auto"): ``"poses"`` computes actions from the states at the sampled frames
            (pose differences, as the official loader); ``"stored"`` uses stored actions (only with
            `frame_step == 1`); ``"auto"`` uses stored actions when present and `frame_step == 1`, else poses.
        pose_format (`str`, defaults to "franka"): how poses are differenced (`poses_to_actions`).
        windows (`str`, defaults to "all"): ``"all"`` enumerates every valid start (deterministic, for validation
            and for epoch-style training); ``"random"`` draws a random start per item (the official sampler).
        features (`list[torch.Tensor]`, *optional*): cached encoder outputs, one `(T_e, tokens, hidden)` tensor per
            episode; items then carry `embeddings` instead of `frames`.
        transform (*optional*): callable applied to the uint8 `(num_frames, H, W, 3)` frames of an item.
        seed (`int`): seed of the random window sampler.

    Each item is a dict: `frames` (uint8 `(num_frames, H, W, 3)`, or the transform's output) or `embeddings`,
    `states` float32 `(num_frames, state_dim)`, `actions` float32 `(num_frames - 1, action_dim)`, optional
    `extrinsics`, and `episode_index`, `start`.
    """

    def __init__(
        self,
        episodes: Sequence[dict[str, np.ndarray]],
        num_frames: int = 8,
        fps: float | None = None,
        source_fps: float | None = None,
        action_source: str = "auto",
        pose_format: str = "franka",
        windows: str = "all",
        features: Sequence[torch.Tensor] | None = None,
        transform=None,
        seed: int = 0,
    ) -> None:
        if num_frames < 2:
            raise ValueError(f"`num_frames` must be at least 2 (a frame and its successor), got {num_frames}")
        if action_source not in ("auto", "poses", "stored"):
            raise ValueError(f"`action_source` must be 'auto', 'poses' or 'stored', got {action_source!r}")
        if windows not in ("all", "random"):
            raise ValueError(f"`windows` must be 'all' or 'random', got {windows!r}")
        if fps is not None:
            if source_fps is None:
                raise ValueError("`fps` needs `source_fps` (the recording's frame rate) to compute the frame step")
            if fps <= 0 or source_fps <= 0:
                raise ValueError(f"`fps` and `source_fps` must be positive, got {fps} and {source_fps}")
            self.frame_step = max(1, math.ceil(source_fps / fps))
        else:
            self.frame_step = 1
        self.episodes = list(episodes)
        self.num_frames = num_frames
        self.pose_format = pose_format
        self.windows = windows
        self.transform = transform
        self.features = None if features is None else list(features)
        self._rng = np.random.default_rng(seed)
        span = (num_frames - 1) * self.frame_step + 1
        self.span = span
        if self.features is not None:
            if len(self.features) != len(self.episodes):
                raise ValueError(f"{len(self.features)} feature tensors for {len(self.episodes)} episodes")
            for i, (feat, ep) in enumerate(zip(self.features, self.episodes)):
                if feat.shape[0] != ep["states"].shape[0]:
                    raise ValueError(f"episode {i}: {feat.shape[0]} cached frames but {ep['states'].shape[0]} states")
        has_actions = all("actions" in ep for ep in self.episodes)
        if action_source == "stored" and not has_actions:
            raise ValueError("`action_source='stored'` but some episodes have no `actions`")
        if action_source == "stored" and self.frame_step != 1:
            raise ValueError(
                f"stored per-frame actions cannot be used with frame_step={self.frame_step}; use "
                "action_source='poses' (differences of the states at the sampled frames, as the official loader)"
            )
        self.use_stored = action_source == "stored" or (action_source == "auto" and has_actions and self.frame_step == 1)
        self.index: list[tuple[int, int]] = []
        for e, ep in enumerate(self.episodes):
            length = ep["states"].shape[0]
            for start in range(0, length - span + 1):
                self.index.append((e, start))
        if not self.index:
            lengths = sorted({ep["states"].shape[0] for ep in self.episodes})
            raise ValueError(
                f"no episode is long enough for {num_frames} frames at frame_step={self.frame_step} (needs {span} "
                f"frames); episode lengths: {lengths[:10]}"
            )
        self._valid_episodes = sorted({e for e, _ in self.index})

    def __len__(self) -> int:
        return len(self.index)

    def window(self, episode_index: int, start: int) -> dict[str, Any]:
        """The window of `episode_index` starting at frame `start`."""
        ep = self.episodes[episode_index]
        idx = np.arange(start, start + self.span, self.frame_step)
        states = ep["states"][idx]
        if self.use_stored:
            actions = ep["actions"][idx[:-1]]
        else:
            actions = poses_to_actions(states, self.pose_format).astype(np.float32)
        item: dict[str, Any] = {
            "states": torch.from_numpy(np.ascontiguousarray(states)),
            "actions": torch.from_numpy(np.ascontiguousarray(actions)),
            "episode_index": episode_index,
            "start": start,
        }
        if "extrinsics" in ep:
            item["extrinsics"] = torch.from_numpy(ep["extrinsics"][idx])
        if self.features is not None:
            item["embeddings"] = self.features[episode_index][torch.from_numpy(idx)]
        else:
            frames = ep["frames"][idx]
            item["frames"] = self.transform(frames) if self.transform is not None else torch.from_numpy(frames)
        return item

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self.windows == "random":
            e = self._valid_episodes[int(self._rng.integers(len(self._valid_episodes)))]
            length = self.episodes[e]["states"].shape[0]
            start = int(self._rng.integers(0, length - self.span + 1))
            return self.window(e, start)
        return self.window(*self.index[i])


def split_episodes(
    episodes: Sequence[dict[str, np.ndarray]], held_out_fraction: float = 0.1, seed: int = 0
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """Split episodes (not windows) into train and held-out sets, deterministically."""
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"`held_out_fraction` must be in (0, 1), got {held_out_fraction}")
    order = np.random.default_rng(seed).permutation(len(episodes))
    num_held = max(1, int(round(held_out_fraction * len(episodes))))
    held = set(order[:num_held].tolist())
    train = [ep for i, ep in enumerate(episodes) if i not in held]
    test = [ep for i, ep in enumerate(episodes) if i in held]
    if not train:
        raise ValueError(f"{len(episodes)} episodes are too few to hold out {held_out_fraction:.0%}")
    return train, test


__all__ = [
    "NPZ_FORMAT",
    "TrajectoryWindowDataset",
    "load_episodes",
    "save_episodes",
    "save_episodes_lerobot",
    "split_episodes",
    "validate_episode",
]
