"""The world model as a transformers model (composite config, save/load, Auto class, Hub upload), the earlier
folder format, and the policy with its saved config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vjepa2_hf.world_model.configuration_vjepa2_ac_policy import VJEPA2ACPolicyConfig
from vjepa2_hf.world_model.configuration_vjepa2_world_model import VJEPA2WorldModelConfig
from vjepa2_hf.world_model.policy_vjepa2_ac import VJEPA2ACPolicy
from vjepa2_hf.world_model.processing_vjepa2_ac import VJEPA2ACFrameProcessor
from vjepa2_hf.world_model.world_model import VJEPA2WorldModel

from .helpers import tiny_world_model


def _inputs():
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn(1, 3, 3, 64, 64, generator=g)
    actions = torch.randn(1, 3, 7, generator=g) * 0.05
    states = torch.randn(1, 3, 7, generator=g) * 0.1
    return pixels, actions, states


def _outputs(wm: VJEPA2WorldModel) -> list[torch.Tensor]:
    """Encoder features, training losses and a cached rollout of a fixed input."""
    pixels, actions, states = _inputs()
    with torch.no_grad():
        z = wm.encode(pixels)
        out = wm(actions[:, :2], states, embeddings=z)
        roll = wm.rollout(z[:, :2], states[:, :2], actions[:, 1:], context_actions=actions[:, :1])
    return [z, out.loss, out.predictions, roll.predictions, roll.states]


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sorted(sa) == sorted(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype and torch.equal(sa[key], sb[key]), key


def save_in_earlier_format(wm: VJEPA2WorldModel, root: Path) -> Path:
    """What `VJEPA2WorldModel.save_pretrained` wrote before the composite config (and `convert-official
    --world-model` with it): two transformers model folders and `world_model.json`."""
    root.mkdir(parents=True, exist_ok=True)
    wm.encoder.save_pretrained(root / "encoder")
    wm.predictor.save_pretrained(root / "predictor")
    meta = {"state_update": wm.state_update_name, "processor": wm.processor.to_dict()}
    (root / "world_model.json").write_text(json.dumps(meta, indent=2))
    return root


def test_save_pretrained_automodel_round_trip_is_bit_identical(tmp_path):
    from transformers import AutoConfig, AutoModel

    wm = tiny_world_model(processor=VJEPA2ACFrameProcessor(crop_size=64, crop_aspect=1.35))
    reference = _outputs(wm)
    folder = wm.save_pretrained(tmp_path / "wm")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    saved = json.loads((folder / "config.json").read_text())
    assert saved["model_type"] == "vjepa2_world_model" and saved["state_update"] == "franka"
    assert saved["encoder_config"]["model_type"] == "vjepa2_hf"
    assert saved["predictor_config"]["model_type"] == "vjepa2_ac"
    assert saved["frame_processor"]["crop_aspect"] == 1.35

    config = AutoConfig.from_pretrained(folder)
    assert isinstance(config, VJEPA2WorldModelConfig) and config.action_dim == 7 and config.tokens_per_frame == 64
    loaded = AutoModel.from_pretrained(folder)
    assert type(loaded) is VJEPA2WorldModel and not loaded.training and not loaded.encoder.training
    _assert_same_weights(loaded, wm)
    for a, b in zip(_outputs(loaded), reference):
        assert torch.equal(a, b)
    assert loaded.state_update_name == "franka" and loaded.processor.to_dict() == wm.processor.to_dict()
    assert not any(p.requires_grad for p in loaded.encoder.parameters())
    assert all(p.requires_grad for p in loaded.predictor.parameters())
    # the composite config is the parts' configs (one object each)
    assert loaded.config.encoder_config is loaded.encoder.config
    assert loaded.config.predictor_config is loaded.predictor.config


def test_built_from_config_and_from_parts_agree():
    """`VJEPA2WorldModel(config)` builds both parts; built from parts (`from_configs`) they are not re-initialised."""
    wm = tiny_world_model(seed=3)
    torch.manual_seed(3)
    from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2VisionModel
    from vjepa2_hf.world_model.modeling_vjepa2_ac import VJEPA2ACPredictor

    encoder = VJEPA2VisionModel(wm.encoder.config)
    predictor = VJEPA2ACPredictor(wm.predictor.config)
    _assert_same_weights(wm.encoder, encoder)
    _assert_same_weights(wm.predictor, predictor)
    torch.manual_seed(3)
    built = VJEPA2WorldModel(VJEPA2WorldModelConfig(encoder_config=wm.encoder.config.to_dict(),
                                                    predictor_config=wm.predictor.config.to_dict()))
    _assert_same_weights(built, wm)
    with pytest.raises(ValueError, match="`state_update` must be one of"):
        VJEPA2WorldModelConfig(encoder_config=wm.encoder.config, predictor_config=wm.predictor.config,
                               state_update="teleport")
    with pytest.raises(ValueError, match="encoder width 64 differs from the predictor's `hidden_size` 32"):
        VJEPA2WorldModelConfig(encoder_config=wm.encoder.config.to_dict(),
                               predictor_config={**wm.predictor.config.to_dict(), "hidden_size": 32})


def test_full_size_config_on_the_meta_device():
    """The default config is the released model: ViT-g encoder (1,012,173,952 parameters) + AC predictor
    (305,220,992), 256 tokens per frame."""
    with torch.device("meta"):
        wm = VJEPA2WorldModel(VJEPA2WorldModelConfig())
    assert sum(p.numel() for p in wm.encoder.parameters()) == 1_012_173_952
    assert sum(p.numel() for p in wm.predictor.parameters()) == 305_220_992
    assert wm.config.tokens_per_frame == 256 and wm.config.action_dim == 7 and wm.state_update_name == "franka"


def test_folder_in_earlier_format_loads(tmp_path):
    wm = tiny_world_model(action_dim=2, state_dim=2)  # additive state rule
    reference = _outputs_2d(wm)
    legacy = save_in_earlier_format(wm, tmp_path / "legacy")
    loaded = VJEPA2WorldModel.from_pretrained(legacy)
    assert loaded.state_update_name == "additive"
    _assert_same_weights(loaded, wm)
    for a, b in zip(_outputs_2d(loaded), reference):
        assert torch.equal(a, b)
    # ... with the loading arguments, and re-saved in the new format
    bf16 = VJEPA2WorldModel.from_pretrained(legacy, dtype=torch.bfloat16, attn_implementation={"predictor": "eager"})
    assert bf16.encoder.dtype == bf16.predictor.dtype == torch.bfloat16
    assert bf16.get_attn_implementation() == {"encoder": "sdpa", "predictor": "eager"}
    from transformers import AutoModel

    resaved = AutoModel.from_pretrained(loaded.save_pretrained(tmp_path / "new"))
    _assert_same_weights(resaved, wm)


def _outputs_2d(wm: VJEPA2WorldModel) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn(1, 3, 3, 64, 64, generator=g)
    actions, states = torch.randn(1, 2, 2, generator=g) * 0.05, torch.randn(1, 3, 2, generator=g) * 0.1
    with torch.no_grad():
        z = wm.encode(pixels)
        roll = wm.rollout(z[:, :2], states[:, :2], actions[:, 1:], context_actions=actions[:, :1])
    return [z, wm.predict(z[:, :2], actions, states[:, :2]), roll.predictions, roll.states]


@pytest.mark.parametrize("attn", ["eager", {"encoder": "eager", "predictor": "sdpa"}])
def test_loaded_in_bf16_with_an_attention_implementation(tmp_path, attn):
    wm = tiny_world_model()
    folder = wm.save_pretrained(tmp_path / "wm")
    loaded = VJEPA2WorldModel.from_pretrained(folder, dtype=torch.bfloat16, attn_implementation=attn)
    expected = {"encoder": "eager", "predictor": "eager" if attn == "eager" else "sdpa"}
    assert loaded.get_attn_implementation() == expected
    assert {p.dtype for p in loaded.parameters()} == {torch.bfloat16}
    cast = tiny_world_model().to(torch.bfloat16)
    _assert_same_weights(loaded, cast)  # the stored float32 weights, rounded once
    pixels, actions, states = _inputs()
    with torch.no_grad():
        z = loaded.encode(pixels.bfloat16())
        roll = loaded.rollout(z[:, :2], states[:, :2], actions[:, 1:], context_actions=actions[:, :1])
    reference = _outputs(wm)
    assert z.dtype == torch.bfloat16 and roll.predictions.dtype == torch.bfloat16
    # bf16 keeps 8 bits of mantissa: measured 0.029 max on the normalised features, 0.0063 mean on the rollout
    assert (z.float() - reference[0]).abs().max().item() < 0.06
    assert (roll.predictions.float() - reference[3]).abs().mean().item() < 0.02
    # "auto" resolves per machine: bf16 or float32, never anything else
    auto = VJEPA2WorldModel.from_pretrained(folder, dtype="auto")
    assert auto.dtype in (torch.bfloat16, torch.float32)


def test_push_to_hub_uploads_the_save_pretrained_folder(tmp_path, monkeypatch):
    import transformers.utils.hub as hub

    uploaded: dict[str, bytes] = {}

    def create_commit(repo_id, operations, **kwargs):
        for op in operations:
            uploaded[op.path_in_repo] = Path(op.path_or_fileobj).read_bytes()
        return SimpleNamespace(commit_url=f"https://hub/{repo_id}/commit/0")

    api = SimpleNamespace(create_repo=lambda repo_id, **kwargs: SimpleNamespace(repo_id=f"user/{repo_id}"),
                          create_commit=create_commit)
    monkeypatch.setattr(hub, "hf_api", lambda: api)
    monkeypatch.setattr(hub, "create_and_tag_model_card",
                        lambda *args, **kwargs: SimpleNamespace(save=lambda path: Path(path).write_text("card")))
    wm = tiny_world_model()
    wm.push_to_hub("tiny-world-model")
    local = wm.save_pretrained(tmp_path / "local")
    assert set(uploaded) == {"config.json", "model.safetensors", "README.md"}
    for name in ("config.json", "model.safetensors"):
        assert uploaded[name] == (local / name).read_bytes(), name
    # the uploaded files, as a downloaded repo, load into the same model
    repo = tmp_path / "repo"
    repo.mkdir()
    for name, data in uploaded.items():
        (repo / name).write_bytes(data)
    _assert_same_weights(VJEPA2WorldModel.from_pretrained(repo), wm)


def test_ac_predictor_eager_and_sdpa_return_attentions():
    wm = tiny_world_model()
    predictor = wm.predictor
    cfg = predictor.config
    g = torch.Generator().manual_seed(2)
    frames, n = 3, cfg.tokens_per_frame
    x = torch.randn(2, frames * n, cfg.hidden_size, generator=g)
    actions, states = torch.randn(2, frames, 7, generator=g) * 0.05, torch.randn(2, frames, 7, generator=g) * 0.1
    outputs = {}
    for impl in ("sdpa", "eager"):
        predictor.set_attn_implementation(impl)
        with torch.no_grad():
            plain = predictor(x, actions, states)
            out = predictor(x, actions, states, output_attentions=True)
        assert plain.attentions is None
        assert torch.allclose(out.last_hidden_state, plain.last_hidden_state, atol=1e-5, rtol=0)
        outputs[impl] = out
    assert (outputs["sdpa"].last_hidden_state - outputs["eager"].last_hidden_state).abs().max().item() < 1e-5
    per_frame = cfg.num_cond_tokens + n
    for out in outputs.values():
        attn = out.attentions
        assert len(attn) == cfg.pred_num_hidden_layers
        for weights in attn:
            assert weights.shape == (2, cfg.pred_num_attention_heads, frames * per_frame, frames * per_frame)
            assert torch.allclose(weights.sum(-1), torch.ones(()), atol=1e-5)
            # block-causal: the first frame's tokens give no weight to later frames
            assert weights[:, :, :per_frame, per_frame:].abs().max().item() == 0.0
            assert weights[:, :, -per_frame:, :per_frame].abs().max().item() > 0.0
    for a, b in zip(outputs["sdpa"].attentions, outputs["eager"].attentions):
        assert torch.equal(a, b)
    # with a cache: attention over the cached frames and the new one
    cache = predictor.new_cache()
    with torch.no_grad():
        predictor(x[:, : 2 * n], actions[:, :2], states[:, :2], cache=cache)
        step = predictor(x[:, 2 * n :], actions[:, 2:], states[:, 2:], cache=cache, output_attentions=True,
                         return_dict=False)
    assert len(step) == 3 and step[2][0].shape == (2, cfg.pred_num_attention_heads, per_frame, 3 * per_frame)
    assert (step[0] - outputs["eager"].last_hidden_state[:, 2 * n :]).abs().max().item() < 1e-5


def _observation(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"observation.image": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
            "observation.state": rng.normal(0, 0.1, 7).astype(np.float32)}


def test_policy_and_config_round_trip(tmp_path):
    config = VJEPA2ACPolicyConfig(horizon=2, num_samples=16, iterations=2, topk=4, constraint="box",
                                  action_low=[-0.05] * 7, action_high=[0.05] * 7, free_dims=None, seed=7,
                                  momentum_mean=0.1, official_kwargs={"maxnorm": 0.05})
    goal = np.random.default_rng(9).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    policy = VJEPA2ACPolicy(tiny_world_model(), config)
    policy.set_goal(goal)
    reference = [policy.select_action(_observation(s)) for s in range(3)]
    folder = policy.save_pretrained(tmp_path / "policy")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "policy_config.json"]
    assert json.loads((folder / "policy_config.json").read_text())["type"] == "vjepa2_ac"
    assert VJEPA2ACPolicyConfig.from_pretrained(folder) == config

    loaded = VJEPA2ACPolicy.from_pretrained(folder)
    assert loaded.config == config
    _assert_same_weights(loaded.world_model, policy.world_model)
    loaded.set_goal(goal)
    for s, expected in enumerate(reference):
        assert torch.equal(loaded.select_action(_observation(s)), expected)
    policy.reset()  # the original, reset, replays the same episode too
    assert torch.equal(policy.select_action(_observation(0)), reference[0])

    # a policy folder is a world-model folder
    from transformers import AutoModel

    _assert_same_weights(AutoModel.from_pretrained(folder), policy.world_model)
    with pytest.raises(ValueError, match=r"unknown VJEPA2ACPolicyConfig fields \['horizn'\]"):
        VJEPA2ACPolicyConfig.from_dict({"type": "vjepa2_ac", "horizn": 2})
    with pytest.raises(FileNotFoundError, match="policy_config.json"):
        VJEPA2ACPolicy.from_pretrained(policy.world_model.save_pretrained(tmp_path / "wm_only"))


def test_policy_push_to_hub_uploads_the_save_pretrained_folder(tmp_path, monkeypatch):
    import huggingface_hub

    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            calls["repo"] = repo_id
            return SimpleNamespace(repo_id=repo_id)

        def upload_folder(self, repo_id, folder_path, **kwargs):
            calls["files"] = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
            shutil.copytree(folder_path, tmp_path / "uploaded")
            return "commit"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    policy = VJEPA2ACPolicy(tiny_world_model(), VJEPA2ACPolicyConfig(num_samples=8, iterations=1, topk=2))
    assert policy.push_to_hub("user/policy") == "commit" and calls["repo"] == "user/policy"
    local = policy.save_pretrained(tmp_path / "local")
    assert set(calls["files"]) == {"config.json", "model.safetensors", "policy_config.json"}
    for name, data in calls["files"].items():
        assert data == (local / name).read_bytes(), name
    assert VJEPA2ACPolicy.from_pretrained(tmp_path / "uploaded").config == policy.config


def test_saved_folders_load_in_a_fresh_process(tmp_path):
    """Folders hold the encoder in transformers' split q/k/v layout (as `main` writes it); a fresh process that
    imports only the world model loads both formats to the same rollouts, bit for bit."""
    import os
    import subprocess
    import sys

    from safetensors import safe_open

    wm = tiny_world_model(seed=4)
    new, legacy = wm.save_pretrained(tmp_path / "new"), save_in_earlier_format(wm, tmp_path / "legacy")
    with safe_open(str(legacy / "encoder" / "model.safetensors"), "pt") as f:
        assert any(k.endswith("attention.query.weight") for k in f.keys())
    with safe_open(str(new / "model.safetensors"), "pt") as f:
        assert any(k.endswith("encoder.layer.0.attention.query.weight") for k in f.keys())
    torch.save(_outputs(wm), tmp_path / "reference.pt")
    code = (
        "import sys, torch\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from world_model.test_hub_composites import _outputs\n"
        "from vjepa2_hf.world_model.world_model import VJEPA2WorldModel\n"
        f"out = [_outputs(VJEPA2WorldModel.from_pretrained(p)) for p in ({str(new)!r}, {str(legacy)!r})]\n"
        f"torch.save(out, {str(tmp_path / 'fresh.pt')!r})\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    reference = torch.load(tmp_path / "reference.pt")
    for outputs in torch.load(tmp_path / "fresh.pt"):
        for a, b in zip(outputs, reference):
            assert torch.equal(a, b)
