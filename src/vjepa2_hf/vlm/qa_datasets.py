"""Video-QA data: one record format, loaders for benchmark annotation files, a Dataset and a collator.

The package's own format is JSON (a list) or JSONL (one object per line), one question per record:

```json
{"video": "clips/0001.mp4", "question": "Which way does the square move?",
 "options": ["left", "right", "up", "down"], "answer": 1,
 "qid": "0001", "pair_id": null, "group_id": null, "dimension": "direction"}
```

* `video` (aliases `video_path`, `path`, `video_name`, `video_id`): relative to `video_root` (default: the file's
  folder). A name without extension is resolved to an existing `.mp4` / `.webm` / `.mkv` / `.avi` / `.mov` file.
* `answer`: an option index (int), a letter (`"B"`, `"(B)"`), or the option text; `answer_idx` / `answer_id` are
  accepted too. Without `options` the record is free-form QA and `answer` is the reference text.
* `pair_id` groups minimal-change pairs (MVP: paired accuracy), `group_id` groups the binary questions of one item
  (TemporalBench: multi-binary accuracy), `dimension` names a breakdown (TempCompass dimension, PerceptionTest
  area, MVBench task).

Loaders for the benchmarks' own annotation files (`load_qa_records(path, format=...)`):

* `perceptiontest`: the official `mc_question` JSON (`{video_id: {"metadata": ..., "mc_question": [{"question",
  "options", "answer_id", "area", ...}]}}`) or the flat lmms-eval rows (`video_name`, `question`, `options`,
  `answer_id`).
* `tempcompass`: the official multi-choice JSON (`{video_id: {dimension: [{"question": "...\\nA. x\\nB. y",
  "answer": "B. y"}]}}`): options are parsed from the question lines.
* `mvbench`: one task file (a list of `{"video", "question", "candidates", "answer": "<text>"}`); the task is the
  file name.
* `mvp` / `temporalbench`: the package format with `pair_id` / `group_id` on every record.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from .scoring import LETTERS, build_messages

QA_FORMATS = ("auto", "json", "jsonl", "perceptiontest", "tempcompass", "mvbench", "mvp", "temporalbench")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")
_VIDEO_KEYS = ("video", "video_path", "path", "video_name", "video_id", "vid")
_ANSWER_KEYS = ("answer", "answer_idx", "answer_id", "answer_index", "label")


@dataclass
class VideoQARecord:
    """One question about one video.

    Attributes:
        video: resolved file path (or an in-memory `[T, H, W, 3]` array for synthetic data).
        question: the question stem (without options).
        options: answer options (empty for free-form QA).
        answer: index of the correct option, or None (unlabelled test data / free-form).
        answer_text: reference answer of free-form QA.
        qid: question id. pair_id / group_id: MVP pairs, TemporalBench groups. dimension: breakdown key.
        extra: everything else in the source record (start / end times, tags, ...).
    """

    video: Any
    question: str
    options: list[str] = field(default_factory=list)
    answer: int | None = None
    answer_text: str | None = None
    qid: str = ""
    pair_id: str | None = None
    group_id: str | None = None
    dimension: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if not isinstance(d["video"], (str, os.PathLike)):
            raise ValueError("only records whose `video` is a file path can be written to JSON")
        d["video"] = os.fspath(d["video"])
        return d


def _resolve_video(name: Any, video_root: str | None) -> Any:
    if not isinstance(name, (str, os.PathLike)):
        return name
    name = os.fspath(name)
    path = name if os.path.isabs(name) or video_root is None else os.path.join(video_root, name)
    if not os.path.exists(path) and not os.path.splitext(path)[1]:
        for suffix in VIDEO_SUFFIXES:
            if os.path.exists(path + suffix):
                return path + suffix
        return path + ".mp4"
    return path


def _parse_answer(value: Any, options: Sequence[str], where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{where}: `answer` must be an option index, a letter or the option text, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value < len(options):
            raise ValueError(f"{where}: answer index {value} is out of range for {len(options)} options")
        return value
    text = str(value).strip()
    if text.isdigit() and not any(str(o).strip() == text for o in options):
        return _parse_answer(int(text), options, where)
    for i, opt in enumerate(options):  # the option text first (MVBench answers are texts)
        if text.lower() == str(opt).strip().lower():
            return i
    # then a letter: "B", "(B)", "B.", "B. text", "(B) text" (a bare letter followed by words is not a letter)
    m = re.fullmatch(r"\(?([A-J])(?:(?:\)|[.:])(?:\s*.*)?)?", text, flags=re.S)
    if m and LETTERS.index(m.group(1)) < len(options):
        return LETTERS.index(m.group(1))
    raise ValueError(f"{where}: answer {value!r} is neither an index, a letter nor one of the options {list(options)}")


def _first(rec: dict[str, Any], keys: Sequence[str]) -> Any:
    for k in keys:
        if k in rec and rec[k] is not None:
            return rec[k]
    return None


def record_from_dict(rec: dict[str, Any], video_root: str | None = None, where: str = "record") -> VideoQARecord:
    """One package-format record (see the module docstring) -> [`VideoQARecord`]."""
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    video = _first(rec, _VIDEO_KEYS)
    if video is None:
        raise ValueError(f"{where}: no video field (one of {list(_VIDEO_KEYS)}) in keys {sorted(rec)}")
    if "question" not in rec:
        raise ValueError(f"{where}: no `question` field in keys {sorted(rec)}")
    options = rec.get("options", rec.get("candidates")) or []
    if not isinstance(options, (list, tuple)):
        raise ValueError(f"{where}: `options` must be a list of strings, got {type(options).__name__}")
    options = [str(o) for o in options]
    raw_answer = _first(rec, _ANSWER_KEYS)
    answer, answer_text = (None, None)
    if options:
        answer = _parse_answer(raw_answer, options, where)
    elif raw_answer is not None:
        answer_text = str(raw_answer)
    if answer_text is None and rec.get("answer_text") is not None:
        answer_text = str(rec["answer_text"])
    known = (
        set(_VIDEO_KEYS)
        | set(_ANSWER_KEYS)
        | {
            "question",
            "options",
            "candidates",
            "qid",
            "id",
            "question_id",
            "pair_id",
            "group_id",
            "dimension",
            "dim",
            "task",
            "area",
            "answer_text",
            "extra",
        }
    )
    extra = dict(rec.get("extra") or {})
    extra.update({k: v for k, v in rec.items() if k not in known})
    return VideoQARecord(
        video=_resolve_video(video, video_root),
        question=str(rec["question"]),
        options=options,
        answer=answer,
        answer_text=answer_text,
        qid=str(_first(rec, ("qid", "question_id", "id")) or ""),
        pair_id=None if rec.get("pair_id") is None else str(rec["pair_id"]),
        group_id=None if rec.get("group_id") is None else str(rec["group_id"]),
        dimension=_first(rec, ("dimension", "dim", "task", "area")),
        extra=extra,
    )


def _read_json_or_jsonl(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".jsonl"):
        rows = []
        for i, line in enumerate(text.splitlines()):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{i + 1}: invalid JSON line ({e})") from e
        return rows
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e}); use .jsonl for one object per line") from e


def _detect_format(data: Any) -> str:
    if isinstance(data, dict):
        first = next(iter(data.values()), None)
        if isinstance(first, dict) and "mc_question" in first:
            return "perceptiontest"
        if isinstance(first, dict) and all(isinstance(v, list) for v in first.values()):
            return "tempcompass"
        raise ValueError("cannot detect the annotation format of a JSON object; pass `format=`")
    if isinstance(data, list) and data:
        row = data[0]
        if isinstance(row, dict) and "candidates" in row:
            return "mvbench"
        if isinstance(row, dict) and "answer_id" in row and "video_name" in row:
            return "perceptiontest"
        return "json"
    raise ValueError("empty or unrecognised annotation file")


def _load_perceptiontest(data: Any, video_root: str | None) -> list[VideoQARecord]:
    if isinstance(data, list):  # flat lmms-eval rows
        return [record_from_dict({**r, "dimension": r.get("area")}, video_root, f"row {i}") for i, r in enumerate(data)]
    out = []
    for vid, entry in data.items():
        video_id = entry.get("metadata", {}).get("video_id", vid)
        for q in entry.get("mc_question", []):
            rec = {
                "video": video_id,
                "question": q["question"],
                "options": q["options"],
                "answer": q.get("answer_id"),
                "qid": f"{video_id}_{q.get('id', len(out))}",
                "dimension": q.get("area"),
                "reasoning": q.get("reasoning"),
                "tag": q.get("tag"),
            }
            out.append(record_from_dict(rec, video_root, f"{vid} question {q.get('id')}"))
    return out


_OPTION_LINE = re.compile(r"^\s*\(?([A-J])[.)]\s*(.+?)\s*$")


def split_question_options(text: str) -> tuple[str, list[str]]:
    """Split `"stem\\nA. x\\nB. y"` (or `(A) x` lines) into the stem and the option texts."""
    stem, options = [], []
    for line in text.splitlines():
        m = _OPTION_LINE.match(line)
        if m and LETTERS.index(m.group(1)) == len(options):
            options.append(m.group(2))
        elif not options:
            stem.append(line)
    return "\n".join(stem).strip(), options


def _load_tempcompass(data: Any, video_root: str | None) -> list[VideoQARecord]:
    out = []
    for vid, dims in data.items():
        for dim, questions in dims.items():
            for k, q in enumerate(questions):
                stem, options = split_question_options(q["question"])
                if not options:
                    raise ValueError(f"TempCompass {vid}/{dim}/{k}: no 'A. ...' option lines in the question")
                ans = str(q.get("answer", "")).strip()
                rec = {
                    "video": vid,
                    "question": stem,
                    "options": options,
                    "answer": ans[:1] if ans else None,
                    "qid": f"{vid}_{dim}_{k}",
                    "dimension": dim,
                }
                out.append(record_from_dict(rec, video_root, f"TempCompass {vid}/{dim}/{k}"))
    return out


def _load_mvbench(data: Any, video_root: str | None, task: str) -> list[VideoQARecord]:
    out = []
    for i, r in enumerate(data):
        rec = dict(r)
        rec.setdefault("qid", f"{task}_{i}")
        rec.setdefault("task", task)
        out.append(record_from_dict(rec, video_root, f"MVBench {task} row {i}"))
    return out


def load_qa_records(
    path: str | os.PathLike, format: str = "auto", video_root: str | os.PathLike | None = None
) -> list[VideoQARecord]:
    """Read a QA annotation file (package JSON / JSONL or a benchmark's own format) into records.

    Args:
        path: the annotation file.
        format: one of `QA_FORMATS` (`"auto"` detects the package format, PerceptionTest, TempCompass, MVBench).
        video_root: folder the video names are relative to (default: the annotation file's folder).
    """
    path = os.fspath(path)
    if format not in QA_FORMATS:
        raise ValueError(f"`format` must be one of {QA_FORMATS}, got {format!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"QA annotation file not found: {path}")
    root = os.fspath(video_root) if video_root is not None else os.path.dirname(os.path.abspath(path))
    data = _read_json_or_jsonl(path)
    fmt = _detect_format(data) if format == "auto" else format
    if fmt == "perceptiontest":
        records = _load_perceptiontest(data, root)
    elif fmt == "tempcompass":
        records = _load_tempcompass(data, root)
    elif fmt == "mvbench":
        records = _load_mvbench(data, root, os.path.splitext(os.path.basename(path))[0])
    else:
        if not isinstance(data, list):
            raise ValueError(f"{path}: the package format is a JSON list or JSONL of records, got a JSON object")
        records = [record_from_dict(r, root, f"{path} record {i}") for i, r in enumerate(data)]
        if fmt == "mvp" and any(r.pair_id is None for r in records):
            raise ValueError(f"{path}: MVP-style data needs a `pair_id` on every record")
        if fmt == "temporalbench" and any(r.group_id is None for r in records):
            raise ValueError(f"{path}: TemporalBench-style data needs a `group_id` on every record")
    if not records:
        raise ValueError(f"{path}: no questions found")
    return records


def write_qa_records(records: Sequence[VideoQARecord], path: str | os.PathLike) -> str:
    """Write records as JSONL (videos as paths relative to the file's folder when possible)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            d = r.to_json()
            if os.path.isabs(d["video"]) and os.path.commonpath([folder, d["video"]]) == folder:
                d["video"] = os.path.relpath(d["video"], folder)
            f.write(json.dumps(d) + "\n")
    return path


class VideoQADataset(Dataset):
    """Records -> chat conversations with the answer (for training) or without (for evaluation).

    Args:
        records: [`VideoQARecord`]s (multiple choice needs `answer`; free-form needs `answer_text`).
        with_answer: add the assistant turn (training).
        preload_frames: decode every video once, up front (`num_frames` uniformly sampled frames kept as uint8), so
            epochs do not decode again. Fine for small sets; leave False for large ones (decode in DataLoader workers).
        num_frames: frames to keep when preloading.
    """

    def __init__(
        self,
        records: Sequence[VideoQARecord],
        *,
        with_answer: bool = True,
        preload_frames: bool = False,
        num_frames: int | None = None,
    ) -> None:
        self.records = list(records)
        self.with_answer = with_answer
        self._frames: list[Any] | None = None
        if with_answer:
            for r in self.records:
                if r.options and r.answer is None:
                    raise ValueError(f"record {r.qid!r} has options but no answer: cannot train on it")
                if not r.options and r.answer_text is None:
                    raise ValueError(f"record {r.qid!r} has neither options nor an answer text")
        if preload_frames:
            if num_frames is None:
                raise ValueError("`preload_frames=True` needs `num_frames`")
            from .processing_vjepa2_vlm import load_video_frames

            self._frames = [load_video_frames(r.video, num_frames) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        r = self.records[i]
        video = self._frames[i] if self._frames is not None else r.video
        answer = None
        if self.with_answer:
            answer = r.answer if r.options else r.answer_text
        return {"messages": build_messages(video, r.question, r.options or None, answer), "qid": r.qid}


class VideoQACollator:
    """Batches of [`VideoQADataset`] items -> model inputs with answer-only labels (right padding)."""

    def __init__(self, processor: Any, num_frames: int | None = None) -> None:
        self.processor = processor
        self.num_frames = num_frames

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.processor.apply_chat_template(
            [it["messages"] for it in items],
            tokenize=True,
            return_dict=True,
            return_labels=True,
            num_frames=self.num_frames,
            padding_side="right",
        )
        return dict(batch)


__all__ = [
    "QA_FORMATS",
    "VideoQACollator",
    "VideoQADataset",
    "VideoQARecord",
    "load_qa_records",
    "record_from_dict",
    "split_question_options",
    "write_qa_records",
]
