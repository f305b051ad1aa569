"""Shared pieces of the model testers: the tiny V-JEPA 2 config and the video-model base class."""

from __future__ import annotations

from torch import nn

from vjepa2_hf import VJEPA2Config

from .deviations import common_module

common = common_module()


def tiny_vjepa2_config(num_frames: int = 4, image_size: int = 16, **overrides) -> VJEPA2Config:
    """Hidden 32, 2 blocks, 4 heads; a 4-frame 16x16 clip is 2 x 2 x 2 = 8 tokens."""
    settings = dict(
        patch_size=8, crop_size=image_size, frames_per_clip=num_frames, tubelet_size=2, hidden_size=32,
        num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2.0, pred_hidden_size=32, pred_num_hidden_layers=2,
        pred_num_attention_heads=4, pred_num_mask_tokens=2, num_pooler_layers=1,
    )
    return VJEPA2Config(**{**settings, **overrides})


class VideoModelTesterMixin(common.ModelTesterMixin):
    """`ModelTesterMixin` for models whose input embedding is a patch projection, not a token table: transformers'
    own vision testers (ViT, VideoMAE, VJEPA2) replace `test_model_get_set_embeddings` the same way."""

    test_resize_embeddings = False

    def test_model_get_set_embeddings(self):
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            model = model_class(config)
            self.assertIsInstance(model.get_input_embeddings(), nn.Module)
            output = model.get_output_embeddings()
            self.assertTrue(output is None or isinstance(output, nn.Linear))
