"""transformers' common model tests on `VJEPA2Model` and `VJEPA2VisionModel`, V-JEPA 2 and 2.1 configs."""

from __future__ import annotations

import unittest

from vjepa2_hf import VJEPA2Model, VJEPA2VisionModel

from .base import VideoModelTesterMixin, common, tiny_vjepa2_config
from .deviations import DEVIATIONS, GRADIENT_CHECKPOINTING, skip_deviations

# V-JEPA 2.1: image tokenizer, modality embeddings, hierarchical outputs, interleaved interpolated RoPE
VJEPA2_1 = dict(
    hierarchical_layers=[0, 1], num_distillation_outputs=2, use_image_patch_embedder=True,
    use_modality_embeddings=True, use_rope_interleave=True, interpolate_rope=True, return_all_tokens=True,
)


class VJEPA2ModelTester:
    def __init__(self, parent, batch_size=2, num_frames=4, image_size=16, **config_overrides):
        self.parent, self.batch_size, self.num_frames, self.image_size = parent, batch_size, num_frames, image_size
        self.config_overrides = config_overrides
        self.is_training = True
        self.hidden_size, self.num_hidden_layers, self.num_attention_heads = 32, 2, 4
        self.seq_length = (num_frames // 2) * (image_size // 8) ** 2

    def get_config(self):
        return tiny_vjepa2_config(self.num_frames, self.image_size, **self.config_overrides)

    def prepare_config_and_inputs_for_common(self):
        pixels = common.floats_tensor([self.batch_size, self.num_frames, 3, self.image_size, self.image_size])
        return self.get_config(), {"pixel_values_videos": pixels}


class EncoderTests(VideoModelTesterMixin):
    config_overrides: dict = {}

    def setUp(self):
        self.model_tester = VJEPA2ModelTester(self, **self.config_overrides)


class VJEPA2ModelCommonTest(EncoderTests, unittest.TestCase):
    all_model_classes = (VJEPA2Model,)


class VJEPA2_1ModelCommonTest(EncoderTests, unittest.TestCase):
    all_model_classes = (VJEPA2Model,)
    config_overrides = VJEPA2_1


NO_LOSS = {name: DEVIATIONS["base-model-not-in-model-mapping"] for name in ("test_training", *GRADIENT_CHECKPOINTING)}


@skip_deviations(NO_LOSS)
class VJEPA2VisionModelCommonTest(EncoderTests, unittest.TestCase):
    all_model_classes = (VJEPA2VisionModel,)


@skip_deviations(NO_LOSS)
class VJEPA2_1VisionModelCommonTest(EncoderTests, unittest.TestCase):
    all_model_classes = (VJEPA2VisionModel,)
    config_overrides = VJEPA2_1
