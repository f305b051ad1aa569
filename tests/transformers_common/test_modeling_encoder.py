"""transformers' common model tests on `VJEPA2Model` and `VJEPA2VisionModel`, V-JEPA 2 and 2.1 configs."""

from __future__ import annotations

import unittest

import torch

from vjepa2_hf import VJEPA2Config, VJEPA2Model, VJEPA2VisionModel

from .deviations import common_module, skip_deviations

common = common_module()


class VJEPA2ModelTester:
    """A tiny V-JEPA 2 (hidden 32, 2 blocks, 4-frame 16x16 clips: 2x2x2 = 8 tokens)."""

    def __init__(self, parent, batch_size=2, num_frames=4, image_size=16, patch_size=8, hidden_size=32,
                 num_hidden_layers=2, num_attention_heads=4, is_training=True, **config_overrides):
        self.parent = parent
        self.batch_size, self.num_frames, self.image_size = batch_size, num_frames, image_size
        self.patch_size, self.hidden_size = patch_size, hidden_size
        self.num_hidden_layers, self.num_attention_heads = num_hidden_layers, num_attention_heads
        self.is_training = is_training
        self.config_overrides = config_overrides
        self.seq_length = (num_frames // 2) * (image_size // patch_size) ** 2

    def get_config(self) -> VJEPA2Config:
        return VJEPA2Config(
            patch_size=self.patch_size, crop_size=self.image_size, frames_per_clip=self.num_frames, tubelet_size=2,
            hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads, mlp_ratio=2.0, pred_hidden_size=32,
            pred_num_hidden_layers=2, pred_num_attention_heads=4, pred_num_mask_tokens=2, num_pooler_layers=1,
            **self.config_overrides,
        )

    def prepare_config_and_inputs(self):
        pixels = common.floats_tensor([self.batch_size, self.num_frames, 3, self.image_size, self.image_size])
        return self.get_config(), pixels

    def prepare_config_and_inputs_for_common(self):
        config, pixels = self.prepare_config_and_inputs()
        return config, {"pixel_values_videos": pixels}


class EncoderCommonTests(common.ModelTesterMixin):
    all_model_classes = (VJEPA2Model, VJEPA2VisionModel)
    test_resize_embeddings = False
    config_overrides: dict = {}

    def setUp(self):
        self.model_tester = VJEPA2ModelTester(self, **self.config_overrides)


class VJEPA2ModelCommonTest(EncoderCommonTests, unittest.TestCase):
    pass


class VJEPA2_1ModelCommonTest(EncoderCommonTests, unittest.TestCase):
    """V-JEPA 2.1: image tokenizer, modality embeddings, hierarchical outputs, interleaved interpolated RoPE."""

    config_overrides = dict(
        hierarchical_layers=[0, 1], num_distillation_outputs=2, use_image_patch_embedder=True,
        use_modality_embeddings=True, use_rope_interleave=True, interpolate_rope=True, return_all_tokens=True,
    )
