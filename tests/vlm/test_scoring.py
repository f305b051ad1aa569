"""Multiple-choice scoring (letter log-likelihood, option-text log-likelihood, generate-then-parse), the evaluation
loop over a benchmark file, and the `video-text-to-text` pipeline."""

from __future__ import annotations

import json
import os

import pytest
import torch
from transformers import pipeline

from vjepa2_hf.vlm import evaluate_benchmark_file, format_mc_question, parse_mc_answer, predict_multiple_choice
from vjepa2_hf.vlm.scoring import build_messages, letter_token_ids
from vjepa2_hf.vlm.synthetic_qa import make_motion_qa

OPTIONS = ["left", "right", "up", "down"]


@pytest.fixture(scope="module")
def motion_files(tmp_path_factory):
    return make_motion_qa(tmp_path_factory.mktemp("mqa"), 8, num_frames=8, size=32, held_out_fraction=0.5)


def test_prompt_format():
    assert format_mc_question("Which way does the square move?", OPTIONS) == (
        "Which way does the square move?\n(A) left\n(B) right\n(C) up\n(D) down\n"
        "Answer with the option's letter from the given choices directly."
    )
    with pytest.raises(ValueError, match="options"):
        format_mc_question("q", [])


@pytest.mark.parametrize(
    "text,expected",
    [
        ("B", 1),
        ("(C) up", 2),
        ("D.", 3),
        ("A) left", 0),
        ("The answer is C", 2),
        ("right", 1),
        ("it goes up.", 2),
        ("Answer: (B)", 1),
        ("E", -1),
        ("no idea", -1),
        ("down-left", -1),
        ("moves to the upper side, up", 2),
    ],
)
def test_parse_mc_answer(text, expected):
    assert parse_mc_answer(text, OPTIONS) == expected


def test_letter_mode_matches_manual_logits(tiny, video):
    model, proc = tiny
    item = {"video": video, "question": "Which way does the square move?", "options": OPTIONS}
    pred = predict_multiple_choice(model, proc, [item, item], mode="letter")
    batch = proc.apply_chat_template(
        build_messages(video, item["question"], OPTIONS), add_generation_prompt=True, tokenize=True
    )
    with torch.no_grad():
        logp = torch.log_softmax(model(**batch).logits[0, -1], -1)
    manual = logp[letter_token_ids(proc.tokenizer, 4)]
    assert torch.allclose(torch.tensor(pred[0].scores), manual, atol=1e-5)
    assert pred[0].index == int(manual.argmax()) and pred[0].scores == pred[1].scores  # batching changes nothing


def test_option_mode_matches_per_option_forward(tiny, video):
    """The option-text scores (video encoded once, shared) equal one full forward pass per option."""
    model, proc = tiny
    item = {"video": video, "question": "Which way does the square move?", "options": OPTIONS}
    pred = predict_multiple_choice(model, proc, [item], mode="option")[0]
    manual = []
    for opt in OPTIONS:
        b = proc.apply_chat_template(
            build_messages(video, item["question"], None, answer=opt), tokenize=True, return_labels=True
        )
        with torch.no_grad():
            logits = model(**{k: v for k, v in b.items() if k != "labels"}).logits[0, :-1]
        target = b["labels"][0, 1:]
        keep = target != -100
        manual.append(torch.log_softmax(logits[keep], -1).gather(-1, target[keep, None]).mean().item())
    assert pred.scores == pytest.approx(manual, abs=1e-5)
    assert pred.index == max(range(4), key=lambda i: manual[i])


def test_generate_mode_parses_the_generation(tiny, video):
    model, proc = tiny
    item = {"video": video, "question": "Which way does the square move?", "options": OPTIONS}
    pred = predict_multiple_choice(model, proc, [item], mode="generate", max_new_tokens=4)[0]
    assert isinstance(pred.text, str) and pred.index == parse_mc_answer(pred.text, OPTIONS)
    with pytest.raises(ValueError, match="mode"):
        predict_multiple_choice(model, proc, [item], mode="ppl")


