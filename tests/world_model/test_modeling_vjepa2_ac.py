"""The AC predictor against a reference forward transcribed from the official code's specification, the converter
of the released file layout, KV-cached rollouts, block causality and bad-input errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vjepa2_hf.world_model.configuration_vjepa2_ac import VJEPA2ACConfig
from vjepa2_hf.world_model.modeling_vjepa2_ac import VJEPA2ACPredictor

from .helpers import tiny_world_model

# ------------------------------------------------------------------------------------------------------------
# Reference: official `VisionTransformerPredictorAC` + `ACBlock` + `ACRoPEAttention` + `rotate_queries_or_keys`
# (spec sections 1.7 and 6.1-6.4), written independently of the package, on an official-layout state dict.
# ------------------------------------------------------------------------------------------------------------


def ref_rotate(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Official rotate_queries_or_keys: tiled frequencies, interleaved pairs."""
    d = x.shape[-1]
    omega = torch.arange(d // 2, dtype=x.dtype)
    omega /= d / 2.0
    omega = 1.0 / 10000**omega
    freq = torch.einsum("..., f -> ... f", pos, omega)
    emb_sin = torch.cat([freq.sin(), freq.sin()], dim=-1)  # `.repeat(1, 1, 1, 2)`: tiled, the released weights' bug
    emb_cos = torch.cat([freq.cos(), freq.cos()], dim=-1)
    y = x.unflatten(-1, (-1, 2))
    y1, y2 = y.unbind(dim=-1)
    y = torch.stack((-y2, y1), dim=-1).flatten(-2)
    return x * emb_cos + y * emb_sin


def ref_block_causal_mask(T: int, H: int, W: int, add_tokens: int) -> torch.Tensor:
    n_t = add_tokens + H * W
    mask = torch.zeros(T * n_t, T * n_t, dtype=torch.bool)
    for t1 in range(T):
        for t2 in range(0, t1 + 1):
            mask[t1 * n_t : (t1 + 1) * n_t, t2 * n_t : (t2 + 1) * n_t] = True
    return mask


def ref_attention(x, sd, prefix, T, H, W, A, heads, grid_size, attn_mask):
    B, N, C = x.shape
    hd = C // heads
    d = 2 * ((hd // 3) // 2)
    w_qkv, b_qkv = sd[f"{prefix}.qkv.weight"], sd[f"{prefix}.qkv.bias"]
    ids = torch.arange(T * H * W)
    t_ids = ids // (H * W)
    h_ids = (ids - t_ids * H * W) // W
    w_ids = ids - t_ids * H * W - h_ids * W
    t_pos, h_pos, w_pos = 1.0 * t_ids, 1.0 * h_ids * (grid_size / H), 1.0 * w_ids * (grid_size / W)
    xv = x.view(B, T, A + H * W, C)
    aq, ak, av = [], [], []
    for i in range(A):
        a = xv[:, :, i : i + 1, :].flatten(1, 2)
        q, k, v = F.linear(a, w_qkv, b_qkv).unflatten(-1, (3, heads, -1)).permute(2, 0, 3, 1, 4)
        pos_t = torch.arange(T, dtype=torch.float32)
        qd, kd = ref_rotate(q[..., :d], pos_t), ref_rotate(k[..., :d], pos_t)
        aq.append(torch.cat([qd, q[..., d:]], -1).view(B, heads, T, 1, -1))
        ak.append(torch.cat([kd, k[..., d:]], -1).view(B, heads, T, 1, -1))
        av.append(v.view(B, heads, T, 1, -1))
    aq, ak, av = (torch.cat(z, dim=3).flatten(2, 3) for z in (aq, ak, av))
    xp = xv[:, :, A:, :].flatten(1, 2)
    q, k, v = F.linear(xp, w_qkv, b_qkv).unflatten(-1, (3, heads, -1)).permute(2, 0, 3, 1, 4)

    def rot3(z):
        return torch.cat(
            [ref_rotate(z[..., :d], t_pos), ref_rotate(z[..., d : 2 * d], h_pos),
             ref_rotate(z[..., 2 * d : 3 * d], w_pos), z[..., 3 * d :]], dim=-1
        )

    q, k = rot3(q), rot3(k)

    def merge(tx, ta):
        tx = tx.view(B, heads, T, H * W, -1)
        ta = ta.view(B, heads, T, A, -1)
        return torch.cat([ta, tx], dim=3).flatten(2, 3)

    q, k, v = merge(q, aq), merge(k, ak), merge(v, av)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    out = out.transpose(1, 2).reshape(B, N, C)
    return F.linear(out, sd[f"{prefix}.proj.weight"], sd[f"{prefix}.proj.bias"])


def ref_forward(sd, cfg: VJEPA2ACConfig, x, actions, states, extrinsics=None):
    """Official forward on an official-layout predictor state dict (keys without `module.`)."""
    grid = cfg.crop_size // cfg.patch_size
    A = 3 if cfg.use_extrinsics else 2
    x = F.linear(x, sd["predictor_embed.weight"], sd["predictor_embed.bias"])
    B, N, D = x.shape
    T = N // (grid * grid)
    s = F.linear(states, sd["state_encoder.weight"], sd["state_encoder.bias"]).unsqueeze(2)
    a = F.linear(actions, sd["action_encoder.weight"], sd["action_encoder.bias"]).unsqueeze(2)
    x = x.view(B, T, grid * grid, D)
    if cfg.use_extrinsics:
        e = F.linear(extrinsics, sd["extrinsics_encoder.weight"], sd["extrinsics_encoder.bias"]).unsqueeze(2)
        x = torch.cat([a, s, e, x], dim=2).flatten(1, 2)
    else:
        x = torch.cat([a, s, x], dim=2).flatten(1, 2)
    full_mask = ref_block_causal_mask(cfg.frames_per_clip // cfg.tubelet_size, grid, grid, A)
    mask = full_mask[: x.size(1), : x.size(1)]
    for i in range(cfg.pred_num_hidden_layers):
        p = f"predictor_blocks.{i}"
        y = F.layer_norm(x, (D,), sd[f"{p}.norm1.weight"], sd[f"{p}.norm1.bias"], eps=1e-6)
        x = x + ref_attention(y, sd, f"{p}.attn", T, grid, grid, A, cfg.pred_num_attention_heads, grid, mask)
        y = F.layer_norm(x, (D,), sd[f"{p}.norm2.weight"], sd[f"{p}.norm2.bias"], eps=1e-6)
        y = F.linear(F.gelu(F.linear(y, sd[f"{p}.mlp.fc1.weight"], sd[f"{p}.mlp.fc1.bias"])),
                     sd[f"{p}.mlp.fc2.weight"], sd[f"{p}.mlp.fc2.bias"])
        x = x + y
    x = x.view(B, T, A + grid * grid, D)[:, :, A:, :].flatten(1, 2)
    x = F.layer_norm(x, (D,), sd["predictor_norm.weight"], sd["predictor_norm.bias"], eps=1e-6)
    return F.linear(x, sd["predictor_proj.weight"], sd["predictor_proj.bias"])


def official_predictor_state_dict(cfg: VJEPA2ACConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the official key layout (non-trivial LayerNorms and biases)."""
    g = torch.Generator().manual_seed(seed)
    D, E, M = cfg.pred_hidden_size, cfg.hidden_size, cfg.intermediate_size

    def lin(name, out_f, in_f, std=0.05):
        return {f"{name}.weight": torch.randn(out_f, in_f, generator=g) * std,
                f"{name}.bias": torch.randn(out_f, generator=g) * 0.02}

    def norm(name):
        return {f"{name}.weight": 1 + 0.1 * torch.randn(D, generator=g), f"{name}.bias": 0.1 * torch.randn(D, generator=g)}

    sd = {**lin("predictor_embed", D, E), **lin("action_encoder", D, cfg.action_dim, 0.5),
          **lin("state_encoder", D, cfg.state_dim, 0.5), **lin("extrinsics_encoder", D, cfg.extrinsics_dim, 0.5)}
    for i in range(cfg.pred_num_hidden_layers):
        p = f"predictor_blocks.{i}"
        sd.update({**norm(f"{p}.norm1"), **lin(f"{p}.attn.qkv", 3 * D, D, 0.2), **lin(f"{p}.attn.proj", D, D),
                   **norm(f"{p}.norm2"), **lin(f"{p}.mlp.fc1", M, D), **lin(f"{p}.mlp.fc2", D, M)})
    sd.update({**norm("predictor_norm"), **lin("predictor_proj", E, D)})
    return sd


def _inputs(cfg: VJEPA2ACConfig, batch: int, frames: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, frames * cfg.tokens_per_frame, cfg.hidden_size, generator=g)
    actions = torch.randn(batch, frames, cfg.action_dim, generator=g)
    states = torch.randn(batch, frames, cfg.state_dim, generator=g)
    extr = torch.randn(batch, frames, cfg.extrinsics_dim, generator=g)
    return x, actions, states, extr


# ------------------------------------------------------------------------------------------------------------


def _tiny_cfg(**kw) -> VJEPA2ACConfig:
    # head dim 16: RoPE slices of 4 channels per axis and an unrotated tail of 4, as the released model (20/20/20+4)
    return VJEPA2ACConfig.from_preset("tiny", crop_size=32, frames_per_clip=12, **kw)


@pytest.mark.parametrize("use_extrinsics", [False, True])
def test_converter_loads_official_layout_and_matches_reference_forward(tmp_path, use_extrinsics):
    from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
    from vjepa2_hf.encoder.convert_vjepa2_checkpoint import internal_to_official
    from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2VisionModel
    from vjepa2_hf.world_model.convert_vjepa2_ac_checkpoint import convert_vjepa2_ac_checkpoint

    cfg = _tiny_cfg(use_extrinsics=use_extrinsics)
    official_pred = official_predictor_state_dict(cfg)
    torch.manual_seed(3)
    enc_cfg = VJEPA2Config.from_preset("tiny", crop_size=32)
    encoder = VJEPA2VisionModel(enc_cfg).eval()
    official_enc = internal_to_official(encoder.state_dict())["encoder"]
    path = tmp_path / "vjepa2-ac-tiny.pt"
    # the released file: `encoder` and `predictor` with `module.` prefixes, plus training state
    torch.save({"encoder": {f"module.{k}": v for k, v in official_enc.items()},
                "predictor": {f"module.{k}": v for k, v in official_pred.items()},
                "epoch": 315, "opt": {}, "scaler": None}, path)

    model = convert_vjepa2_ac_checkpoint(path, encoder_config=enc_cfg, predictor_config=cfg)
    x, actions, states, extr = _inputs(cfg, batch=2, frames=4)
    with torch.no_grad():
        ours = model.predictor(x, actions, states, extr if use_extrinsics else None).last_hidden_state
        ref = ref_forward(official_pred, cfg, x, actions, states, extr)
    diff = (ours - ref).abs().max().item()
    print(f"converted predictor vs reference forward (extrinsics={use_extrinsics}): max abs diff {diff:.2e}")
    assert ref.abs().mean() > 0.1
    assert diff < 1e-5, f"max abs diff to the reference forward: {diff:.3e}"
    # encoder weights arrive unchanged
    for key, value in encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value), key


def test_converter_strict_errors(tmp_path):
    from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
    from vjepa2_hf.world_model.convert_vjepa2_ac_checkpoint import convert_vjepa2_ac_checkpoint

    cfg = _tiny_cfg()
    enc_cfg = VJEPA2Config.from_preset("tiny", crop_size=32)
    wm = tiny_world_model(crop_size=32, frames_per_clip=12)
    from vjepa2_hf.world_model.convert_vjepa2_ac_checkpoint import export_ac_to_official

    path = export_ac_to_official(wm, tmp_path / "ac.pt")
    ckpt = torch.load(path, weights_only=True)
    # round trip is exact
    back = convert_vjepa2_ac_checkpoint(ckpt, encoder_config=enc_cfg, predictor_config=cfg)
    for key, value in wm.predictor.state_dict().items():
        assert torch.equal(back.predictor.state_dict()[key], value), key
    missing = dict(ckpt, predictor={k: v for k, v in ckpt["predictor"].items() if "blocks.1.mlp.fc2" not in k})
    with pytest.raises(ValueError, match="missing keys"):
        convert_vjepa2_ac_checkpoint(missing, encoder_config=enc_cfg, predictor_config=cfg)
    wrong = dict(ckpt, predictor=dict(ckpt["predictor"]))
    wrong["predictor"]["module.action_encoder.weight"] = torch.zeros(64, 5)
    with pytest.raises(ValueError, match="wrong shapes"):
        convert_vjepa2_ac_checkpoint(wrong, encoder_config=enc_cfg, predictor_config=cfg)
    with pytest.raises(ValueError, match="'predictor' entry"):
        convert_vjepa2_ac_checkpoint({"encoder": ckpt["encoder"]}, encoder_config=enc_cfg, predictor_config=cfg)
    with pytest.raises(FileNotFoundError):
        convert_vjepa2_ac_checkpoint(tmp_path / "nope.pt")


def test_released_size_and_init():
    with torch.device("meta"):
        model = VJEPA2ACPredictor(VJEPA2ACConfig.from_preset("vit_giant"))
    # spec 1.2: the AC predictor for ViT-g has 305,220,992 parameters
    assert sum(p.numel() for p in model.parameters()) == 305_220_992
    cfg = model.config
    assert (cfg.tokens_per_frame, cfg.max_frames, cfg.head_dim) == (256, 32, 64)

    torch.manual_seed(0)
    tiny = VJEPA2ACPredictor(VJEPA2ACConfig.from_preset("tiny", pred_num_hidden_layers=3))
    qkv_std = tiny.layer[2].attention.qkv.weight.std().item()
    proj_std = tiny.layer[2].attention.proj.weight.std().item()
    # official `_rescale_blocks`: block l (1-based) residual projections divided by sqrt(2 l)
    assert abs(qkv_std - 0.02) < 0.002
    assert abs(proj_std - 0.02 / math.sqrt(6)) < 0.001


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = VJEPA2ACPredictor(_tiny_cfg()).eval()
    model.save_pretrained(tmp_path)
    loaded = VJEPA2ACPredictor.from_pretrained(tmp_path).eval()
    x, a, s, _ = _inputs(model.config, 1, 2)
    with torch.no_grad():
        assert torch.equal(model(x, a, s).last_hidden_state, loaded(x, a, s).last_hidden_state)


# ------------------------------------------------------------------------------------------------------------
# KV cache and block causality
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("context_frames", [1, 3])
def test_cached_rollout_equals_uncached(context_frames):
    wm = tiny_world_model(crop_size=32, frames_per_clip=16)
    cfg = wm.config
    g = torch.Generator().manual_seed(0)
    ctx = F.layer_norm(torch.randn(1, context_frames, cfg.tokens_per_frame, cfg.hidden_size, generator=g), (64,))
    ctx_states = torch.rand(1, context_frames, 7, generator=g)
    ctx_actions = 0.05 * torch.randn(1, context_frames - 1, 7, generator=g)
    actions = 0.05 * torch.randn(12, 3, 7, generator=g)
    with torch.no_grad():
        cached = wm.rollout(ctx, ctx_states, actions, ctx_actions, use_cache=True)
        uncached = wm.rollout(ctx, ctx_states, actions, ctx_actions, use_cache=False)
    diff = (cached.predictions - uncached.predictions).abs().max().item()
    print(f"cached vs uncached rollout ({context_frames} context frames, 3 steps): max abs diff {diff:.2e}")
    assert diff < 1e-4
    assert torch.equal(cached.states, uncached.states)
    # the planner callback runs the context once and reuses it across CEM iterations
    fn = wm.rollout_fn(ctx, ctx_states, ctx_actions, use_cache=True)
    with torch.no_grad():
        first, second = fn(actions), fn(actions[:5])
    assert (first - uncached.predictions[:, -1]).abs().max() < 1e-4
    assert (second - uncached.predictions[:5, -1]).abs().max() < 1e-4


def test_incremental_cache_equals_full_sequence():
    torch.manual_seed(0)
    model = VJEPA2ACPredictor(_tiny_cfg()).eval()
    x, a, s, _ = _inputs(model.config, 2, 5)
    n = model.config.tokens_per_frame
    with torch.no_grad():
        full = model(x, a, s).last_hidden_state
        cache = model.new_cache()
        first = model(x[:, : 2 * n], a[:, :2], s[:, :2], cache=cache).last_hidden_state  # two frames at once
        rest = [model(x[:, t * n : (t + 1) * n], a[:, t : t + 1], s[:, t : t + 1], cache=cache).last_hidden_state
                for t in range(2, 5)]
    assert cache.num_frames == 5
    diff = (torch.cat([first, *rest], 1) - full).abs().max().item()
    print(f"frame-by-frame cached forward vs full sequence: max abs diff {diff:.2e}")
    assert diff < 1e-5


def test_block_causality():
    torch.manual_seed(0)
    model = VJEPA2ACPredictor(_tiny_cfg()).eval()
    x, a, s, _ = _inputs(model.config, 1, 5)
    n = model.config.tokens_per_frame
    with torch.no_grad():
        base = model(x, a, s).last_hidden_state
        for t in range(1, 5):
            x2, a2, s2 = x.clone(), a.clone(), s.clone()
            x2[:, t * n :] += torch.randn_like(x2[:, t * n :])
            a2[:, t:] += 1.0
            s2[:, t:] -= 1.0
            out = model(x2, a2, s2).last_hidden_state
            # predictions made at frames < t never see frame t or later
            assert torch.equal(out[:, : t * n], base[:, : t * n]), t
            assert (out[:, t * n :] - base[:, t * n :]).abs().max() > 1e-3


# ------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    torch.manual_seed(0)
    model = VJEPA2ACPredictor(_tiny_cfg()).eval()
    cfg = model.config
    x, a, s, _ = _inputs(cfg, 1, 2)
    with pytest.raises(ValueError, match=r"`actions` must have shape .*action_dim=7.*got \(1, 2, 6\)"):
        model(x, a[..., :6], s)
    with pytest.raises(ValueError, match=r"`states` must have shape .*state_dim=7"):
        model(x, a, torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="NaN"):
        model(x, torch.full_like(a, float("nan")), s)
    with pytest.raises(ValueError, match="whole number of frames"):
        model(x[:, :-3], a, s)
    too_many = cfg.max_frames + 1
    xb, ab, sb, _ = _inputs(cfg, 1, too_many)
    with pytest.raises(ValueError, match=f"at most {cfg.max_frames} frames"):
        model(xb, ab, sb)
    cache = model.new_cache()
    xs, as_, ss, _ = _inputs(cfg, 1, cfg.max_frames)
    model(xs, as_, ss, cache=cache)
    with pytest.raises(ValueError, match="cached"):
        model(x[:, : cfg.tokens_per_frame], a[:, :1], s[:, :1], cache=cache)
    with pytest.raises(ValueError, match="use_extrinsics"):
        VJEPA2ACPredictor(_tiny_cfg(use_extrinsics=True))(x, a, s)
    with pytest.raises(ValueError, match="divisible"):
        VJEPA2ACConfig(pred_hidden_size=100, pred_num_attention_heads=16)

    wm = tiny_world_model(crop_size=32, frames_per_clip=8)
    ctx = torch.zeros(1, 1, wm.config.tokens_per_frame, 64)
    with pytest.raises(ValueError, match="at most 4"):
        wm.rollout(ctx, torch.zeros(1, 1, 7), torch.zeros(3, 5, 7))
    with pytest.raises(ValueError, match="NaN"):
        wm.rollout(ctx, torch.zeros(1, 1, 7), torch.full((3, 1, 7), float("nan")))
    with pytest.raises(ValueError, match="action_dim=7"):
        wm.rollout(ctx, torch.zeros(1, 1, 7), torch.zeros(3, 1, 2))


def test_convert_official_command_writes_a_world_model_folder(tmp_path):
    """`vjepa2-hf convert-official --world-model`: an official-layout AC file -> a `VJEPA2WorldModel` folder whose
    weights are those of the file (the tiny encoder preset stands in for ViT-g)."""
    from vjepa2_hf.cli import main
    from vjepa2_hf.world_model.convert_vjepa2_ac_checkpoint import export_ac_to_official
    from vjepa2_hf.world_model.world_model import VJEPA2WorldModel

    wm = tiny_world_model(seed=3)  # 64 px, patch 8: the tiny encoder preset's geometry
    path = export_ac_to_official(wm, tmp_path / "ac.pt")
    out = tmp_path / "world-model"
    heads = str(wm.predictor.config.pred_num_attention_heads)
    assert main(["convert-official", "--world-model", "--arch", "tiny", "--ac-num-heads", heads,
                 "--checkpoint", str(path), "--output-dir", str(out)]) == 0
    # the transformers layout of the composite (not the earlier encoder/ + predictor/ + world_model.json)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    from transformers import AutoModel

    loaded = AutoModel.from_pretrained(out)
    assert isinstance(loaded, VJEPA2WorldModel) and loaded.state_update_name == "franka"
    assert loaded.predictor.config.pred_num_attention_heads == wm.predictor.config.pred_num_attention_heads
    for part in ("encoder", "predictor"):
        reference = getattr(wm, part).state_dict()
        for key, value in getattr(loaded, part).state_dict().items():
            assert torch.equal(value, reference[key]), f"{part}.{key}"
    with pytest.raises(ValueError, match="--world-model converts the AC checkpoint alone"):
        main(["--debug", "convert-official", "--world-model", "--arch", "tiny", "--checkpoint", str(path), "--output-dir",
              str(tmp_path / "x"), "--probe", str(path)])
