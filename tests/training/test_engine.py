"""The training engine (`vjepa2_hf.training`): one recipe loader for every Accelerate job, the shared step loop,
the NaN stop and the AdamW groups."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
import torch
import yaml

from vjepa2_hf.training import (
    MetricsLog,
    NonFiniteLossError,
    build_param_groups,
    check_finite_loss,
    dataclass_from_mapping,
    load_recipe_tree,
    run_steps,
)


@dataclass
class _Section:
    lr: float = 1.0
    mixed_precision: str = "bf16"
    sizes: list[int] = field(default_factory=lambda: [1, 2])


def test_recipe_tree_file_overrides_and_validation(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"opt": {"lr": 0.5, "sizes": [4, 5]}, "data": {"sources": [{"path": "a"}]}}))
    tree = load_recipe_tree(path, ["opt.mixed_precision=no", "opt.sizes.1=7", "data.sources.0.path=b", "new.key=1"])
    assert tree["opt"] == {"lr": 0.5, "sizes": [4, 7], "mixed_precision": "no"}  # YAML 1.2: `no` stays a string
    assert tree["data"]["sources"][0]["path"] == "b" and tree["new"] == {"key": 1}
    section = dataclass_from_mapping(_Section, tree["opt"], "opt")
    assert section == _Section(lr=0.5, mixed_precision="no", sizes=[4, 7])
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lrr'\] in `opt`"):
        dataclass_from_mapping(_Section, {"lrr": 1}, "opt")
    with pytest.raises(ValueError, match="is not an index of a list of 2"):
        load_recipe_tree(path, ["opt.sizes.2=1"])
    with pytest.raises(ValueError, match="must look like `section.key=value`"):
        load_recipe_tree(path, ["opt.lr"])
    with pytest.raises(FileNotFoundError, match="train-ac config not found"):
        load_recipe_tree(tmp_path / "missing.yaml", what="train-ac config")


def test_pretraining_and_train_ac_read_recipes_the_same_way(tmp_path):
    """Both jobs go through `load_recipe_tree`: nested dotted overrides reach a train-ac recipe too."""
    from vjepa2_hf.pretraining import load_pretraining_config
    from vjepa2_hf.world_model.training_vjepa2_ac import load_train_ac_config

    path = tmp_path / "ac.yaml"
    path.write_text(yaml.safe_dump({"data": {"path": str(tmp_path)}, "model": {"predictor_overrides": {}}}))
    ac = load_train_ac_config(path, ["model.predictor_overrides.action_dim=2", "optimization.mixed_precision=no"])
    assert ac.model.predictor_overrides == {"action_dim": 2} and ac.optimization.mixed_precision == "no"
    pre = load_pretraining_config("tiny", ["model.config_overrides.drop_path_rate=0.1", "optimization.mixed_precision=no"])
    assert pre.model.config_overrides["drop_path_rate"] == 0.1 and pre.optimization.mixed_precision == "no"
    for load, target in ((lambda o: load_train_ac_config(path, o), "optimization"),
                         (lambda o: load_pretraining_config("tiny", o), "optimization")):
        with pytest.raises(ValueError, match=f"unknown key.*in `{target}`"):
            load([f"{target}.not_a_key=1"])


class _Bar:
    def __init__(self):
        self.updates, self.postfixes, self.closed = 0, [], False

    def update(self, n):
        self.updates += n

    def set_postfix(self, values, refresh=True):
        self.postfixes.append(values)

    def close(self):
        self.closed = True


def test_run_steps_history_log_checkpoints_and_stop(tmp_path):
    log = MetricsLog(tmp_path / "m.jsonl")
    log.rewrite([{"step": 1, "loss": 9.0}])
    history, saved, bar = [{"step": 1, "loss": 9.0}], [], _Bar()
    stopped = run_steps(range(2, 11), lambda i: {"step": i, "loss": 1.0 / i}, history=history, metrics_log=log,
                        checkpoint=saved.append, checkpoint_every=4, total_steps=10, progress=bar,
                        postfix=lambda m: {"loss": f"{m['loss']:.2f}"}, postfix_every=3)
    assert stopped is None and [h["step"] for h in history] == list(range(1, 11))
    assert [e["step"] for e in log.read()] == list(range(1, 11)) and [e["step"] for e in log.read(5)] == [1, 2, 3, 4, 5]
    assert saved == [4, 8, 10] and bar.updates == 9 and len(bar.postfixes) == 3 and bar.closed
    # an early stop checkpoints the step it stops at, and says why
    saved.clear()
    stopped = run_steps(range(1, 11), lambda i: {"step": i}, history=[], metrics_log=MetricsLog(tmp_path / "x", False),
                        checkpoint=saved.append, checkpoint_every=0, total_steps=10,
                        after_step=lambda i, m: "collapse" if i == 3 else None)
    assert stopped == "collapse" and saved == [3] and not (tmp_path / "x").exists()


def test_non_finite_loss_stops_before_the_step_and_names_the_checkpoint(tmp_path):
    check_finite_loss(0.5, 3, None)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss \(nan\) at step 3.*no checkpoint was written"):
        check_finite_loss(math.nan, 3, None)
    bar = _Bar()

    def step(i):
        check_finite_loss(math.inf if i == 2 else 1.0, i, tmp_path / "ckpt", advice="Lower the lr.")
        return {"step": i}

    with pytest.raises(NonFiniteLossError, match=r"\(inf\) at step 2.*last good checkpoint is .*ckpt\. Lower the lr"):
        run_steps(range(1, 5), step, history=[], metrics_log=MetricsLog(tmp_path / "m", False), checkpoint=print,
                  checkpoint_every=0, total_steps=4, progress=bar)
    assert bar.closed and bar.updates == 1


def test_param_groups_decay_weights_only():
    model = torch.nn.Module()
    model.a = torch.nn.Linear(3, 4)
    model.b = torch.nn.LayerNorm(4)
    model.b.weight.requires_grad_(False)
    groups = build_param_groups(model, 0.05, parts=("a", "b"))
    assert [g["names"] for g in groups] == [["a.weight"], [], ["a.bias"], ["b.bias"]]
    assert [g["weight_decay"] for g in groups] == [0.05, 0.05, 0.0, 0.0]
