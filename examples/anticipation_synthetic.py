"""Action anticipation (the EK100 protocol) on synthetic clips whose next action is known.

A shape moves one way for the first half of each clip, then turns by a rule that depends on the shape. The model sees
only the first half: the frozen encoder encodes it, the frozen predictor forecasts the next tubelet slice, and a
3-query attentive probe predicts verb (the direction after the turn), noun (the shape) and action (the pair), trained
with the sigmoid focal loss and scored with class-mean recall@5.

    python examples/anticipation_synthetic.py                       # tiny random backbone, ~1 minute on CPU
    python examples/anticipation_synthetic.py --model quickstart_out/pretrain/final
"""

from __future__ import annotations

import argparse

import torch

from vjepa2_hf import VJEPA2Config
from vjepa2_hf.probe import VJEPA2ForActionAnticipation
from vjepa2_hf.probe.anticipation_training import anticipation_data_from_synthetic, train_anticipation_probe
from vjepa2_hf.probe.run_video_classification import default_training_arguments
from vjepa2_hf.video import VJEPA2VideoProcessor
from vjepa2_hf.video.synthetic import generate_motion_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a VJEPA2Model folder (encoder + predictor); default: random tiny")
    parser.add_argument("--output_dir", default="outputs/anticipation-example")
    args = parser.parse_args()

    path = generate_motion_dataset("outputs/synthetic-anticipation", 384, num_frames=16, size=64,
                                   task="anticipation", overwrite=False)
    data = anticipation_data_from_synthetic(path)
    probe = dict(num_pooler_layers=0, pooler_num_attention_heads=4, **data.config_fields())
    if args.model is None:
        torch.manual_seed(0)
        model = VJEPA2ForActionAnticipation(VJEPA2Config.from_preset("tiny", **probe))
    else:
        config = VJEPA2Config.from_pretrained(args.model)
        for key, value in probe.items():
            setattr(config, key, value)
        model = VJEPA2ForActionAnticipation.from_pretrained(args.model, config=config)
    training_args = default_training_arguments(args.output_dir, num_train_epochs=60, learning_rate=1e-2)
    metrics, _ = train_anticipation_probe(model, data, VJEPA2VideoProcessor(crop_size=64, do_resize=False), training_args)
    for head in ("verb", "noun", "action"):
        name, recall = next((k, v) for k, v in metrics.items() if k.startswith(f"eval_{head}_class_mean_recall"))
        k = name.split("@")[-1]  # 5, or the number of classes when smaller
        print(f"{head:<7} class-mean recall@{k} {recall:.3f}   top-1 {metrics[f'eval_{head}_accuracy']:.3f}")
    model.save_pretrained(args.output_dir)


if __name__ == "__main__":
    main()
