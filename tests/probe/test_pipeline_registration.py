"""`import vjepa2_hf` leaves transformers' own models' `pipeline("video-classification", ...)` unchanged (issue 16).

Each 'without' case runs in a fresh interpreter that never imports `vjepa2_hf`; the 'with' case imports it first. For
a tiny random `VideoMAEForVideoClassification` the whole stock pipeline runs here (it decodes mp4 files with PyAV
when the model has an image processor): class, processor and scores must be identical. transformers'
`VJEPA2ForVideoClassification` has no usable processor on this machine (transformers' `VJEPA2VideoProcessor` needs
torchvision), so the comparison is the class `pipeline()` builds, or the error it raises, and, with a processor passed
explicitly, the forward and postprocess on the same tensors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import transformers
from transformers import pipeline

from vjepa2_hf.probe import VJEPA2ForVideoClassification, VJEPA2VideoClassificationPipeline
from vjepa2_hf.video.encoding import write_video

from .conftest import tiny_config

PROBE = r"""
import json, sys
import numpy as np, torch
if sys.argv[1] == "with":
    import vjepa2_hf  # noqa: F401
from transformers import pipeline
videomae, vjepa2, video = sys.argv[2:5]
out = {"imported": "vjepa2_hf" in sys.modules}
p = pipeline("video-classification", model=videomae)
out["videomae"] = {
    "class": f"{type(p).__module__}.{type(p).__qualname__}",
    "processors": [type(getattr(p, n, None)).__name__ for n in ("image_processor", "video_processor")],
    "result": p(video, top_k=3),
    "result_step_2": p(video, frame_sampling_rate=2, top_k=3),
}
try:
    p = pipeline("video-classification", model=vjepa2)
    out["vjepa2"] = {"class": f"{type(p).__module__}.{type(p).__qualname__}"}
except Exception as error:
    out["vjepa2"] = {"error": f"{type(error).__name__}: {error}"}
from transformers import VJEPA2ForVideoClassification, VideoMAEImageProcessorPil
model = VJEPA2ForVideoClassification.from_pretrained(vjepa2).eval()
p = pipeline("video-classification", model=model, image_processor=VideoMAEImageProcessorPil(
    size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}))
out["vjepa2_given_processor"] = {"class": f"{type(p).__module__}.{type(p).__qualname__}"}
pixels = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 8, 3, 64, 64)).astype("float32"))
with torch.no_grad():
    outputs = p._forward({"pixel_values_videos": pixels})
out["vjepa2_given_processor"]["logits"] = outputs.logits.tolist()
out["vjepa2_given_processor"]["postprocess"] = p.postprocess(outputs, top_k=3)
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def stock_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("stock")
    torch.manual_seed(0)
    config = transformers.VideoMAEConfig(
        image_size=32, patch_size=16, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=37, num_labels=3,
    )
    transformers.VideoMAEForVideoClassification(config).save_pretrained(root / "videomae")
    transformers.VideoMAEImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(root / "videomae")
    config = transformers.VJEPA2Config(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, patch_size=8, crop_size=64, frames_per_clip=8,
        pred_hidden_size=32, pred_num_hidden_layers=1, pred_num_attention_heads=4, pred_num_mask_tokens=2, num_labels=8,
    )
    transformers.VJEPA2ForVideoClassification(config).save_pretrained(root / "vjepa2")
    frames = np.random.default_rng(1).integers(0, 255, (12, 40, 48, 3), dtype=np.uint8)
    write_video(root / "clip.mp4", frames, fps=8)
    return root


def _probe(mode: str, root) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-c", PROBE, mode, str(root / "videomae"), str(root / "vjepa2"), str(root / "clip.mp4")]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


def test_importing_the_package_changes_nothing_for_transformers_models(stock_models):
    without, with_import = _probe("without", stock_models), _probe("with", stock_models)
    assert without.pop("imported") is False and with_import.pop("imported") is True
    stock = "transformers.pipelines.video_classification.VideoClassificationPipeline"
    assert without["videomae"]["class"] == with_import["videomae"]["class"] == stock
    assert without["vjepa2_given_processor"]["class"] == with_import["vjepa2_given_processor"]["class"] == stock
    assert len(without["videomae"]["result"]) == 3
    # identical scores (the same code ran), processors, and for transformers' V-JEPA 2 the same error (no processor
    # without torchvision) or the same class
    assert with_import == without


def test_the_task_builds_the_stock_class_for_model_objects(stock_models):
    model = transformers.VideoMAEForVideoClassification.from_pretrained(stock_models / "videomae")
    image_processor = transformers.VideoMAEImageProcessorPil.from_pretrained(stock_models / "videomae")
    chosen = pipeline("video-classification", model=model, image_processor=image_processor)
    assert type(chosen) is transformers.VideoClassificationPipeline
    model = transformers.VJEPA2ForVideoClassification.from_pretrained(stock_models / "vjepa2")
    image_processor = transformers.VideoMAEImageProcessorPil(crop_size={"height": 64, "width": 64})
    chosen = pipeline("video-classification", model=model, image_processor=image_processor)
    assert type(chosen) is transformers.VideoClassificationPipeline


def test_our_model_type_gets_our_pipeline(tmp_path):
    VJEPA2ForVideoClassification(tiny_config(num_labels=3)).save_pretrained(tmp_path)
    assert type(pipeline("video-classification", model=str(tmp_path))) is VJEPA2VideoClassificationPipeline
    model = VJEPA2ForVideoClassification.from_pretrained(tmp_path)
    assert type(pipeline("video-classification", model=model)) is VJEPA2VideoClassificationPipeline


def test_the_old_explicit_registration_is_a_deprecated_no_op():
    from transformers.pipelines import PIPELINE_REGISTRY

    from vjepa2_hf.probe import register_probe_classes
    from vjepa2_hf.probe.pipeline_video_classification import register_video_classification_pipeline

    for register in (register_probe_classes, register_video_classification_pipeline):
        with pytest.warns(FutureWarning, match="deprecated"):
            register()
        impl = PIPELINE_REGISTRY.supported_tasks["video-classification"]["impl"]
        assert impl.__name__ == "VideoClassificationTaskPipeline"
