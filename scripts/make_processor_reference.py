"""Produce the stored reference for the processor-parity test (tests/video/data/processor_reference.npz).

Runs transformers' own `VJEPA2VideoProcessor` (which needs torchvision) on deterministic frames and stores its outputs.
It is meant to run in a separate throwaway environment, because torchvision pins a CUDA torch build that this package
does not depend on:

    python3 -m venv /tmp/tvenv
    /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 "transformers==5.24.0" av
    /tmp/tvenv/bin/python scripts/make_processor_reference.py            # writes tests/video/data/processor_reference.npz

The input frames come from `vjepa2_hf.video.synthetic.parity_pattern_frames` (integer arithmetic only, so the test
regenerates them bit for bit); their sha256 is stored next to the outputs. Small outputs are stored whole in float32;
the 256-pixel case is stored as the exact uint8 resized-and-cropped frames (recovered from the normalised output and
checked to round-trip) plus a float32 subset, to keep the file small.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

from vjepa2_hf.video.synthetic import parity_pattern_frames  # noqa: E402

# name, frames, height, width, crop, input kind, seed
CASES = [
    ("landscape_crop64", 4, 90, 160, 64, "numpy_thwc", 0),
    ("portrait_crop64", 3, 160, 96, 64, "torch_tchw", 1),
    ("square_crop32", 2, 80, 80, 32, "numpy_thwc", 2),
    ("upscale_crop64", 2, 40, 50, 64, "numpy_thwc", 3),
    ("float_crop64", 2, 90, 120, 64, "torch_float_tchw", 4),
    ("batch_crop48", 2, 64, 96, 48, "numpy_batch", 5),
    ("landscape_crop256", 2, 360, 480, 256, "numpy_thwc", 6),
]
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def make_input(kind: str, t: int, h: int, w: int, seed: int):
    """The processor input for a case (shared with the test through this recipe)."""
    import torch

    if kind == "numpy_batch":
        return np.stack([parity_pattern_frames(t, h, w, seed), parity_pattern_frames(t, h, w, seed + 100)])
    frames = parity_pattern_frames(t, h, w, seed)
    if kind == "numpy_thwc":
        return frames
    if kind == "torch_tchw":
        return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()
    if kind == "torch_float_tchw":
        return torch.from_numpy(frames).permute(0, 3, 1, 2).to(torch.float32).contiguous() + 0.25
    raise ValueError(kind)


def digest(x) -> str:
    arr = x.numpy() if hasattr(x, "numpy") else np.asarray(x)
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "video", "data", "processor_reference.npz"))
    args = parser.parse_args()

    import torch
    import torchvision
    import transformers
    from transformers import VJEPA2VideoProcessor

    store: dict[str, np.ndarray] = {}
    meta = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "transformers": transformers.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cases": [],
    }
    for name, t, h, w, crop, kind, seed in CASES:
        proc = VJEPA2VideoProcessor(crop_size=crop)
        video = make_input(kind, t, h, w, seed)
        out = proc(video, return_tensors="pt")["pixel_values_videos"].numpy().astype(np.float32)
        store[f"{name}.input_sha256"] = np.array(digest(video))
        if crop >= 128:
            # Exact uint8 frames behind the normalised output, plus a float32 subset.
            u8 = np.rint(out * (STD * 255)[None, None, :, None, None] + (MEAN * 255)[None, None, :, None, None])
            assert np.abs(u8 - np.clip(u8, 0, 255)).max() == 0
            u8 = u8.astype(np.uint8)
            mean_t = torch.tensor(MEAN.tolist()) * (1.0 / (1 / 255))
            std_t = torch.tensor(STD.tolist()) * (1.0 / (1 / 255))
            back = ((torch.from_numpy(u8).float() - mean_t.view(-1, 1, 1)) / std_t.view(-1, 1, 1)).numpy()
            assert np.abs(back - out).max() < 1e-5, np.abs(back - out).max()
            store[f"{name}.uint8"] = u8
            store[f"{name}.subset"] = out[..., ::8, ::8]
        else:
            store[f"{name}.output"] = out
        meta["cases"].append(
            dict(name=name, frames=t, height=h, width=w, crop=crop, kind=kind, seed=seed, shape=list(out.shape))
        )
        print(f"{name}: input {tuple(video.shape)} {kind} -> {tuple(out.shape)}")
    store["meta_json"] = np.array(json.dumps(meta))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    np.savez_compressed(args.out, **store)
    versions = json.dumps({k: v for k, v in meta.items() if k != "cases"})
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB); {versions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
