"""Did pretraining learn anything? Frozen-feature attentive probes, pretrained vs randomly initialised encoder.

`compare_with_random_encoder` encodes labelled synthetic motion clips (train and held-out sets rendered from disjoint
seeds) with the pretrained encoder and with a freshly initialised encoder of the same shape, fits the attentive probe
of `vjepa2_hf.probe` on each, and reports both held-out accuracies. On the moving-shapes "direction" task (8 classes)
a single frame carries no label information, so accuracy above chance needs features that encode motion. Random
encoders are a strong baseline here: the tubelet embedding spans two frames, so random projections already carry the
local displacement. The probe needs enough clips (thousands) for the comparison to be stable; with a few hundred,
the accuracy of every encoder swings by tens of points with the draw of the probe clips.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from ..pretraining.data import SyntheticMotionClips

__all__ = ["ProbeComparison", "encode_clips", "compare_with_random_encoder"]


@dataclass
class ProbeComparison:
    """Held-out attentive-probe accuracies of a pretrained and a random encoder (same shape, same probe recipe)."""

    pretrained_accuracy: float
    random_accuracy: float
    chance: float
    num_train: int
    num_eval: int
    task: str
    random_accuracies: tuple[float, ...] = ()
    random_seeds: tuple[int, ...] = ()

    def __str__(self) -> str:
        each = ", ".join(f"seed {s}: {a:.3f}" for s, a in zip(self.random_seeds, self.random_accuracies))
        return (
            f"attentive probe on held-out '{self.task}' clips ({self.num_train} train / {self.num_eval} eval): "
            f"pretrained {self.pretrained_accuracy:.3f}, random init {self.random_accuracy:.3f} (mean; {each}), "
            f"chance {self.chance:.3f}"
        )


@torch.no_grad()
def encode_clips(encoder: nn.Module, dataset: SyntheticMotionClips, batch_size: int = 32) -> torch.Tensor:
    """Final-layer token features ``(len(dataset), num_tokens, hidden_size)`` of every clip (encoder in eval mode).

    ``encoder`` is a `VJEPA2Encoder` / `VJEPA2VisionModel` (anything returning ``.last_hidden_state`` for a
    ``(B, T, C, H, W)`` batch).
    """
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    out = []
    for start in range(0, len(dataset), batch_size):
        clips = torch.stack([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        out.append(encoder(clips.to(device)).last_hidden_state.float().cpu())
    encoder.train(was_training)
    return torch.cat(out)


def compare_with_random_encoder(
    encoder: nn.Module,
    config,
    *,
    num_train: int = 256,
    num_eval: int = 256,
    num_frames: int = 8,
    size: int = 64,
    task: str = "direction",
    data_seed: int = 10_000,
    random_seeds: tuple[int, ...] = (0,),
    probe_epochs: int = 30,
    probe_heads: int = 4,
    probe_layers: int = 1,
    learning_rate: float = 1e-3,
    progress: bool = False,
) -> ProbeComparison:
    """Held-out probe accuracy of ``encoder`` vs a randomly initialised encoder of the same ``config``.

    Args:
        encoder: the pretrained `VJEPA2Encoder` (e.g. ``VJEPA2ForPretraining.encoder`` or ``VJEPA2Model.encoder``).
        config: its `VJEPA2Config` (the random encoders use the official initialisation).
        num_train, num_eval: labelled clips for the probe; train clips use seed ``data_seed``, held-out clips
            ``data_seed + 1`` (both disjoint from the pretraining clips when ``data_seed`` differs from theirs).
        num_frames, size, task: clip geometry and label family (`vjepa2_hf.video.synthetic`).
        random_seeds: the random encoders to compare with (official init drawn with each seed); the reported random
            accuracy is their mean. Seed ``run.seed`` of the pretraining run is the pretrained encoder's own
            starting point.
        probe_epochs, probe_heads, probe_layers, learning_rate: the probe recipe (identical for every encoder).
    """
    from ..probe.attentive_pooler import train_attentive_probe
    from ..pretraining.modeling_pretraining import VJEPA2ForPretraining

    train_set = SyntheticMotionClips(num_train, num_frames, size, seed=data_seed, task=task)
    eval_set = SyntheticMotionClips(num_eval, num_frames, size, seed=data_seed + 1, task=task)
    train_labels = torch.tensor(train_set.labels)
    eval_labels = torch.tensor(eval_set.labels)
    if not random_seeds:
        raise ValueError("`random_seeds` must name at least one seed")
    device = next(encoder.parameters()).device  # the random encoders and the probes run where the encoder is
    encoders = [("pretrained", encoder)]
    for seed in random_seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoders.append((f"random seed {seed}", VJEPA2ForPretraining(copy.deepcopy(config)).encoder.to(device)))
    accuracies = []
    for name, model in encoders:
        train_x = encode_clips(model, train_set)
        eval_x = encode_clips(model, eval_set)
        result = train_attentive_probe(
            train_x,
            train_labels,
            eval_x,
            eval_labels,
            epochs=probe_epochs,
            num_attention_heads=probe_heads,
            num_self_attention_layers=probe_layers,
            learning_rate=learning_rate,
            seed=0,
            device=device,
            progress=progress,
            description=f"probe ({name})",
        )
        accuracies.append(result.final_eval_accuracy)
    num_classes = int(max(train_set.labels + eval_set.labels)) + 1
    return ProbeComparison(
        pretrained_accuracy=accuracies[0],
        random_accuracy=sum(accuracies[1:]) / len(accuracies[1:]),
        random_accuracies=tuple(accuracies[1:]),
        random_seeds=tuple(random_seeds),
        chance=1.0 / num_classes,
        num_train=num_train,
        num_eval=num_eval,
        task=task,
    )
