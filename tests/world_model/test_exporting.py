"""The world model's exported hot parts (`vjepa2_hf.world_model.exporting`): the rollout step with its key/value
cache as explicit inputs and outputs, equal to the eager cached predictor within 1e-4 for any batch and number of
past frames from one file; a world model / `plan --backend onnxruntime` equal to PyTorch."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from vjepa2_hf.encoder import VJEPA2Config
from vjepa2_hf.world_model.configuration_vjepa2_ac import VJEPA2ACConfig
from vjepa2_hf.world_model.exporting import VJEPA2ACRolloutStep, export_rollout_step, with_backend
from vjepa2_hf.world_model.world_model import VJEPA2WorldModel

from ..conftest import randomize_parameters

PARITY = 1e-4


def _world_model(crop: int = 64) -> VJEPA2WorldModel:
    torch.manual_seed(0)
    model = VJEPA2WorldModel.from_configs(
        VJEPA2Config.from_preset("tiny", crop_size=crop),
        VJEPA2ACConfig.from_preset("tiny", action_dim=2, state_dim=2, crop_size=crop), state_update="additive",
    )
    randomize_parameters(model.predictor)
    with torch.no_grad():  # actions move the energy far above float rounding (a random predictor barely reads them,
        model.predictor.action_encoder.weight.mul_(100)  # and CEM's top-k among 1e-7 ties would be decided by noise)
    return model.eval()


def _eager_step(predictor, frames, actions, states, past_frames: int):
    """The eager cached predictor: `past_frames` frames into the cache, then one step; (prediction, cache)."""
    cache = predictor.new_cache()
    if past_frames:
        predictor(frames[:, :past_frames].flatten(1, 2), actions[:, :past_frames], states[:, :past_frames], cache=cache)
    t = past_frames
    out = predictor(frames[:, t], actions[:, t : t + 1], states[:, t : t + 1], cache=cache).last_hidden_state
    return out, cache


def _stacked(cache):
    """`(layers, batch, heads, tokens, head_dim)` keys and values of a cache."""
    return (torch.stack([k[:, :, :n] for k, n in zip(cache.keys, cache.lengths)]),
            torch.stack([v[:, :, :n] for v, n in zip(cache.values, cache.lengths)]))


def test_rollout_step_torch_export_any_batch_and_past(tmp_path):
    """One `.pt2` of the step: batch 1 and 3, 0 / 1 / 3 past frames; prediction and new keys/values equal eager."""
    from transformers.exporters import ExportedModel

    predictor = _world_model().predictor
    cfg = predictor.config
    export_rollout_step(predictor, tmp_path, export_format="dynamo")
    step = ExportedModel.from_pretrained(tmp_path, trust_remote_code=True)
    per_frame = cfg.num_cond_tokens + cfg.tokens_per_frame
    for batch, past in ((1, 0), (3, 1), (2, 3)):
        frames = torch.randn(batch, past + 1, cfg.tokens_per_frame, cfg.hidden_size)
        actions, states = torch.randn(batch, past + 1, 2), torch.randn(batch, past + 1, 2)
        with torch.no_grad():
            eager, cache = _eager_step(predictor, frames, actions, states, past)
        keys, values = _stacked(cache)  # the past frames' keys / values, then the new frame's
        split = past * per_frame  # 0 past frames: empty past tensors of the right shape
        out, new_keys, new_values = step(frame=frames[:, past], action=actions[:, past : past + 1],
                                         state=states[:, past : past + 1], past_keys=keys[:, :, :, :split],
                                         past_values=values[:, :, :, :split])
        torch.testing.assert_close(out, eager, rtol=0, atol=PARITY)
        keys, values = keys[:, :, :, split:], values[:, :, :, split:]
        torch.testing.assert_close(new_keys, keys, rtol=0, atol=PARITY)
        torch.testing.assert_close(new_values, values, rtol=0, atol=PARITY)


def test_rollout_step_like_transformers_suite():
    """`torch.export.export(step, args=(), kwargs=inputs, strict=True)` of the step module, as transformers' test."""
    predictor = _world_model().predictor
    cfg = predictor.config
    step = VJEPA2ACRolloutStep(predictor)
    per_frame = cfg.num_cond_tokens + cfg.tokens_per_frame
    past = torch.randn(cfg.pred_num_hidden_layers, 2, cfg.pred_num_attention_heads, per_frame, cfg.head_dim)
    inputs = {"frame": torch.randn(2, cfg.tokens_per_frame, cfg.hidden_size), "action": torch.randn(2, 1, 2),
              "state": torch.randn(2, 1, 2), "past_keys": past, "past_values": past.flip(0)}
    with torch.no_grad():
        program = torch.export.export(step, args=(), kwargs=inputs, strict=True)
        for got, want in zip(program.module()(**inputs), step(**inputs)):
            torch.testing.assert_close(got, want, rtol=0, atol=PARITY)


