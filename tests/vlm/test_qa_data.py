"""QA annotation formats (package JSON / JSONL, PerceptionTest, TempCompass, MVBench, MVP, TemporalBench), written as
small files in the test, and the benchmark scoring rules."""

from __future__ import annotations

import json

import pytest

from vjepa2_hf.vlm import load_qa_records, multi_binary_accuracy, paired_accuracy, score_predictions, write_qa_records
from vjepa2_hf.vlm.qa_datasets import VideoQADataset, split_question_options


def _write(path, obj, jsonl=False):
    with open(path, "w") as f:
        if jsonl:
            for o in obj:
                f.write(json.dumps(o) + "\n")
        else:
            json.dump(obj, f)
    return path


def test_package_jsonl_and_json(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "clip1.webm").write_bytes(b"")
    rows = [
        {"video": "v/clip1", "question": "Which way?", "options": ["left", "right"], "answer": 1, "qid": "q1"},
        {"video_path": "v/clip2.mp4", "question": "Which way?", "options": ["left", "right"], "answer": "A"},
        {
            "video": "v/clip3.mp4",
            "question": "Which way?",
            "options": ["left", "right"],
            "answer": "right",
            "dimension": "dir",
        },
        {"video": "v/clip4.mp4", "question": "Describe it.", "answer": "a red square"},
    ]
    recs = load_qa_records(_write(tmp_path / "qa.jsonl", rows, jsonl=True))
    assert [r.answer for r in recs] == [1, 0, 1, None]
    assert recs[0].video == str(tmp_path / "v" / "clip1.webm")  # extension resolved to the existing file
    assert recs[1].video == str(tmp_path / "v" / "clip2.mp4") and recs[2].dimension == "dir"
    assert recs[3].options == [] and recs[3].answer_text == "a red square"
    same = load_qa_records(_write(tmp_path / "qa.json", rows))
    assert [r.answer for r in same] == [1, 0, 1, None]
    # write / read round trip keeps everything
    out = write_qa_records(recs, tmp_path / "copy.jsonl")
    again = load_qa_records(out)
    assert [(r.video, r.question, r.options, r.answer, r.answer_text, r.qid) for r in again] == [
        (r.video, r.question, r.options, r.answer, r.answer_text, r.qid) for r in recs
    ]


def test_package_format_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_qa_records(tmp_path / "nope.jsonl")
    bad = _write(
        tmp_path / "bad.jsonl", [{"video": "a.mp4", "question": "q", "options": ["x", "y"], "answer": 5}], jsonl=True
    )
    with pytest.raises(ValueError, match="answer index 5 is out of range for 2 options"):
        load_qa_records(bad)
    bad = _write(tmp_path / "bad2.jsonl", [{"question": "q"}], jsonl=True)
    with pytest.raises(ValueError, match="no video field"):
        load_qa_records(bad)
    bad = _write(
        tmp_path / "bad3.jsonl",
        [{"video": "a.mp4", "question": "q", "options": ["x", "y"], "answer": "A dog"}],
        jsonl=True,
    )
    with pytest.raises(ValueError, match="neither an index, a letter nor one of the options"):
        load_qa_records(bad)
    (tmp_path / "broken.jsonl").write_text('{"video": "a.mp4"\n')
    with pytest.raises(ValueError, match="broken.jsonl:1: invalid JSON"):
        load_qa_records(tmp_path / "broken.jsonl")


def test_perceptiontest_official_and_flat(tmp_path):
    official = {
        "video_1": {
            "metadata": {"video_id": "video_1", "num_frames": 300},
            "mc_question": [
                {
                    "id": 0,
                    "question": "What is the person doing?",
                    "options": ["a", "b", "c"],
                    "answer_id": 2,
                    "area": "physics",
                    "reasoning": "descriptive",
                    "tag": ["action"],
                },
                {
                    "id": 1,
                    "question": "How many objects?",
                    "options": ["1", "2", "3"],
                    "answer_id": 0,
                    "area": "memory",
                },
            ],
        }
    }
    recs = load_qa_records(_write(tmp_path / "pt.json", official), video_root=tmp_path / "videos")
    assert [(r.qid, r.answer, r.dimension) for r in recs] == [("video_1_0", 2, "physics"), ("video_1_1", 0, "memory")]
    assert recs[0].video == str(tmp_path / "videos" / "video_1.mp4") and recs[0].extra["tag"] == ["action"]
    flat = [
        {"video_name": "video_1", "question": "q", "options": ["a", "b", "c"], "answer_id": 1, "area": "abstraction"}
    ]
    recs = load_qa_records(_write(tmp_path / "pt_flat.json", flat))
    assert recs[0].answer == 1 and recs[0].dimension == "abstraction"


