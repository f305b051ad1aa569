"""Multiple-choice video QA: prompts, option scoring by log-likelihood, and generate-then-parse.

Three ways to pick an option, as lmms-eval does for the benchmarks of the paper (see `vlm-design.md` Sec. 3):

* `"letter"` (default, deterministic): one forward pass on the prompt; the option whose letter (`A`, `B`, ...) has the
  highest next-token log-probability after the assistant header wins. The same idea as lmms-eval's `mc_ppl` on
  single-token answers; needs the letters to be single tokens (true for Llama 3, Qwen2 and the tiny tokenizer).
* `"option"`: log-likelihood of each option's *text* as the free-form answer to the question alone (no option list,
  no letter instruction: cloze-style, as lmms-eval's `mc_ppl`), averaged over its tokens (length-normalised); the
  video is encoded once and shared by the options. Meaningful for models that also learned free-text answers.
* `"generate"`: greedy `generate()` then parse the answer: a leading letter (`A`, `(A)`, `A.`), else a standalone
  letter, else the option text (MVBench / TempCompass rule matching). Unparseable answers count as wrong (-1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

LETTERS = "ABCDEFGHIJ"
MC_POST_PROMPT = "Answer with the option's letter from the given choices directly."
SCORING_MODES = ("letter", "option", "generate")


def format_mc_question(question: str, options: Sequence[str], *, post_prompt: str | None = MC_POST_PROMPT) -> str:
    """`question`, one `(A) option` line per option, then the lmms-eval instruction.

    Example: `"Which way does the square move?\\n(A) left\\n(B) right\\n(C) up\\n(D) down\\nAnswer with the option's
    letter from the given choices directly."`
    """
    if not 1 <= len(options) <= len(LETTERS):
        raise ValueError(f"`options` must have 1 to {len(LETTERS)} entries, got {len(options)}")
    lines = [question.strip()] + [f"({LETTERS[i]}) {str(opt).strip()}" for i, opt in enumerate(options)]
    if post_prompt:
        lines.append(post_prompt)
    return "\n".join(lines)


def build_messages(
    video: Any | None,
    question: str,
    options: Sequence[str] | None = None,
    answer: int | str | None = None,
    *,
    media_type: str = "video",
    post_prompt: str | None = MC_POST_PROMPT,
) -> list[dict[str, Any]]:
    """A chat conversation for one QA item: the user turn (media + question [+ options]) and, when `answer` is given,
    the assistant turn (the option letter for multiple choice, the text otherwise)."""
    text = format_mc_question(question, options, post_prompt=post_prompt) if options else question
    content: list[dict[str, Any]] = []
    if video is not None:
        content.append({"type": media_type, media_type: video})
    content.append({"type": "text", "text": text})
    messages = [{"role": "user", "content": content}]
    if answer is not None:
        if options and isinstance(answer, int):
            if not 0 <= answer < len(options):
                raise ValueError(f"`answer` index {answer} is out of range for {len(options)} options")
            answer = LETTERS[answer]
        messages.append({"role": "assistant", "content": str(answer)})
    return messages


def letter_token_ids(tokenizer: Any, num_options: int) -> list[int]:
    """Token ids of the letters `A`.. for `num_options` options; each letter must be a single token."""
    ids = []
    for letter in LETTERS[:num_options]:
        enc = tokenizer.encode(letter, add_special_tokens=False)
        if len(enc) != 1:
            raise ValueError(
                f"letter {letter!r} is not a single token for this tokenizer ({enc}); use mode='option' or 'generate'"
            )
        ids.append(enc[0])
    return ids


_LEAD = re.compile(r"^\s*[\(\[]?\s*([A-J])\s*(?:[\)\].:,]|$|\s)")
_ANY = re.compile(r"(?<![A-Za-z])([A-J])(?![A-Za-z])")


def parse_mc_answer(text: str, options: Sequence[str]) -> int:
    """Option index named by a generated answer, or -1.

    Rules, in order: a leading letter (`"B"`, `"(B)"`, `"B."`, `"B) left"`); the first standalone valid letter; the
    option text (case-insensitive exact match, then the longest option named in the answer; -1 when two equally
    long options are named).
    """
    n = len(options)
    valid = LETTERS[:n]
    m = _LEAD.match(text)
    if m and m.group(1) in valid:
        return valid.index(m.group(1))
    for m in _ANY.finditer(text):
        if m.group(1) in valid:
            return valid.index(m.group(1))
    low = text.strip().lower().rstrip(".")
    for i, opt in enumerate(options):
        if low == str(opt).strip().lower():
            return i
    hits = [
        i
        for i, opt in enumerate(options)
        if str(opt).strip() and re.search(r"(?<!\w)" + re.escape(str(opt).strip().lower()) + r"(?!\w)", low)
    ]
    if not hits:
        return -1
    longest = max(len(str(options[i]).strip()) for i in hits)
    best = [i for i in hits if len(str(options[i]).strip()) == longest]
    return best[0] if len(best) == 1 else -1  # two equally long options named: ambiguous


@dataclass
class MCPrediction:
    """The choice for one item: `index` (-1 when a generated answer could not be parsed), per-option `scores`
    (log-probabilities; empty in generate mode) and the generated `text` (generate mode)."""

    index: int
    scores: list[float] = field(default_factory=list)
    text: str | None = None


def _model_device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _to_device(batch: Any, device: torch.device, dtype: torch.dtype | None) -> dict[str, Any]:
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device)
            if dtype is not None and v.is_floating_point():
                v = v.to(dtype)
        out[k] = v
    return out


@torch.no_grad()
def predict_multiple_choice(
    model: Any,
    processor: Any,
    items: Sequence[dict[str, Any]],
    *,
    mode: str = "letter",
    batch_size: int = 8,
    num_frames: int | None = None,
    max_new_tokens: int = 8,
    post_prompt: str | None = MC_POST_PROMPT,
    progress: bool = False,
) -> list[MCPrediction]:
    """Answer multiple-choice questions.

    Args:
        model: a [`VJEPA2VLMForConditionalGeneration`] (or a PEFT wrapper of it).
        processor: its [`VJEPA2VLMProcessor`].
        items: dicts with `video` (path, array or frames), `question` and `options` (list of strings); optional
            `media_type` (`"video"` default, or `"image"`).
        mode: `"letter"`, `"option"` or `"generate"` (see the module docstring).
        batch_size: questions per forward pass (`"letter"` and `"generate"`).
        num_frames: frames per video (default: the processor's).
        max_new_tokens: generation budget in `"generate"` mode.

    Returns:
        one [`MCPrediction`] per item.
    """
    if mode not in SCORING_MODES:
        raise ValueError(f"`mode` must be one of {SCORING_MODES}, got {mode!r}")
    was_training = model.training
    model.eval()
    device = _model_device(model)
    dtype = next(p for p in model.parameters() if p.is_floating_point()).dtype
    preds: list[MCPrediction] = []
    chunks = (
        [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
        if mode != "option"
        else [[it] for it in items]
    )
    try:
        from tqdm.auto import tqdm

        chunks_iter = tqdm(chunks, desc=f"scoring ({mode})", disable=not progress)
    except ImportError:  # pragma: no cover
        chunks_iter = chunks
    try:
        for chunk in chunks_iter:
            for it in chunk:
                if not it.get("options"):
                    raise ValueError(f"item {it.get('qid', '')!r} has no `options`: multiple-choice scoring needs them")
            if mode == "option":
                preds.append(_score_option_texts(model, processor, chunk[0], num_frames, device, dtype, post_prompt))
                continue
            preds += _score_batch(model, processor, chunk, mode, num_frames, device, dtype, max_new_tokens,
                                  post_prompt)
    finally:
        model.train(was_training)
    return preds


def _score_batch(model, processor, chunk, mode, num_frames, device, dtype, max_new_tokens,
                 post_prompt) -> list[MCPrediction]:
    """`"letter"` (next-token log-probabilities of the option letters) or `"generate"` (parse the answer) on a
    batch of questions."""
    convs = [
        build_messages(
            it["video"],
            it["question"],
            it["options"],
            media_type=it.get("media_type", "video"),
            post_prompt=post_prompt,
        )
        for it in chunk
    ]
    batch = processor.apply_chat_template(
        convs,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        num_frames=num_frames,
        padding_side="left",
    )
    batch = _to_device(batch, device, dtype)
    if mode == "letter":
        logits = model(**batch, logits_to_keep=1).logits[:, -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        preds = []
        for row, it in zip(logp, chunk):
            ids = letter_token_ids(processor.tokenizer, len(it["options"]))
            scores = row[ids]
            preds.append(MCPrediction(int(scores.argmax()), scores.tolist()))
        return preds
    pad = processor.tokenizer.pad_token_id
    gen = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
    texts = processor.batch_decode(gen[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return [MCPrediction(parse_mc_answer(text, it["options"]), [], text) for text, it in zip(texts, chunk)]



def _score_option_texts(model, processor, item, num_frames, device, dtype, post_prompt) -> MCPrediction:
    """Mean log-probability of each option's text as the assistant answer; the video is decoded and encoded once."""
    from .processing_vjepa2_vlm import load_video_frames

    options = [str(o) for o in item["options"]]
    media_type = item.get("media_type", "video")
    media = item["video"]
    if media_type == "video":
        media = load_video_frames(media, processor.num_frames if num_frames is None else num_frames)
    # Cloze-style scoring (lmms-eval `mc_ppl`): the context is the question alone, each option text the continuation.
    convs = [build_messages(media, item["question"], None, answer=opt, media_type=media_type) for opt in options]
    # Labels mark the option tokens of each conversation (the assistant turn, end-of-turn marker included).
    full = processor.apply_chat_template(
        convs, tokenize=True, return_dict=True, return_labels=True, num_frames=num_frames, padding_side="right"
    )
    full = _to_device(full, device, dtype)
    labels = full.pop("labels")
    if media_type == "video":
        feats = model.get_video_features(full.pop("pixel_values_videos")[:1]).pooler_output
        full["video_features"] = feats.expand(len(options), -1, -1)
    logits = model(**full).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    target = labels[:, 1:]
    mask = target != -100
    tok_logp = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
    scores = tok_logp.sum(-1) / mask.sum(-1).clamp(min=1)
    return MCPrediction(int(scores.argmax()), scores.tolist())


__all__ = [
    "LETTERS",
    "MCPrediction",
    "MC_POST_PROMPT",
    "SCORING_MODES",
    "build_messages",
    "format_mc_question",
    "letter_token_ids",
    "parse_mc_answer",
    "predict_multiple_choice",
]