@pytest.mark.parametrize("strict", [True, False])
def test_ac_predictor_torch_export_like_transformers_suite(strict):
    """transformers' `test_torch_export` on `VJEPA2ACPredictor` (its input checks read values only when not tracing:
    before, the finiteness check was a data-dependent branch and the export failed)."""
    predictor = _world_model().predictor
    cfg = predictor.config
    inputs = {"encoder_hidden_states": torch.randn(2, 2 * cfg.tokens_per_frame, cfg.hidden_size),
              "actions": torch.randn(2, 2, 2), "states": torch.randn(2, 2, 2)}
    with torch.no_grad():
        program = torch.export.export(predictor, args=(), kwargs=inputs, strict=strict)
        torch.testing.assert_close(program.module()(**inputs).last_hidden_state,
                                   predictor(**inputs).last_hidden_state, rtol=0, atol=PARITY)


@pytest.fixture(scope="module")
def onnx_world_model(tmp_path_factory):
    eager = _world_model()
    exported = with_backend(copy.deepcopy(eager), "onnxruntime", tmp_path_factory.mktemp("wm_onnx"))
    return eager, exported


def test_world_model_onnxruntime_encode_and_rollouts(onnx_world_model):
    """Frame encoding, cached rollouts from 1 and 3 context frames and the uncached rollout equal eager."""
    eager, exported = onnx_world_model
    torch.manual_seed(1)
    pixels = torch.randn(1, 3, 3, 64, 64)
    with torch.no_grad():
        z = eager.encode(pixels)
        torch.testing.assert_close(exported.encode(pixels), z, rtol=0, atol=PARITY)
        states, context_actions, actions = torch.randn(1, 3, 2), torch.randn(1, 2, 2), torch.randn(6, 2, 2)
        for args in ((z, states, actions, context_actions), (z[:, :1], states[:, :1], actions)):
            for use_cache in (True, False):
                want = eager.rollout(*args, use_cache=use_cache).predictions
                got = exported.rollout(*args, use_cache=use_cache).predictions
                torch.testing.assert_close(got, want, rtol=0, atol=PARITY)


def test_policy_onnxruntime_plans_the_same_action(onnx_world_model):
    """The CEM policy (same seed) picks the same action with the exported world model (within the parity bound)."""
    from vjepa2_hf.world_model.policy_vjepa2_ac import VJEPA2ACPolicy, VJEPA2ACPolicyConfig

    eager, exported = onnx_world_model
    rng = torch.Generator().manual_seed(0)
    image = (torch.rand(64, 64, 3, generator=rng) * 255).to(torch.uint8).numpy()
    goal = (torch.rand(64, 64, 3, generator=rng) * 255).to(torch.uint8).numpy()
    actions = []
    for model in (eager, exported):
        policy = VJEPA2ACPolicy(model, VJEPA2ACPolicyConfig(num_samples=30, iterations=2, topk=5, seed=0,
                                                            action_low=-0.1, action_high=0.1))
        policy.set_goal(goal)
        actions.append(policy.select_action({"observation.image": image, "observation.state": [0.3, 0.4]}))
    torch.testing.assert_close(actions[1], actions[0], rtol=0, atol=PARITY)


def test_plan_command_backend_onnxruntime_equals_torch(tmp_path):
    """`vjepa2-hf plan --backend onnxruntime` reaches the same outcome as PyTorch on the same seeded episodes."""
    from vjepa2_hf.cli import main

    folder = _world_model(crop=32).save_pretrained(tmp_path / "model")
    reports = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / backend
        assert main(["plan", "--model", str(folder), "--output-dir", str(out), "--image-size", "32",
                     "--eval-episodes", "2", "--samples", "20", "--iterations", "2", "--topk", "5",
                     "--max-steps", "3", "--dtype", "float32", "--backend", backend]) == 0
        reports[backend] = json.loads((out / "report.json").read_text())["planning"]
    assert (tmp_path / "onnxruntime" / "export-onnxruntime" / "rollout_step" / "model.onnx").is_file()
    assert reports["onnxruntime"]["success_rate"] == reports["torch"]["success_rate"]
    for name, value in reports["torch"]["mean_final_distance"].items():
        assert abs(reports["onnxruntime"]["mean_final_distance"][name] - value) <= PARITY