def test_tempcompass_multi_choice(tmp_path):
    data = {
        "1001": {
            "direction": [
                {"question": "Which direction does the car move?\nA. left\nB. right\nC. up", "answer": "B. right"}
            ],
            "speed": [{"question": "How fast?\n(A) slow\n(B) fast", "answer": "A"}],
        }
    }
    recs = load_qa_records(_write(tmp_path / "multi-choice.json", data))
    assert [(r.question, r.options, r.answer, r.dimension) for r in recs] == [
        ("Which direction does the car move?", ["left", "right", "up"], 1, "direction"),
        ("How fast?", ["slow", "fast"], 0, "speed"),
    ]
    assert split_question_options("Q\nA) x\nB) y") == ("Q", ["x", "y"])


def test_mvbench_task_file(tmp_path):
    rows = [
        {"video": "a.mp4", "question": "What happens?", "candidates": ["opens", "closes", "A"], "answer": "A"},
        {"video": "b.mp4", "question": "What happens?", "candidates": ["opens", "closes"], "answer": "closes"},
    ]
    recs = load_qa_records(_write(tmp_path / "action_sequence.json", rows))
    assert [r.answer for r in recs] == [2, 1]  # the option text wins over a letter reading
    assert {r.dimension for r in recs} == {"action_sequence"}


def test_grouped_formats_and_rules(tmp_path):
    rows = [
        {"video": "a.mp4", "question": "q", "options": ["x", "y"], "answer": 0, "pair_id": "p1", "group_id": "g1"},
        {"video": "b.mp4", "question": "q", "options": ["x", "y"], "answer": 1, "pair_id": "p1", "group_id": "g1"},
        {"video": "c.mp4", "question": "q", "options": ["x", "y"], "answer": 0, "pair_id": "p2", "group_id": "g2"},
        {"video": "d.mp4", "question": "q", "options": ["x", "y"], "answer": 1, "pair_id": "p2", "group_id": "g3"},
    ]
    path = _write(tmp_path / "mvp.jsonl", rows, jsonl=True)
    recs = load_qa_records(path, format="mvp")
    preds = [0, 1, 0, 0]  # pair p1 right, pair p2 half right
    assert paired_accuracy(preds, [0, 1, 0, 1], ["p1", "p1", "p2", "p2"]) == 0.5
    assert multi_binary_accuracy(preds, [0, 1, 0, 1], ["g1", "g1", "g2", "g3"]) == 2 / 3
    mvp = score_predictions(recs, preds, "mvp")
    assert mvp["metric"] == "paired_accuracy" and mvp["score"] == 0.5 and mvp["accuracy"] == 0.75
    tb = score_predictions(load_qa_records(path, format="temporalbench"), preds, "temporalbench")
    assert tb["metric"] == "multi_binary_accuracy" and tb["score"] == pytest.approx(2 / 3)
    assert tb["chance"] == 0.5
    no_pairs = _write(
        tmp_path / "nopair.jsonl", [{k: v for k, v in r.items() if k != "pair_id"} for r in rows], jsonl=True
    )
    with pytest.raises(ValueError, match="needs a `pair_id`"):
        load_qa_records(no_pairs, format="mvp")


def test_score_predictions_counts_unparsed_as_wrong(tmp_path):
    rows = [
        {"video": f"{i}.mp4", "question": "q", "options": ["x", "y", "z"], "answer": i % 3, "dimension": f"d{i % 2}"}
        for i in range(6)
    ]
    recs = load_qa_records(_write(tmp_path / "a.jsonl", rows, jsonl=True))
    m = score_predictions(recs, [0, 1, -1, 0, 1, 2], "json")
    assert m["accuracy"] == 5 / 6 and m["num_unparsed"] == 1 and m["chance"] == pytest.approx(1 / 3)
    assert m["by_dimension"] == {"d0": pytest.approx(2 / 3), "d1": 1.0}


def test_dataset_items_are_training_conversations(tmp_path):
    rows = [{"video": "a.mp4", "question": "Which way?", "options": ["left", "right"], "answer": 1}]
    ds = VideoQADataset(load_qa_records(_write(tmp_path / "a.jsonl", rows, jsonl=True)))
    item = ds[0]["messages"]
    assert item[1] == {"role": "assistant", "content": "B"}
    assert item[0]["content"][1]["text"].splitlines()[1:3] == ["(A) left", "(B) right"]
    unlabeled = [{"video": "a.mp4", "question": "Which way?", "options": ["left", "right"]}]
    with pytest.raises(ValueError, match="no answer"):
        VideoQADataset(load_qa_records(_write(tmp_path / "b.jsonl", unlabeled, jsonl=True)))
