"""`vjepa2-hf quickstart` end to end in a small setting: data, pretraining, two probes, pipeline, report."""

from __future__ import annotations

import json
import logging

from vjepa2_hf.cli import main
from vjepa2_hf.workflows.quickstart import SMALL_SETTINGS


def test_quickstart_small_end_to_end(tmp_path):
    out = tmp_path / "qs"
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("transformers").addHandler(handler)  # transformers' loggers do not propagate to pytest's
    try:
        assert main(["quickstart", "--small", "--output-dir", str(out), "--no_progress"]) == 0
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    # quiet: only the summary, no load reports of the new probe heads
    assert not [r for r in records if "LOAD REPORT" in r.getMessage()]
    summary = json.loads((out / "results.json").read_text())
    report = (out / "report.md").read_text()

    # pretraining ran and its loss is reported
    assert summary["pretraining"]["steps"] == SMALL_SETTINGS["pretrain_steps"]
    assert f"{summary['pretraining']['last_loss']:.4f}" in report
    assert summary["pretraining"]["last_loss"] < summary["pretraining"]["first_loss"]

    # both probes were trained and evaluated; the table holds the measured numbers
    assert set(summary["results"]) == {"pretrained (tiny V-JEPA 2)", "random init (same shape)"}
    for name, metrics in summary["results"].items():
        assert 0.0 <= metrics["eval_accuracy"] <= 1.0
        assert f"| {name} | {metrics['eval_accuracy']:.3f} |" in report
    assert "| chance | 0.083 |" in report  # camera motion over photographs: 12 classes
    # the difference is judged against the held-out sampling noise, computed from the two accuracies
    (pa, pb) = [m["eval_accuracy"] for m in summary["results"].values()]
    num_eval = 24  # 25% of SMALL_SETTINGS' 96 clips
    noise = ((pa * (1 - pa) + pb * (1 - pb)) / num_eval) ** 0.5
    verdict = "beyond" if abs(pa - pb) > 2 * noise else "within"
    assert f"With {num_eval} held-out clips the standard error of the difference is {noise:.3f}" in report
    assert f"the difference is {verdict} two standard errors" in report

    # every frozen-feature protocol ran for both encoders; the report shows each with its standard error
    protocols = summary["protocols"]
    assert set(protocols) == set(summary["results"])
    for name, row in protocols.items():
        assert set(row) == {"knn", "linear_mean", "linear_mean_std", "low_shot", "attentive"}
        for protocol, r in row.items():
            assert 0.0 <= r["accuracy"] <= 1.0
            assert abs(r["accuracy"] - sum(r["accuracies"]) / len(r["accuracies"])) < 1e-9
            # mean over seeds of each seed's binomial SE on the held-out clips
            se = sum((a * (1 - a) / num_eval) ** 0.5 for a in r["accuracies"]) / len(r["accuracies"])
            if protocol != "low_shot":
                assert abs(r["se_clips"] - se) < 1e-6, (name, protocol)
            assert f"{r['accuracy']:.3f} ± {r['se_clips']:.3f}" in report
    # the pretrained encoder is not below chance on the pooled protocols (one-sided, 2 SE of 24 clips)
    pretrained = protocols["pretrained (tiny V-JEPA 2)"]
    for protocol in ("knn", "linear_mean", "linear_mean_std"):
        assert pretrained[protocol]["accuracy"] >= 1 / 12 - 2 * (1 / 12 * 11 / 12 / num_eval) ** 0.5, protocol

    # the pretraining callback tracked kNN / pooled-linear accuracy; its table and PNG are in the report
    tracking = summary["pretraining"]["tracking"]
    assert [h["step"] for h in tracking["history"]][0] == 1 and tracking["history"][-1]["step"] == 12
    for h in tracking["history"]:
        assert f"| {h['step']} | {h['knn']:.3f} | {h['linear_mean']:.3f} |" in report
    assert f"| random encoders | {tracking['random']['knn']:.3f} |" in report

    # the pipeline labelled a held-out mp4; a wrong top-1 is called wrong
    prediction = summary["pipeline_prediction"]
    if prediction["correct"]:
        assert "Top-1 prediction: correct." in report
    else:
        assert f"**wrong**: the true label is {prediction['true_label']}" in report
    # the pipeline labelled a held-out mp4
    prediction = summary["pipeline_prediction"]
    assert prediction["video"].endswith(".mp4") and len(prediction["top"]) == 3
    assert prediction["top"][0]["label"] in report

    # plots are PNG files referenced by the report; model folders carry model cards
    plots = sorted((out / "plots").glob("*.png"))
    assert [p.name for p in plots] == ["frozen_feature_curves.png", "pretraining_loss.png", "probe_curves.png"]
    for plot in plots:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert plot.relative_to(out).as_posix() in report
    for folder in ("pretrained-probe", "random-probe"):
        card = (out / "models" / folder / "README.md").read_text()
        assert "pipeline_tag: video-classification" in card and "${" not in card
    assert "randomly initialised" in (out / "models" / "random-probe" / "README.md").read_text()
    assert (out / "pretrain" / "final" / "model.safetensors").is_file()


def test_quickstart_scales_the_tiny_recipe_schedule_to_a_shorter_run():
    from vjepa2_hf.pretraining import load_pretraining_config
    from vjepa2_hf.workflows.quickstart import QuickstartSettings, _scaled_schedule

    recipe = load_pretraining_config("tiny").optimization
    assert QuickstartSettings().pretrain_steps is None  # the default run is the recipe's own length
    assert _scaled_schedule(recipe.total_steps, recipe) == []
    half = recipe.total_steps // 2
    assert _scaled_schedule(half, recipe) == [
        f"optimization.warmup_steps={round(recipe.warmup_steps / 2)}",
        f"optimization.cooldown_steps={round(recipe.cooldown_steps / 2)}",
    ]
    assert _scaled_schedule(2, recipe) == ["optimization.warmup_steps=1", "optimization.cooldown_steps=1"]


def test_quickstart_rejects_bad_data_before_pretraining(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--small", "--data", str(tmp_path / "missing"), "--output-dir", str(out),
                 "--no_progress"]) != 0
    err = capsys.readouterr().err
    assert "--data" in err and "missing" in err and "Traceback" not in err
    assert not (out / "pretrain").exists()  # it stopped before pretraining


def test_quickstart_small_with_moving_shapes(tmp_path):
    out = tmp_path / "qs"
    assert main(["quickstart", "--small", "--content", "shapes", "--output-dir", str(out), "--no_progress"]) == 0
    summary = json.loads((out / "results.json").read_text())
    report = (out / "report.md").read_text()
    assert "| chance | 0.125 |" in report  # 8 directions of motion
    assert "synthetic moving shapes" in report and "`tiny` recipe (moving shapes)" in report
    assert "tracking" not in summary["pretraining"]
    info = json.loads((out / "data" / "dataset_info.json").read_text())
    assert (info["content"], info["task"], info["size"]) == ("shapes", "direction", 64)


def test_quickstart_without_the_photographs_says_what_to_install(tmp_path, capsys, monkeypatch):
    import vjepa2_hf.video.natural_synthetic as natural

    monkeypatch.setattr(natural, "natural_content_available", lambda: False)
    out = tmp_path / "qs"
    assert main(["quickstart", "--small", "--output-dir", str(out), "--no_progress"]) != 0
    err = capsys.readouterr().err
    assert "pip install 'vjepa2-hf[natural]'" in err and "--content shapes" in err and "Traceback" not in err
    assert not (out / "pretrain").exists()
