"""VJEPA2ForPretraining: the loss, the EMA target, the official init, exchanges with VJEPA2Model and official .pt."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
from vjepa2_hf.encoder.convert_vjepa2_checkpoint import internal_to_official
from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2Model
from vjepa2_hf.pretraining.configuration_pretraining import ModelArguments, load_pretraining_config
from vjepa2_hf.pretraining.initialization import build_pretraining_model
from vjepa2_hf.pretraining.masking import MultiBlockMaskCollator
from vjepa2_hf.pretraining.modeling_pretraining import VJEPA2ForPretraining
from vjepa2_hf.pretraining.optimization import build_param_groups
from vjepa2_hf.training.optimization import is_decayed


def tiny_model(seed: int = 0, **overrides) -> VJEPA2ForPretraining:
    torch.manual_seed(seed)
    return VJEPA2ForPretraining(VJEPA2Config.from_preset("tiny", **overrides))


def tiny_batch(batch_size: int = 3, frames: int = 4, size: int = 32, seed: int = 0):
    torch.manual_seed(seed)
    clips = [torch.randn(frames, 3, size, size) for _ in range(batch_size)]
    return MultiBlockMaskCollator(patch_size=8, tubelet_size=2, seed=seed)(clips)


def test_loss_is_the_official_l1_to_layer_normed_ema_targets():
    model = tiny_model()
    with torch.no_grad():  # a target encoder different from the context encoder
        for p in model.target_encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    batch = tiny_batch()
    out = model(batch.pixel_values_videos, batch.context_masks, batch.target_masks)
    grid = model.get_grid(batch.pixel_values_videos)
    with torch.no_grad():
        h = model.target_encoder(batch.pixel_values_videos).last_hidden_state
        h = F.layer_norm(h, (h.shape[-1],), eps=1e-5)
        manual = []
        for ctx, tgt in zip(batch.context_masks, batch.target_masks):
            z = model.encoder(batch.pixel_values_videos, visible_mask=ctx).last_hidden_state
            p = model.predictor(z, [ctx], [tgt], grid=grid, mask_index=0).last_hidden_state
            target = torch.gather(h, 1, tgt.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
            manual.append((p - target).abs().mean())
    assert out.mask_losses.shape == (2,)
    torch.testing.assert_close(out.mask_losses, torch.stack(manual), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.loss, torch.stack(manual).mean(), atol=1e-6, rtol=1e-6)
    # targets are normalised: every target token has mean 0, variance 1 over channels
    assert float(h.mean(-1).abs().max()) < 1e-5 and float((h.var(-1, unbiased=False) - 1).abs().max()) < 1e-3
    for name in ("target_std", "prediction_std", "target_clip_std", "context_std"):
        value = getattr(out, name)
        assert value.ndim == 0 and math.isfinite(float(value)) and float(value) > 0


def test_gradients_reach_encoder_and_predictor_but_never_the_target():
    model = tiny_model()
    batch = tiny_batch()
    model(batch.pixel_values_videos, batch.context_masks, batch.target_masks, mask_index=0).loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in model.target_encoder.parameters())
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.predictor.parameters())
    mask_grad = model.predictor.embeddings.mask_tokens.grad.abs().flatten(1).sum(1)
    assert mask_grad[0] > 0 and mask_grad[1] == 0  # one frames-per-clip group: mask token 0 only
    model.train()
    assert not model.target_encoder.training and model.encoder.training


def test_ema_update():
    model = tiny_model()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    before = {n: p.clone() for n, p in model.target_encoder.named_parameters()}
    online = dict(model.encoder.named_parameters())
    model.update_target_encoder(0.9)
    for name, p in model.target_encoder.named_parameters():
        torch.testing.assert_close(p, 0.9 * before[name] + 0.1 * online[name])


@torch.no_grad()
def test_official_initialisation():
    model = tiny_model(hidden_size=256, num_hidden_layers=4, num_attention_heads=4)
    for stack in (model.encoder.layer,):
        for idx, layer in enumerate(stack):
            expected = 0.02 / math.sqrt(2 * (idx + 1))
            for weight in (layer.attention.proj.weight, layer.mlp.fc2.weight):
                assert abs(float(weight.std()) - expected) / expected < 0.05, (idx, float(weight.std()), expected)
            assert abs(float(layer.mlp.fc1.weight.std()) - 0.02) < 0.002
            assert float(layer.attention.qkv.bias.abs().max()) == 0.0
            assert float((layer.norm1.weight - 1).abs().max()) == 0.0
    assert float(model.predictor.embeddings.mask_tokens.abs().max()) == 0.0
    for (n, t), (_, e) in zip(model.target_encoder.named_parameters(), model.encoder.named_parameters()):
        assert torch.equal(t, e), n


def test_param_groups_decay_weights_only():
    model = tiny_model()
    groups = build_param_groups(model, 0.04)
    assert [g["weight_decay"] for g in groups] == [0.04, 0.04, 0.0, 0.0]
    names = [n for g in groups for n in g["names"]]
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(names) == sorted(trainable) and len(names) == len(set(names))
    assert not any(n.startswith("target_encoder") for n in names)
    decayed = set(groups[0]["names"] + groups[1]["names"])
    assert "predictor.embeddings.mask_tokens" in decayed
    assert all(not n.endswith("bias") and "norm" not in n for n in decayed)
    assert all(is_decayed(n, p) == (n in decayed) for n, p in model.named_parameters() if p.requires_grad)


def test_exchange_with_vjepa2_model(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        for p in model.target_encoder.parameters():
            p.mul_(0.5)
    exported = model.to_vjepa2_model("target_encoder")
    for (n, a), (_, b) in zip(exported.encoder.named_parameters(), model.target_encoder.named_parameters()):
        assert torch.equal(a, b), n
    exported = model.to_vjepa2_model("encoder")
    exported.save_pretrained(tmp_path / "m")
    loaded = VJEPA2Model.from_pretrained(tmp_path / "m")
    again = VJEPA2ForPretraining.from_vjepa2_model(loaded)
    for (n, a), (_, b) in zip(again.state_dict().items(), model.state_dict().items()):
        if n.startswith("target_encoder"):
            assert torch.equal(a, model.state_dict()["encoder" + n[len("target_encoder"):]]), n
        else:
            assert torch.equal(a, b), n
    with pytest.raises(ValueError, match="'encoder' or 'target_encoder'"):
        model.to_vjepa2_model("ema")


@pytest.mark.parametrize(
    "preset, encoder_params, predictor_params",
    [
        ("vit_large_pretrain", 303_885_312, 22_086_016),
        ("vit_huge_pretrain", 631_648_000, 22_282_880),
        ("vit_giant_pretrain", 1_012_173_952, 22_381_312),
        ("vit_giant_cooldown_384", 1_012_173_952, 22_381_312),
    ],
)
def test_official_recipes_build_at_full_size_on_meta(preset, encoder_params, predictor_params):
    config = load_pretraining_config(preset)
    assert config.optimization.global_batch_size == 3072
    assert config.optimization.lr == 5.25e-4 and config.optimization.weight_decay == 0.04
    assert config.optimization.ema == (0.99925, 0.99925) and config.optimization.mixed_precision == "bf16"
    with torch.device("meta"):
        model = VJEPA2ForPretraining(VJEPA2Config.from_preset(config.model.preset))
    assert sum(p.numel() for p in model.encoder.parameters()) == encoder_params
    assert sum(p.numel() for p in model.predictor.parameters()) == predictor_params
    assert sum(p.numel() for p in model.target_encoder.parameters()) == encoder_params


def _fake_official_checkpoint(model: VJEPA2ForPretraining, with_opt: bool = True) -> dict:
    """An official-layout training checkpoint (keys `module.backbone.*`) holding `model`'s weights, plus an AdamW
    state built with the official 4 groups over parameters in the checkpoint's key order."""
    state = model.state_dict()
    official = internal_to_official({k: v for k, v in state.items() if not k.startswith("target_encoder.")})
    target = internal_to_official({"encoder." + k[len("target_encoder."):]: v for k, v in state.items()
                                   if k.startswith("target_encoder.")})["encoder"]
    checkpoint = {
        "encoder": {f"module.backbone.{k}": v.clone() for k, v in official["encoder"].items()},
        "predictor": {f"module.backbone.{k}": v.clone() for k, v in official["predictor"].items()},
        "target_encoder": {f"module.backbone.{k}": v.clone() for k, v in target.items()},
        "epoch": 3,
    }
    if with_opt:
        params = {part: {k: torch.nn.Parameter(v.clone()) for k, v in checkpoint[part].items()}
                  for part in ("encoder", "predictor")}

        def group(part, decayed):
            return [p for k, p in params[part].items() if is_decayed(k, p) == decayed]

        opt = torch.optim.AdamW(
            [{"params": group("encoder", True)}, {"params": group("predictor", True)},
             {"params": group("encoder", False), "weight_decay": 0}, {"params": group("predictor", False),
                                                                      "weight_decay": 0}],
            lr=1e-3,
        )
        torch.manual_seed(1)
        for p in (p for part in params.values() for p in part.values()):
            p.grad = torch.randn_like(p)
        opt.step()
        checkpoint["opt"] = opt.state_dict()
        checkpoint["_params"] = params
    return checkpoint


