"""transformers' common model tests on `VJEPA2VLMForConditionalGeneration` (tiny V-JEPA 2 encoder + tiny Llama).

`GenerationTesterMixin` is not in transformers' source distribution (`tests/generation/` is left out), so the
generation mixin's tests cannot run from the installed release; as transformers allows for a model whose generation
is tested elsewhere, the tester sets `all_generative_model_classes = ()`, and generation is checked below and in
tests/vlm (greedy decoding against a step-by-step argmax, with and without the KV cache).
"""

from __future__ import annotations

import unittest

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling

from vjepa2_hf.vlm import VJEPA2VLMForConditionalGeneration
from vjepa2_hf.vlm.tiny import build_word_tokenizer, tiny_vlm_config

from .base import VideoModelTesterMixin, common
from .deviations import DEVIATIONS, skip_deviations

FRAMES, IMAGE = 4, 16


class VJEPA2VLMTester:
    def __init__(self, parent, batch_size=2, text_length=6):
        self.parent, self.batch_size = parent, batch_size
        self.tokenizer = build_word_tokenizer()
        self.is_training = True
        self.hidden_size, self.num_hidden_layers, self.num_attention_heads = 32, 2, 4
        self.config = self.get_config()
        self.num_video_tokens = self.config.num_video_tokens(FRAMES, IMAGE, IMAGE)
        self.num_image_tokens = self.config.num_video_tokens(2, IMAGE, IMAGE)  # an image is one static tubelet
        self.seq_length = 1 + self.num_video_tokens + self.num_image_tokens + text_length
        self.text_length = text_length

    def get_config(self):
        return tiny_vlm_config(
            self.tokenizer, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=128, num_frames=FRAMES, freeze_vision_tower=False,
            vision_overrides=dict(crop_size=IMAGE, hidden_size=32, num_attention_heads=4, mlp_ratio=2.0),
        )

    def prepare_config_and_inputs_for_common(self):
        config = self.get_config()
        words = common.ids_tensor([self.batch_size, self.text_length], 40) + 20  # plain words, no special token
        video = torch.full((self.batch_size, self.num_video_tokens), config.video_token_id)
        image = torch.full((self.batch_size, self.num_image_tokens), config.image_token_id)
        bos = torch.full((self.batch_size, 1), self.tokenizer.bos_token_id)
        input_ids = torch.cat([bos, video, image, words], dim=1)
        inputs = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "pixel_values_videos": common.floats_tensor([self.batch_size, FRAMES, 3, IMAGE, IMAGE]),
            "pixel_values": common.floats_tensor([self.batch_size, 3, IMAGE, IMAGE]),
        }
        return config, inputs


@skip_deviations({f"test_eager_matches_sdpa_inference_{i:02d}_{dtype}_pad_{side}{mask}{kernels}":
                  DEVIATIONS["vlm-placeholders-need-pixels"]
                  for i, (dtype, side, mask, kernels) in enumerate(
                      (d, p, m, k) for d in ("fp16", "fp32", "bf16") for p in ("left", "right")
                      for m in ("", "_no_attn_mask") for k in ("_sdpa_kernels", ""))})
class VJEPA2VLMForConditionalGenerationCommonTest(VideoModelTesterMixin, unittest.TestCase):
    all_model_classes = (VJEPA2VLMForConditionalGeneration,)
    all_generative_model_classes = ()  # GenerationTesterMixin is not in the sdist (module docstring)
    additional_model_inputs = ["pixel_values_videos", "pixel_values"]
    _is_composite = True

    def setUp(self):
        self.model_tester = VJEPA2VLMTester(self)

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs_dict = super()._prepare_for_class(inputs_dict, model_class, return_labels)
        if return_labels:
            inputs_dict["labels"] = inputs_dict["input_ids"].clone()
        return inputs_dict

    def test_get_video_features_contract(self):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        model = VJEPA2VLMForConditionalGeneration(config).eval()
        with torch.no_grad():
            features = model.get_video_features(inputs["pixel_values_videos"])
            logits = model(**inputs).logits
            from_features = model(**{k: v for k, v in inputs.items() if k != "pixel_values_videos"},
                                  video_features=features.pooler_output).logits
        assert isinstance(features, BaseModelOutputWithPooling)
        assert features.pooler_output.shape == (2, self.model_tester.num_video_tokens, 32)
        assert features.last_hidden_state.shape == (2, (FRAMES // 2) * (IMAGE // 8) ** 2, 32)
        assert torch.equal(from_features, logits)

    def test_greedy_generate_matches_stepwise_argmax(self):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        torch.manual_seed(0)
        model = VJEPA2VLMForConditionalGeneration(config).eval()
        placeholders = [config.video_token_id, config.image_token_id]
        with torch.no_grad():
            generated = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False,
                                       suppress_tokens=placeholders)
            ids = inputs["input_ids"]
            for _ in range(4):  # no cache: the whole sequence, pixels included, at every step
                pixels = {k: v for k, v in inputs.items() if k.startswith("pixel")}
                logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **pixels).logits[:, -1]
                logits[:, placeholders] = float("-inf")
                ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
        assert torch.equal(generated, ids)
