"""transformers' common model tests on the heads: `VJEPA2ForVideoClassification`, `VJEPA2ForActionAnticipation` and
`VJEPA2ForPretraining`."""

from __future__ import annotations

import unittest

import torch

from vjepa2_hf.pretraining import VJEPA2ForPretraining
from vjepa2_hf.probe import VJEPA2ForActionAnticipation, VJEPA2ForVideoClassification

from .base import VideoModelTesterMixin, tiny_vjepa2_config
from .deviations import DEVIATIONS, GRADIENT_CHECKPOINTING, skip_deviations
from .test_modeling_encoder import VJEPA2_1, VJEPA2ModelTester


class HeadTester(VJEPA2ModelTester):
    def __init__(self, parent, head_config: dict, **config_overrides):
        super().__init__(parent, **config_overrides)
        self.head_config = head_config

    def get_config(self):
        return tiny_vjepa2_config(self.num_frames, self.image_size, **self.config_overrides, **self.head_config)


FROZEN = {name: DEVIATIONS["frozen-backbone"] for name in (*GRADIENT_CHECKPOINTING,
                                                           "test_retain_grad_hidden_states_attentions")}


class VJEPA2ForVideoClassificationCommonTest(VideoModelTesterMixin, unittest.TestCase):
    """Fine-tuning (`freeze_backbone=False`): every common test applies."""

    all_model_classes = (VJEPA2ForVideoClassification,)

    def setUp(self):
        self.model_tester = HeadTester(self, dict(num_labels=3, freeze_backbone=False))


@skip_deviations(FROZEN)
class VJEPA2_1ForVideoClassificationCommonTest(VJEPA2ForVideoClassificationCommonTest):
    """The default frozen backbone, on a V-JEPA 2.1 config."""

    def setUp(self):
        self.model_tester = HeadTester(self, dict(num_labels=3), **VJEPA2_1)


@skip_deviations(FROZEN)
class VJEPA2ForActionAnticipationCommonTest(VideoModelTesterMixin, unittest.TestCase):
    all_model_classes = (VJEPA2ForActionAnticipation,)

    def setUp(self):
        self.model_tester = HeadTester(self, dict(num_verbs=3, num_nouns=4, num_actions=5))

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs_dict = super()._prepare_for_class(inputs_dict, model_class, return_labels)
        if return_labels:
            batch = self.model_tester.batch_size
            inputs_dict["verb_labels"] = torch.zeros(batch, dtype=torch.long)
            inputs_dict["action_labels"] = torch.ones(batch, dtype=torch.long)
        return inputs_dict


class PretrainingTester(VJEPA2ModelTester):
    def prepare_config_and_inputs_for_common(self):
        config, inputs = super().prepare_config_and_inputs_for_common()
        context = torch.arange(0, 5).repeat(self.batch_size, 1)  # 5 context and 3 target tokens of 8
        target = torch.arange(5, 8).repeat(self.batch_size, 1)
        return config, dict(inputs, context_mask=context, target_mask=target)  # one mask configuration


@skip_deviations({name: DEVIATIONS["pretraining-objective-output"] for name in (
    "test_batching_equivalence", "test_hidden_states_output", "test_retain_grad_hidden_states_attentions")})
class VJEPA2ForPretrainingCommonTest(VideoModelTesterMixin, unittest.TestCase):
    all_model_classes = (VJEPA2ForPretraining,)
    has_attentions = False

    def setUp(self):
        self.model_tester = PretrainingTester(self)