def test_evaluate_benchmark_file(tmp_path, tiny, motion_files):
    model, proc = tiny
    preds_file = tmp_path / "preds.jsonl"
    m = evaluate_benchmark_file(
        model, proc, motion_files["test"], mode="letter", predictions_file=preds_file, progress=False
    )
    assert m["metric"] == "accuracy" and m["num_questions"] == 4 and m["chance"] == 0.25
    rows = [json.loads(line) for line in preds_file.read_text().splitlines()]
    assert m["accuracy"] == sum(r["prediction"] == r["answer"] for r in rows) / 4


def test_pipeline_with_instances_and_folder(tmp_path, tiny, motion_files, video):
    model, proc = tiny
    pipe = pipeline("video-text-to-text", model=model, processor=proc)
    out = pipe(video, question="Which way does the square move?", options=OPTIONS)
    ref = predict_multiple_choice(
        model, proc, [{"video": video, "question": "Which way does the square move?", "options": OPTIONS}]
    )[0]
    assert (
        out["option_index"] == ref.index and out["answer"] == OPTIONS[ref.index] and out["letter"] == "ABCD"[ref.index]
    )
    batch = pipe(
        [{"video": video, "question": "Which way does the square move?", "options": OPTIONS}] * 2, mode="option"
    )
    assert len(batch) == 2 and batch[0] == batch[1]
    free = pipe({"video": video, "question": "Which way does the square move?"}, max_new_tokens=3)
    assert isinstance(free["generated_text"], str) and "option_index" not in free
    model.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    from_folder = pipeline("video-text-to-text", model=str(tmp_path))
    clip = os.path.join(
        os.path.dirname(motion_files["test"]), json.loads(open(motion_files["test"]).readline())["video"]
    )
    a = from_folder(clip, question="Which way does the square move?", options=OPTIONS)  # a real mp4 file
    b = pipe(clip, question="Which way does the square move?", options=OPTIONS)
    assert a["scores"] == pytest.approx(b["scores"], abs=1e-5)
    with pytest.raises(ValueError, match="question"):
        pipe(video)


def test_eval_script_reports_each_benchmark_rule(tmp_path, tiny, motion_files):
    """`scripts/eval_video_qa.py` on a plain file and on the same questions as MVP pairs (paired accuracy)."""
    import importlib.util

    model, proc = tiny
    model.save_pretrained(tmp_path / "model")
    proc.save_pretrained(tmp_path / "model")
    rows = [json.loads(line) for line in open(motion_files["test"])]
    for i, r in enumerate(rows):
        r["pair_id"] = f"p{i // 2}"
    mvp = tmp_path / "mvp.jsonl"
    mvp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    root = os.path.dirname(motion_files["test"])
    spec = importlib.util.spec_from_file_location(
        "eval_video_qa", os.path.join(os.path.dirname(__file__), "../../scripts/eval_video_qa.py")
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "metrics.json"
    assert (
        script.main(
            [
                "--model",
                str(tmp_path / "model"),
                "--benchmark",
                f"auto={motion_files['test']}",
                "--benchmark",
                f"mvp={mvp}:{root}",
                "--output",
                str(out),
                "--predictions-dir",
                str(tmp_path / "preds"),
            ]
        )
        == 0
    )
    plain, paired = json.load(open(out))
    assert plain["metric"] == "accuracy" and paired["metric"] == "paired_accuracy"
    assert paired["accuracy"] == plain["accuracy"]  # same questions, same answers
    preds = [json.loads(line) for line in open(tmp_path / "preds" / "mvp.jsonl")]
    ok = [p["prediction"] == p["answer"] for p in preds]
    assert len(ok) == 4 and paired["score"] == (int(ok[0] and ok[1]) + int(ok[2] and ok[3])) / 2
