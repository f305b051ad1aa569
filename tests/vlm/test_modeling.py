"""VJEPA2VLMForConditionalGeneration: feature merging, loss, generation with the KV cache, bad inputs, images,
saving / loading, and loading an LLM in bf16 without an fp32 copy."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2VisionModel
from vjepa2_hf.vlm import VJEPA2VLMForConditionalGeneration

from .conftest import make_tiny, mc_conversation


@pytest.mark.parametrize("projector_type", ["mlp", "avgpool_mlp", "merge_mlp", "attentive_pool"])
def test_forward_loss_and_feature_scatter(tokenizer, video, projector_type):
    model, proc = make_tiny(tokenizer, projector_type=projector_type)
    batch = proc.apply_chat_template(
        [mc_conversation(video)] * 2, tokenize=True, return_labels=True, padding_side="right"
    )
    out = model(**batch)
    n = model.config.num_video_tokens(4)
    assert out.video_hidden_states.shape == (2, n, model.config.text_config.hidden_size)
    assert int((batch["input_ids"] == model.config.video_token_id).sum()) == 2 * n
    assert torch.isfinite(out.loss) and out.loss.item() > 0
    # the placeholder embeddings were replaced by exactly the projected features, in order
    embeds = model.get_input_embeddings()(batch["input_ids"])
    merged = model._scatter(batch["input_ids"], embeds, out.video_hidden_states, model.config.video_token_id, "video")
    mask = batch["input_ids"] == model.config.video_token_id
    assert torch.equal(merged[mask].view(2, n, -1), out.video_hidden_states)
    assert torch.equal(merged[~mask], embeds[~mask])


def test_loss_only_on_answer_tokens(tokenizer, video):
    """The loss equals the cross-entropy of the answer tokens computed by hand."""
    model, proc = make_tiny(tokenizer)
    batch = proc.apply_chat_template([mc_conversation(video)], tokenize=True, return_labels=True)
    out = model(**batch)
    logits, labels = out.logits[0, :-1], batch["labels"][0, 1:]
    keep = labels != -100
    manual = torch.nn.functional.cross_entropy(logits[keep], labels[keep])
    assert keep.sum() == 2  # "B" and the end-of-turn token
    assert torch.allclose(out.loss, manual, atol=1e-6)


def test_frozen_encoder_gets_no_gradients(tokenizer, video):
    model, proc = make_tiny(tokenizer)
    model.train()
    assert not model.vision_tower.training  # frozen tower stays in eval mode
    batch = proc.apply_chat_template([mc_conversation(video)], tokenize=True, return_labels=True)
    model(**batch).loss.backward()
    assert all(p.grad is None for p in model.vision_tower.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.multi_modal_projector.parameters())
    model.zero_grad()
    model.set_vision_tower_trainable(True)
    model.train()
    model(**batch).loss.backward()
    assert model.vision_tower.training
    grads = [p.grad for p in model.vision_tower.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_generate_uses_pixels_only_at_prefill(tokenizer, video):
    model, proc = make_tiny(tokenizer)
    batch = proc.apply_chat_template(
        [mc_conversation(video, None)] * 2, add_generation_prompt=True, tokenize=True, padding_side="left"
    )
    calls = []
    original = model.get_video_features

    def counting(pixel_values_videos):
        calls.append(pixel_values_videos.shape)
        return original(pixel_values_videos)

    model.get_video_features = counting
    try:
        cached = model.generate(**batch, max_new_tokens=5, do_sample=False, min_new_tokens=5)
        assert len(calls) == 1  # prefill only; the 4 decoding steps read the KV cache
        uncached = model.generate(**batch, max_new_tokens=5, do_sample=False, min_new_tokens=5, use_cache=False)
        assert len(calls) == 1 + 5  # without a cache every step re-encodes
    finally:
        del model.get_video_features
    assert torch.equal(cached, uncached)  # the cache changes speed, not the answer


def test_video_features_input_equals_pixels(tokenizer, video):
    model, proc = make_tiny(tokenizer)
    batch = proc.apply_chat_template([mc_conversation(video)], tokenize=True)
    ref = model(**batch).logits
    feats = model.get_video_features(batch["pixel_values_videos"]).pooler_output
    inputs = {k: v for k, v in batch.items() if k != "pixel_values_videos"}
    assert torch.equal(model(**inputs, video_features=feats).logits, ref)
    with pytest.raises(ValueError, match="either"):
        model(**batch, video_features=feats)


def test_count_mismatch_and_missing_placeholder_errors(tokenizer, video):
    model, proc = make_tiny(tokenizer)
    batch = proc.apply_chat_template([mc_conversation(video)], tokenize=True)
    ids = batch["input_ids"]
    vid = model.config.video_token_id
    # one placeholder too few
    first = int((ids[0] == vid).nonzero()[0])
    short = torch.cat([ids[:, :first], ids[:, first + 1 :]], 1)
    with pytest.raises(ValueError, match=r"has 31 `video` placeholder tokens .* give 32 features"):
        model(input_ids=short, pixel_values_videos=batch["pixel_values_videos"])
    # no placeholder at all, with a video
    text_only = ids[ids != vid].unsqueeze(0)
    with pytest.raises(ValueError, match="has 0 `video` placeholder tokens.*no placeholder"):
        model(input_ids=text_only, pixel_values_videos=batch["pixel_values_videos"])
    # placeholders without a video
    with pytest.raises(ValueError, match="no `pixel_values_videos`"):
        model(input_ids=ids)


def test_bad_pixel_shapes(tokenizer, video):
    model, proc = make_tiny(tokenizer)
    batch = proc.apply_chat_template([mc_conversation(video)], tokenize=True)
    ids, px = batch["input_ids"], batch["pixel_values_videos"]
    with pytest.raises(ValueError, match=r"\[batch, frames, 3, height, width\], got \(4, 3, 32, 32\)"):
        model(input_ids=ids, pixel_values_videos=px[0])
    with pytest.raises(ValueError, match="3 channels"):
        model(input_ids=ids, pixel_values_videos=px.permute(0, 2, 1, 3, 4))
    with pytest.raises(ValueError, match="multiple of the tubelet size"):
        model(input_ids=ids, pixel_values_videos=px[:, :3])
    with pytest.raises(ValueError, match="multiples of the patch size"):
        model(input_ids=ids, pixel_values_videos=px[..., :30, :30])


def test_context_length_error(tokenizer, video):
    model, proc = make_tiny(tokenizer, max_position_embeddings=48)
    with pytest.raises(ValueError, match="context length 48"):
        proc.apply_chat_template([mc_conversation(video)], tokenize=True)
    proc.context_length = None  # the model checks too
    batch = proc.apply_chat_template([mc_conversation(video)], tokenize=True)
    with pytest.raises(ValueError, match=r"more than the language model's context length 48"):
        model(**batch)


def test_frames_per_clip_chunks_and_feature_layers(tokenizer, video):
    model, proc = make_tiny(tokenizer, num_frames=8, frames_per_clip=4, vision_feature_layer=[0, -1])
    px = proc(text="<video>", videos=video)["pixel_values_videos"]
    assert px.shape == (1, 8, 3, 32, 32)
    feats = model._encode(px)[0]
    # two chunks of 4 frames, each encoded alone; two layers concatenated along channels
    first = model.vision_tower(px[:, :4], output_layers=[0, 1]).intermediate_hidden_states
    assert feats.shape == (1, 4 * 16, 2 * 64)
    assert torch.allclose(feats[:, :32], torch.cat(list(first), -1), atol=1e-6)
    assert model.get_video_features(px).pooler_output.shape == (1, 64, 64)


@pytest.mark.parametrize("image_mode,views", [("repeat", 1), ("tiles", 1 + 2)])
def test_image_inputs(tokenizer, image_mode, views):
    model, proc = make_tiny(tokenizer, image_mode=image_mode, max_image_tiles=2)
    import numpy as np

    image = np.random.default_rng(1).integers(0, 256, (40, 90, 3), dtype=np.uint8)  # wide: 1 x 2 tiles
    conv = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "What is it?"}]}]
    batch = proc.apply_chat_template(conv, add_generation_prompt=True, tokenize=True)
    assert batch["pixel_values"].shape == (views, 3, 32, 32)
    assert int((batch["input_ids"] == model.config.image_token_id).sum()) == views * 16
    out = model(**batch)
    assert out.image_hidden_states.shape == (views, 16, 64)
    # an image is a static tubelet: same features as the frame repeated as a 2-frame video
    clip = batch["pixel_values"][:1].unsqueeze(1).repeat(1, 2, 1, 1, 1)
    assert torch.allclose(model.get_image_features(batch["pixel_values"][:1]).pooler_output,
                          model.get_video_features(clip).pooler_output)


def test_save_load_round_trip_with_auto_class(tmp_path, tiny, video):
    model, proc = tiny
    model.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path)
    assert isinstance(loaded, VJEPA2VLMForConditionalGeneration)
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    batch = proc.apply_chat_template([mc_conversation(video)], tokenize=True)
    assert torch.equal(model(**batch).logits, loaded.eval()(**batch).logits)


def test_assemble_from_parts_in_bf16(tmp_path, tokenizer, video):
    """`from_vision_text_pretrained` loads the encoder and the LLM straight in bf16, keeps their weights, adds the
    placeholders to the tokenizer, and makes no fp32 copy of the LLM (every loaded tensor is created as bf16)."""
    reference, _ = make_tiny(tokenizer)
    reference.vision_tower.save_pretrained(tmp_path / "encoder")
    reference.language_model.save_pretrained(tmp_path / "llm")
    from vjepa2_hf.vlm.tiny import build_word_tokenizer

    tok = build_word_tokenizer()
    created = []
    original_empty = torch.empty

    def spy(*args, **kwargs):
        t = original_empty(*args, **kwargs)
        if t.numel() >= 64 * 64:
            created.append(t.dtype)
        return t

    torch.empty = spy
    try:
        model = VJEPA2VLMForConditionalGeneration.from_vision_text_pretrained(
            tmp_path / "encoder", tmp_path / "llm", tok, dtype=torch.bfloat16, num_frames=4
        )
    finally:
        torch.empty = original_empty
    assert torch.float32 not in created
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.config.video_token_id == tok.convert_tokens_to_ids("<video>")
    lm_ref = reference.language_model.state_dict()
    for k, v in model.language_model.state_dict().items():
        assert torch.equal(v, lm_ref[k].to(torch.bfloat16)), k
    assert isinstance(model.vision_tower, VJEPA2VisionModel)
    enc_ref = reference.vision_tower.state_dict()
    for k, v in model.vision_tower.state_dict().items():  # not re-initialised by the VLM's post_init
        assert torch.equal(v, enc_ref[k].to(torch.bfloat16)), k
    # and it runs in bf16
    from vjepa2_hf.vlm import VJEPA2VLMProcessor

    proc = VJEPA2VLMProcessor.from_model_config(model.config, tok)
    batch = proc.apply_chat_template([mc_conversation(video)], tokenize=True, return_labels=True)
    batch["pixel_values_videos"] = batch["pixel_values_videos"].to(torch.bfloat16)
    assert torch.isfinite(model(**batch).loss)


def test_bf16_causal_lm_load_has_no_fp32_parameters(tmp_path, tiny):
    model, _ = tiny
    model.language_model.save_pretrained(tmp_path)
    lm = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert {p.dtype for p in lm.parameters()} == {torch.bfloat16}


def test_qwen2_with_tied_embeddings(tmp_path, tokenizer, video):
    """Any causal LM: a tiny Qwen2 whose head is tied to its embeddings trains, generates, saves and reloads."""
    from vjepa2_hf.vlm.tiny import tiny_vlm_config

    config = tiny_vlm_config(tokenizer, text_model_type="qwen2", vision_overrides={"crop_size": 32})
    config.text_config.tie_word_embeddings = True
    config.tie_word_embeddings = True
    torch.manual_seed(0)
    model = VJEPA2VLMForConditionalGeneration(config).eval()
    assert model.language_model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    from vjepa2_hf.vlm import VJEPA2VLMProcessor

    proc = VJEPA2VLMProcessor.from_model_config(config, tokenizer)
    batch = proc.apply_chat_template([mc_conversation(video)], tokenize=True, return_labels=True)
    assert torch.isfinite(model(**batch).loss)
    prompt = proc.apply_chat_template([mc_conversation(video, None)], add_generation_prompt=True, tokenize=True)
    tokens = model.generate(**prompt, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    model.save_pretrained(tmp_path)
    loaded = VJEPA2VLMForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert loaded.language_model.lm_head.weight.data_ptr() == loaded.get_input_embeddings().weight.data_ptr()
    assert torch.equal(loaded.generate(**prompt, max_new_tokens=3, min_new_tokens=3, do_sample=False), tokens)


def test_placeholder_tokens_added_and_embeddings_resized(tmp_path, tiny):
    """An LLM tokenizer without placeholders gets `<video>` / `<image>` as special tokens and the embeddings grow."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from vjepa2_hf.vlm import add_placeholder_tokens

    words = ["<pad>", "<unk>", "</s>", "the", "square", "moves", "left", "right"]
    raw = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>", pad_token="<pad>", eos_token="</s>")
    video_id, image_id = add_placeholder_tokens(tok)
    assert (video_id, image_id) == (8, 9) and tok.tokenize("the <video> square") == ["the", "<video>", "square"]
    # a tiny LLM whose vocabulary (8 rows) is smaller than the tokenizer now (10): resized to a multiple of 64
    from transformers import LlamaConfig, LlamaForCausalLM

    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=8,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
    ).save_pretrained(tmp_path / "llm")
    model, _ = tiny
    model.vision_tower.save_pretrained(tmp_path / "encoder")
    tok2 = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>", pad_token="<pad>", eos_token="</s>")
    vlm = VJEPA2VLMForConditionalGeneration.from_vision_text_pretrained(
        tmp_path / "encoder", tmp_path / "llm", tok2, dtype=torch.float32, num_frames=4
    )
    assert vlm.get_input_embeddings().weight.shape[0] == 64 and vlm.config.text_config.vocab_size == 64
    assert (vlm.config.video_token_id, vlm.config.image_token_id) == (8, 9)


def test_assemble_vlm_from_local_repos(tmp_path, tiny, video):
    """`assemble_vlm(encoder, llm)` (the Hub route, here on local folders): model, processor and tokenizer agree."""
    from vjepa2_hf.vlm import assemble_vlm
    from vjepa2_hf.vlm.tiny import build_word_tokenizer

    model, proc = tiny
    model.vision_tower.save_pretrained(tmp_path / "encoder")
    proc.frame_processor.save_pretrained(tmp_path / "encoder")
    model.language_model.save_pretrained(tmp_path / "llm")
    build_word_tokenizer().save_pretrained(tmp_path / "llm")
    vlm, processor = assemble_vlm(tmp_path / "encoder", tmp_path / "llm", dtype="float32", num_frames=4)
    assert processor.num_video_tokens() == vlm.config.num_video_tokens() == 32
    assert processor.video_token_id == vlm.config.video_token_id
    batch = processor.apply_chat_template([mc_conversation(video)], tokenize=True, return_labels=True)
    assert torch.isfinite(vlm(**batch).loss)
