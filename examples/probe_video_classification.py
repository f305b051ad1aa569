"""Attentive probe on a frozen V-JEPA 2 encoder with the Trainer, from Python.

    python examples/probe_video_classification.py --model facebook/vjepa2-vitl-fpc64-256 --data my_videos/
    python examples/probe_video_classification.py              # tiny random encoder on synthetic videos (CPU, ~1 min)

`my_videos/` holds one subfolder per class (`my_videos/<class>/<video>.mp4`), optionally split into `train/` and
`test/`. The same run from the command line: `vjepa2-hf probe --model ... --data ... --cache_features`, or with the
arguments in a file: `vjepa2-hf probe examples/probe_config.json`.
"""

from __future__ import annotations

import argparse

from transformers import pipeline

import vjepa2_hf  # noqa: F401 - registers the model classes and the video-classification pipeline
from vjepa2_hf.probe.run_video_classification import DataArguments, ModelArguments, default_training_arguments, run_probe
from vjepa2_hf.video.synthetic import generate_motion_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="backbone Hub repo / folder, or a preset (random init)")
    parser.add_argument("--data", default=None, help="labelled videos (default: synthetic moving shapes)")
    parser.add_argument("--output_dir", default="outputs/probe-example")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--official_probe", action="store_true", help="16 heads, eps 1e-5, 3 + 1 blocks")
    args = parser.parse_args()

    synthetic = args.data is None
    data = args.data or generate_motion_dataset("outputs/synthetic-direction", 256, num_frames=8, size=64,
                                                task="direction", overwrite=False)
    model_args = ModelArguments(
        model=args.model,
        cache_features=True,  # encode each clip once; the probe epochs read the stored features
        official_probe=args.official_probe,
        num_pooler_layers=None if args.official_probe else 0,
        probe_num_attention_heads=None if args.official_probe else 4,
    )
    data_args = DataArguments(
        data=data,
        frame_step=1 if synthetic else 4,  # synthetic clips are 8 frames; SSv2-style videos: every 4th frame
        do_resize=not synthetic,  # synthetic clips are already 64x64
    )
    training_args = default_training_arguments(args.output_dir, num_train_epochs=args.epochs, learning_rate=5e-3)
    result = run_probe(model_args, data_args, training_args)
    print(f"held-out top-1 accuracy {result.metrics['eval_accuracy']:.3f} (chance {result.metrics['chance_accuracy']:.3f})")
    print(f"model, processor and model card in {result.output_dir}")

    classifier = pipeline("video-classification", model=result.output_dir)
    from vjepa2_hf.probe.run_video_classification import load_video_splits

    _, held_out, id2label = load_video_splits(data_args)
    video = held_out[0]["video"]
    print(f"{video} (true: {id2label[held_out[0]['label']]}):", classifier(video, top_k=3))


if __name__ == "__main__":
    main()