def test_plan_command_int8(tmp_path, capsys):
    """`vjepa2-hf plan --backend onnxruntime --int8` plans with the int8 encoder and rollout step (their own export
    folder) and still reaches the goals PyTorch reaches on the same seeded episodes; `--int8` alone is refused."""
    from vjepa2_hf.cli import main

    folder = _world_model(crop=32).save_pretrained(tmp_path / "model")
    common = ["--model", str(folder), "--image-size", "32", "--eval-episodes", "2", "--samples", "20",
              "--iterations", "2", "--topk", "5", "--max-steps", "3", "--dtype", "float32"]
    reports = {}
    for name, extra in (("torch", []), ("int8", ["--backend", "onnxruntime", "--int8"])):
        assert main(["plan", *common, "--output-dir", str(tmp_path / name), *extra]) == 0
        reports[name] = json.loads((tmp_path / name / "report.json").read_text())["planning"]
    step = tmp_path / "int8" / "export-onnxruntime-int8" / "rollout_step" / "model.onnx"
    assert step.is_file() and not (tmp_path / "int8" / "export-onnxruntime").exists()
    import onnx

    assert any(node.op_type == "MatMulInteger" for node in onnx.load(str(step), load_external_data=False).graph.node)
    assert reports["int8"]["success_rate"]["vjepa2_ac_cem"] >= reports["torch"]["success_rate"]["vjepa2_ac_cem"]
    capsys.readouterr()
    assert main(["plan", *common, "--output-dir", str(tmp_path / "bad"), "--int8"]) == 2
    err = capsys.readouterr().err
    assert "--int8 plans with the ONNX Runtime int8 graphs: add --backend onnxruntime (got --backend torch)" in err
    assert not (tmp_path / "bad").exists()


def test_plan_command_openvino_bfloat16(tmp_path):
    """`vjepa2-hf plan --backend openvino --dtype bfloat16`: the parts exported from the float32 weights, run by
    OpenVINO in bf16, reach the goals PyTorch fp32 reaches on the same seeded episodes; the OpenVINO world model in
    bf16 rolls out within bf16 rounding of the f32 one."""
    import importlib.util

    if importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino not installed (extra `deploy`)")
    from vjepa2_hf.cli import main

    folder = _world_model(crop=32).save_pretrained(tmp_path / "model")
    common = ["--model", str(folder), "--image-size", "32", "--eval-episodes", "2", "--samples", "20",
              "--iterations", "2", "--topk", "5", "--max-steps", "3"]
    reports = {}
    for name, extra in (("torch", ["--dtype", "float32"]), ("ov", ["--backend", "openvino", "--dtype", "bfloat16"])):
        assert main(["plan", *common, "--output-dir", str(tmp_path / name), *extra]) == 0
        reports[name] = json.loads((tmp_path / name / "report.json").read_text())["planning"]
    assert reports["ov"]["success_rate"]["vjepa2_ac_cem"] >= reports["torch"]["success_rate"]["vjepa2_ac_cem"]
    models = {p: with_backend(VJEPA2WorldModel.from_pretrained(folder, dtype="float32"), "openvino",
                              tmp_path / "ov" / "export-openvino", precision=p) for p in ("f32", "bf16")}
    torch.manual_seed(1)
    pixels, states, actions, context_actions = (torch.randn(1, 2, 3, 32, 32), torch.randn(1, 2, 2),
                                                torch.randn(4, 2, 2), torch.randn(1, 1, 2))
    with torch.no_grad():
        z = {p: m.encode(pixels) for p, m in models.items()}
        rollouts = {p: m.rollout(z["f32"], states, actions, context_actions).predictions for p, m in models.items()}
    assert 1e-4 < (z["bf16"] - z["f32"]).abs().max() < 0.2
    assert 1e-4 < (rollouts["bf16"] - rollouts["f32"]).abs().max() < 0.2