def test_continue_from_an_official_checkpoint_with_its_optimizer(tmp_path):
    source = tiny_model(seed=3)
    with torch.no_grad():
        source.predictor.embeddings.mask_tokens.normal_()
        for p in source.target_encoder.parameters():
            p.mul_(0.7)
    checkpoint = _fake_official_checkpoint(source)
    params = checkpoint.pop("_params")
    path = tmp_path / "vit_tiny.pt"
    torch.save(checkpoint, path)

    model, loader = build_pretraining_model(ModelArguments(preset="tiny", init_from=str(path), init_optimizer=True))
    for name, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    assert not any(p.requires_grad for p in model.target_encoder.parameters())

    groups = build_param_groups(model, 0.04)
    optimizer = torch.optim.AdamW(groups, lr=1e-3)
    optimizer.load_state_dict(loader(groups))
    # the moments landed on the right parameters: compare a few by name
    ours = {n: optimizer.state[p] for g in groups for n, p in zip(g["names"], g["params"])}
    official_state = checkpoint["opt"]["state"]
    official_groups = checkpoint["opt"]["param_groups"]

    def official_moment(part, key, decayed):
        names = [k for k, p in checkpoint[part].items() if is_decayed(k, p) == decayed]
        group = official_groups[{("encoder", True): 0, ("predictor", True): 1, ("encoder", False): 2,
                                 ("predictor", False): 3}[(part, decayed)]]
        return official_state[group["params"][names.index(key)]]["exp_avg"]

    torch.testing.assert_close(ours["encoder.layer.1.attention.qkv.weight"]["exp_avg"],
                               official_moment("encoder", "module.backbone.blocks.1.attn.qkv.weight", True))
    torch.testing.assert_close(ours["encoder.layer.0.norm2.bias"]["exp_avg"],
                               official_moment("encoder", "module.backbone.blocks.0.norm2.bias", False))
    stacked = torch.stack([official_moment("predictor", f"module.backbone.mask_tokens.{i}", True) for i in range(2)])
    torch.testing.assert_close(ours["predictor.embeddings.mask_tokens"]["exp_avg"], stacked)

    # without an `opt` entry, asking for the optimizer is a clear error
    del checkpoint["opt"]
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match="no 'opt' entry"):
        build_pretraining_model(ModelArguments(preset="tiny", init_from=str(path), init_optimizer=True))
    # a checkpoint of another shape is refused, naming the mismatch
    with pytest.raises(ValueError, match="does not match the model"):
        build_pretraining_model(ModelArguments(preset="tiny", init_from=str(path),
                                               config_overrides={"num_hidden_layers": 3}))


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_packed_context_encodings_equal_one_pass_per_mask(implementation):
    """`forward_visible_sets` (both mask configurations in one packed pass, as the pretraining step runs them) gives
    each set's features and the encoder's gradients of the one-pass-per-set official order (fp32, 1e-5)."""
    from vjepa2_hf.pretraining import MultiBlockMaskCollator
    from vjepa2_hf.pretraining.masking import OFFICIAL_MASK_CONFIGS

    torch.manual_seed(0)
    model = VJEPA2ForPretraining(VJEPA2Config.from_preset("tiny", attn_implementation=implementation))
    batch = MultiBlockMaskCollator(OFFICIAL_MASK_CONFIGS, 8, 2, 0)([torch.randn(8, 3, 64, 64) for _ in range(2)])
    masks = batch.context_masks
    assert len({m.shape[1] for m in masks}) == 2  # sets of different sizes
    weights = torch.randn(model.config.hidden_size)

    def features_and_grads(fn):
        model.zero_grad()
        features = fn()
        sum(((f * weights) ** 2).mean() for f in features).backward()
        return [f.detach() for f in features], {n: p.grad.clone() for n, p in model.encoder.named_parameters()}

    packed, packed_grads = features_and_grads(lambda: model.encoder.forward_visible_sets(batch.pixel_values_videos, masks))
    single, single_grads = features_and_grads(
        lambda: [model.encoder(batch.pixel_values_videos, visible_mask=m).last_hidden_state for m in masks])
    for p, s, m in zip(packed, single, masks):
        assert p.shape == (2, m.shape[1], model.config.hidden_size)
        torch.testing.assert_close(p, s, atol=1e-5, rtol=1e-5)
    for name, grad in single_grads.items():
        torch.testing.assert_close(packed_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)
