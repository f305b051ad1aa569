"""transformers' common model tests on the V-JEPA 2-AC predictor (`VJEPA2ACPredictor`) and the world model
(`VJEPA2WorldModel`: frozen encoder + predictor)."""

from __future__ import annotations

import unittest

import torch

from vjepa2_hf.world_model import VJEPA2ACConfig, VJEPA2ACPredictor, VJEPA2WorldModel, VJEPA2WorldModelConfig

from .base import VideoModelTesterMixin, common, tiny_vjepa2_config
from .deviations import DEVIATIONS, GRADIENT_CHECKPOINTING, skip_deviations

FRAMES, IMAGE, ACTIONS = 3, 16, 7


def tiny_ac_config(**overrides) -> VJEPA2ACConfig:
    """Width 32, 2 blocks on the tiny encoder's 16x16 frames (2 x 2 = 4 tokens a frame, 2 conditioning tokens)."""
    settings = dict(hidden_size=32, pred_hidden_size=32, pred_num_hidden_layers=2, pred_num_attention_heads=4,
                    pred_mlp_ratio=2.0, action_dim=ACTIONS, state_dim=ACTIONS, crop_size=IMAGE, patch_size=8,
                    frames_per_clip=2 * FRAMES)
    return VJEPA2ACConfig(**{**settings, **overrides})


class VJEPA2ACPredictorTester:
    def __init__(self, parent, batch_size=2):
        self.parent, self.batch_size = parent, batch_size
        self.is_training = True
        self.hidden_size, self.num_hidden_layers, self.num_attention_heads = 32, 2, 4
        self.seq_length = FRAMES * (2 + 4)  # conditioning + frame tokens per frame

    def prepare_config_and_inputs_for_common(self):
        inputs = {
            "encoder_hidden_states": common.floats_tensor([self.batch_size, FRAMES * 4, 32]),
            "actions": common.floats_tensor([self.batch_size, FRAMES, ACTIONS]),
            "states": common.floats_tensor([self.batch_size, FRAMES, ACTIONS]),
        }
        return tiny_ac_config(), inputs


@skip_deviations({name: DEVIATIONS["base-model-not-in-model-mapping"] for name in ("test_training",
                                                                                   *GRADIENT_CHECKPOINTING)})
class VJEPA2ACPredictorCommonTest(VideoModelTesterMixin, unittest.TestCase):
    all_model_classes = (VJEPA2ACPredictor,)
    additional_model_inputs = ["actions", "states"]

    def setUp(self):
        self.model_tester = VJEPA2ACPredictorTester(self)


class VJEPA2WorldModelTester(VJEPA2ACPredictorTester):
    def prepare_config_and_inputs_for_common(self):
        config = VJEPA2WorldModelConfig(
            encoder_config=tiny_vjepa2_config(num_frames=2, image_size=IMAGE), predictor_config=tiny_ac_config(),
        )
        inputs = {
            "actions": common.floats_tensor([self.batch_size, FRAMES - 1, ACTIONS]),
            "states": common.floats_tensor([self.batch_size, FRAMES, ACTIONS]),
            "pixel_values": common.floats_tensor([self.batch_size, FRAMES, 3, IMAGE, IMAGE]),
        }
        return config, inputs


@skip_deviations({
    **{name: DEVIATIONS["world-model-training-output"] for name in (
        "test_hidden_states_output", "test_retain_grad_hidden_states_attentions", "test_model_outputs_equivalence")},
    "test_bc_torch_dtype": DEVIATIONS["world-model-auto-dtype"],
})
class VJEPA2WorldModelCommonTest(VideoModelTesterMixin, unittest.TestCase):
    all_model_classes = (VJEPA2WorldModel,)
    has_attentions = False
    _is_composite = True

    def setUp(self):
        self.model_tester = VJEPA2WorldModelTester(self)
