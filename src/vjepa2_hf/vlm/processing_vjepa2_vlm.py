"""`VJEPA2VLMProcessor`: the LLM's tokenizer plus the V-JEPA 2 video processor, for video (and image) QA.

Design choice. transformers' `ProcessorMixin` only accepts a `video_processor` attribute that is a transformers
`BaseVideoProcessor`, which needs torchvision; this package deliberately has no torchvision dependency and ships its
own pure-torch [`~vjepa2_hf.video.VJEPA2VideoProcessor`]. So the processor is a `ProcessorMixin` whose only
*managed* attribute is the tokenizer; the video processor is held as `frame_processor` and saved / loaded
explicitly (its `video_preprocessor_config.json` next to the tokenizer files and `processor_config.json`). The class
is registered with `AutoProcessor` for `VJEPA2VLMConfig`, so `AutoProcessor.from_pretrained(folder)` and
`pipeline("video-text-to-text", model=folder)` find it.

What it does:

* **Frame sampling for QA**: `num_frames` frames spread uniformly over the whole video (frame `i` is the centre of
  the `i`-th of `num_frames` equal segments), as the paper's evaluation (lmms-eval, uniform sampling). Videos
  shorter than `num_frames` repeat frames; nothing is truncated.
* **Token expansion**: every `<video>` placeholder becomes exactly `(num_frames / tubelet) * tokens_per_tubelet`
  copies (the count depends on frames, resolution, tubelet and projector pooling: [`VJEPA2VLMConfig.num_video_tokens`]).
  Expansion is done on token ids, so it never depends on how the tokenizer merges text around the placeholder.
* **Chat template**: the tokenizer's own template (Llama 3 headers, Qwen ChatML, ...); message content lists are
  flattened, a `{"type": "video"}` item becoming the placeholder followed by a newline.
* **Labels**: `apply_chat_template(..., return_labels=True)` trains only on the assistant turns (the answer tokens
  and the end-of-turn marker); prompt, placeholders and padding are `-100`.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, BatchFeature
from transformers.processing_utils import ProcessorMixin
from transformers.utils import logging

from ..video.decoding import get_video_metadata, read_video
from ..video.transforms import _is_pil, normalize, resize, to_video_tensor
from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor

logger = logging.get_logger(__name__)

IGNORE_INDEX = -100


def sample_frame_indices(total_frames: int, num_frames: int) -> np.ndarray:
    """Uniform QA sampling: the centre frame of each of `num_frames` equal segments of the video.

    Args:
        total_frames: frames in the video (>= 1).
        num_frames: frames wanted (>= 1). More than `total_frames` repeats frames (in order).

    Returns:
        int64 array `[num_frames]`, non-decreasing, within `[0, total_frames)`.
    """
    if total_frames < 1:
        raise ValueError(f"`total_frames` must be >= 1, got {total_frames}")
    if num_frames < 1:
        raise ValueError(f"`num_frames` must be >= 1, got {num_frames}")
    idx = np.floor((np.arange(num_frames) + 0.5) * total_frames / num_frames).astype(np.int64)
    return np.clip(idx, 0, total_frames - 1)


def load_video_frames(video: Any, num_frames: int) -> torch.Tensor:
    """Read `num_frames` uniformly sampled frames of a video.

    Args:
        video: a file path (decoded with PyAV, only the sampled frames), a numpy array or tensor
            `[T, H, W, 3]` / `[T, 3, H, W]`, or a list of PIL images / `[H, W, 3]` frames.
        num_frames: frames to sample.

    Returns:
        `[num_frames, 3, H, W]` tensor (uint8 for decoded files and uint8 inputs).
    """
    if isinstance(video, (str, os.PathLike)):
        path = os.fspath(video)
        if not os.path.exists(path):
            raise FileNotFoundError(f"video file not found: {path}")
        total = get_video_metadata(path).num_frames
        frames = read_video(path, sample_frame_indices(total, num_frames))
        return to_video_tensor(frames, input_data_format="channels_last")
    if isinstance(video, (np.ndarray, torch.Tensor)):
        if video.ndim != 4:
            raise ValueError(
                f"a video array must be 4-D [frames, height, width, 3] or [frames, 3, height, width], got shape "
                f"{tuple(video.shape)}"
            )
        if 3 not in (video.shape[1], video.shape[3]):
            raise ValueError(f"a video array must have 3 (RGB) channels in dim 1 or 3, got shape {tuple(video.shape)}")
    elif isinstance(video, (list, tuple)) and not video:
        raise ValueError("a video given as a list of frames must have at least one frame")
    elif not (isinstance(video, (list, tuple)) or _is_pil(video)):
        raise ValueError(
            f"unsupported video type {type(video).__name__}: expected a path, a [T, H, W, 3] array or tensor, or a "
            "list of frames"
        )
    x = to_video_tensor(video)
    return x[torch.from_numpy(sample_frame_indices(x.shape[0], num_frames))]


def choose_tile_grid(height: int, width: int, max_tiles: int) -> tuple[int, int]:
    """Rows and columns of local tiles (`rows * cols <= max_tiles`) whose aspect ratio is closest to the image's.

    Ties go to more tiles (more resolution). A simple form of the paper's Dynamic S^2 tiling (App. E.1).
    """
    target = math.log(width / height)
    best, best_key = (1, 1), None
    for rows in range(1, max_tiles + 1):
        for cols in range(1, max_tiles // rows + 1):
            key = (abs(math.log(cols / rows) - target), -(rows * cols))
            if best_key is None or key < best_key:
                best, best_key = (rows, cols), key
    return best


def _is_single_video(x: Any) -> bool:
    if isinstance(x, (str, os.PathLike)) or _is_pil(x):
        return True
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return x.ndim != 5
    if isinstance(x, (list, tuple)) and x:
        first = x[0]
        return _is_pil(first) or (isinstance(first, (np.ndarray, torch.Tensor)) and first.ndim in (2, 3))
    return False


def _as_list(items: Any, kind: str) -> list[Any]:
    """One item or a list of items (one per placeholder, in order over the batch)."""
    if items is None:
        return []
    if kind == "video" and _is_single_video(items):
        return [items]
    if kind == "image" and (
        _is_pil(items)
        or isinstance(items, (str, os.PathLike))
        or (isinstance(items, (np.ndarray, torch.Tensor)) and items.ndim in (2, 3))
    ):
        return [items]
    if isinstance(items, (np.ndarray, torch.Tensor)) and items.ndim in (4, 5):
        return list(items)
    if isinstance(items, (list, tuple)):
        out: list[Any] = []
        for it in items:
            if isinstance(it, (list, tuple)) and kind == "video" and not _is_single_video(it):
                out.extend(it)  # per-sample lists of videos
            elif isinstance(it, (list, tuple)) and kind == "image":
                out.extend(it)  # per-sample lists of images
            else:
                out.append(it)
        return out
    raise ValueError(f"unsupported `{kind}s` type {type(items).__name__}")


class VJEPA2VLMProcessor(ProcessorMixin):
    r"""Tokenizer + V-JEPA 2 video processor for [`VJEPA2VLMForConditionalGeneration`].

    Args:
        tokenizer: the LLM's tokenizer (fast tokenizer: offsets are needed for labels). The placeholder tokens must be
            single special tokens of it ([`add_placeholder_tokens`] does this).
        frame_processor ([`VJEPA2VideoProcessor`], *optional*): resize / crop / normalise; defaults to
            `VJEPA2VideoProcessor(crop_size=crop_size)`.
        video_token (`str`, defaults to `"<video>"`), image_token (`str`, defaults to `"<image>"`): placeholders.
        num_frames (`int`, defaults to 16): frames sampled per video (a multiple of `tubelet_size`).
        tubelet_size (`int`, defaults to 2): frames per encoder tubelet.
        tokens_per_tubelet (`int`): LLM tokens per tubelet after the projector (`config.tokens_per_tubelet()`).
        image_mode (`str`, defaults to `"repeat"`): `"repeat"` (one static tubelet) or `"tiles"` (a global view plus
            local crop-size tiles at the image's aspect ratio).
        max_image_tiles (`int`, defaults to 4): most local tiles per image in `"tiles"` mode.
        context_length (`int`, *optional*): the LLM's context; longer expanded prompts raise a `ValueError`.
        chat_template (`str`, *optional*): a processor-level template; the tokenizer's is used otherwise.
    """

    tokenizer_class = "AutoTokenizer"

    def __init__(
        self,
        tokenizer: Any = None,
        frame_processor: VJEPA2VideoProcessor | None = None,
        video_token: str = "<video>",
        image_token: str = "<image>",
        num_frames: int = 16,
        tubelet_size: int = 2,
        tokens_per_tubelet: int = 128,
        image_mode: str = "repeat",
        max_image_tiles: int = 4,
        context_length: int | None = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        if tokenizer is None:
            raise ValueError("`tokenizer` is required")
        super().__init__(tokenizer, chat_template=chat_template)
        if num_frames < 1 or num_frames % tubelet_size:
            raise ValueError(
                f"`num_frames` must be a positive multiple of `tubelet_size` ({tubelet_size}), got {num_frames}"
            )
        if image_mode not in ("repeat", "tiles"):
            raise ValueError(f"`image_mode` must be 'repeat' or 'tiles', got {image_mode!r}")
        self.frame_processor = frame_processor if frame_processor is not None else VJEPA2VideoProcessor()
        self.video_token = video_token
        self.image_token = image_token
        self.num_frames = int(num_frames)
        self.tubelet_size = int(tubelet_size)
        self.tokens_per_tubelet = int(tokens_per_tubelet)
        self.image_mode = image_mode
        self.max_image_tiles = int(max_image_tiles)
        self.context_length = context_length
        self.video_token_id = self._single_token_id(video_token, "video_token")
        self.image_token_id = self._single_token_id(image_token, "image_token")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
            logger.info(f"tokenizer has no pad token: using the eos token {tokenizer.eos_token!r} for padding")

    def _single_token_id(self, token: str, name: str) -> int:
        ids = self.tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(
                f"`{name}` {token!r} must be a single special token of the tokenizer (it encodes to {ids}); add it with "
                "`vjepa2_hf.vlm.add_placeholder_tokens(tokenizer)`"
            )
        return ids[0]

    @classmethod
    def from_model_config(
        cls,
        config: Any,
        tokenizer: Any,
        frame_processor: VJEPA2VideoProcessor | None = None,
        *,
        video_processor_source: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> "VJEPA2VLMProcessor":
        """A processor consistent with a [`VJEPA2VLMConfig`]: frames, tubelet, token counts, placeholders, context.

        The frame processor is loaded from `video_processor_source` (an encoder repo or folder) when given, else built
        with the encoder's crop size.
        """
        vc = config.vision_config
        if frame_processor is None:
            frame_processor = None
            if video_processor_source is not None:
                try:
                    frame_processor = VJEPA2VideoProcessor.from_pretrained(
                        video_processor_source, crop_size=vc.crop_size
                    )
                except (OSError, FileNotFoundError) as e:
                    logger.warning(f"no video processor config in {video_processor_source} ({e}); using the defaults")
            if frame_processor is None:
                frame_processor = VJEPA2VideoProcessor(crop_size=vc.crop_size)
        crop = frame_processor.crop_size["height"]
        values = dict(
            video_token=tokenizer.convert_ids_to_tokens(config.video_token_id)
            if config.video_token_id is not None
            else "<video>",
            image_token=tokenizer.convert_ids_to_tokens(config.image_token_id)
            if config.image_token_id is not None
            else "<image>",
            num_frames=config.num_frames,
            tubelet_size=vc.tubelet_size,
            tokens_per_tubelet=config.tokens_per_tubelet(crop, crop),
            image_mode=config.image_mode,
            max_image_tiles=config.max_image_tiles,
            context_length=getattr(config.text_config, "max_position_embeddings", None),
        )
        values.update(kwargs)
        return cls(tokenizer, frame_processor, **values)

    # ------------------------------------------------------------------ token arithmetic
    def num_video_tokens(self, num_frames: int | None = None) -> int:
        """Placeholder copies for one video of `num_frames` (default `self.num_frames`) frames."""
        num_frames = self.num_frames if num_frames is None else num_frames
        return (num_frames // self.tubelet_size) * self.tokens_per_tubelet

    @property
    def crop_size(self) -> int:
        return int(self.frame_processor.crop_size["height"])

    # ------------------------------------------------------------------ media
    def process_video(self, video: Any, num_frames: int | None = None) -> torch.Tensor:
        """One video (path, array, frames) -> float32 `[num_frames, 3, crop, crop]`."""
        num_frames = self.num_frames if num_frames is None else num_frames
        if num_frames < 1 or num_frames % self.tubelet_size:
            raise ValueError(
                f"`num_frames` must be a positive multiple of the tubelet size ({self.tubelet_size}), got {num_frames}"
            )
        frames = load_video_frames(video, num_frames)
        return self.frame_processor.preprocess_video(frames, input_data_format="channels_first")

    def process_image(self, image: Any) -> torch.Tensor:
        """One image (path, PIL, `[H, W, 3]` array) -> float32 `[num_views, 3, crop, crop]` (1 view, or tiles)."""
        if isinstance(image, (str, os.PathLike)):
            if not os.path.exists(image):
                raise FileNotFoundError(f"image file not found: {image}")
            image = read_video(image, [0])[0]
        x = to_video_tensor(image)
        if x.shape[0] != 1:
            raise ValueError(f"an image must be [H, W, 3], [3, H, W] or a PIL image, got {x.shape[0]} frames")
        if self.image_mode == "repeat":
            return self.frame_processor.preprocess_video(x, input_data_format="channels_first")
        fp = self.frame_processor
        c = self.crop_size
        h, w = x.shape[-2:]
        rows, cols = choose_tile_grid(h, w, self.max_image_tiles)
        glob = resize(x, (c, c), antialias=True)  # [1, 3, c, c] the whole image
        big = resize(x, (rows * c, cols * c), antialias=True)[0]  # [3, rows c, cols c]
        tiles = big.reshape(3, rows, c, cols, c).permute(1, 3, 0, 2, 4).reshape(rows * cols, 3, c, c)
        views = torch.cat([glob, tiles], 0)
        return normalize(
            views, fp.image_mean, fp.image_std, rescale_factor=fp.rescale_factor if fp.do_rescale else None
        )

    def _check_placeholders(self, all_ids: list[list[int]], num_videos: int, num_images: int) -> None:
        """One `<video>` placeholder per video and one `<image>` placeholder per image."""
        n_video_ph = sum(ids.count(self.video_token_id) for ids in all_ids)
        n_image_ph = sum(ids.count(self.image_token_id) for ids in all_ids)
        if n_video_ph != num_videos:
            raise ValueError(
                f"`text` has {n_video_ph} video placeholder(s) {self.video_token!r} but {num_videos} video(s) were "
                f"given in `videos`; put one {self.video_token!r} in the prompt per video"
            )
        if n_image_ph != num_images:
            raise ValueError(
                f"`text` has {n_image_ph} image placeholder(s) {self.image_token!r} but {num_images} image(s) were "
                f"given in `images`; put one {self.image_token!r} in the prompt per image"
            )

    def _expand_prompt(self, b, ids, offsets, spans, want_offsets, img_iter, num_frames):
        """The token ids of prompt `b` with each placeholder repeated once per visual token, and its labels (the
        assistant tokens inside `spans`, `IGNORE_INDEX` elsewhere)."""
        n_vid_tokens = self.num_video_tokens(num_frames)
        new_ids: list[int] = []
        new_labels: list[int] = []
        for j, tid in enumerate(ids):
            if tid == self.video_token_id:
                new_ids.extend([tid] * n_vid_tokens)
                new_labels.extend([IGNORE_INDEX] * n_vid_tokens)
            elif tid == self.image_token_id:
                n = next(img_iter).shape[0] * self.tokens_per_tubelet
                new_ids.extend([tid] * n)
                new_labels.extend([IGNORE_INDEX] * n)
            else:
                new_ids.append(tid)
                if want_offsets:
                    start = offsets[j][0]
                    inside = any(s <= start < e for s, e in spans) and offsets[j][1] > offsets[j][0]
                    new_labels.append(tid if inside else IGNORE_INDEX)
        if self.context_length is not None and len(new_ids) > self.context_length:
            raise ValueError(
                f"prompt {b} has {len(new_ids)} tokens after expanding the visual placeholders ({n_vid_tokens} per "
                f"video of {num_frames} frames), more than the language model's context length "
                f"{self.context_length}; use fewer frames (`num_frames`) or a pooling projector"
            )
        return new_ids, new_labels

    def _pad(self, out_ids, out_labels, padding_side, padding, return_tensors, with_labels: bool) -> dict[str, Any]:
        """Pad the prompts to one length on `padding_side`: `input_ids`, `attention_mask` (and `labels`)."""
        side = padding_side or getattr(self.tokenizer, "padding_side", "right")
        if side not in ("left", "right"):
            raise ValueError(f"`padding_side` must be 'left' or 'right', got {side!r}")
        max_len = max(len(x) for x in out_ids)
        if not padding and len({len(x) for x in out_ids}) > 1 and return_tensors is not None:
            raise ValueError("prompts of different lengths need `padding=True` to be returned as tensors")
        pad_id = self.tokenizer.pad_token_id
        input_ids, attention, labels = [], [], []
        for ids, lab in zip(out_ids, out_labels):
            n_pad = max_len - len(ids)
            pad_ids, pad_mask, pad_lab = [pad_id] * n_pad, [0] * n_pad, [IGNORE_INDEX] * n_pad
            if side == "left":
                input_ids.append(pad_ids + ids)
                attention.append(pad_mask + [1] * len(ids))
                labels.append(pad_lab + lab)
            else:
                input_ids.append(ids + pad_ids)
                attention.append([1] * len(ids) + pad_mask)
                labels.append(lab + pad_lab)
        data: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention}
        if with_labels:
            data["labels"] = labels
        return data

    @staticmethod
    def _with_pixels(data: dict[str, Any], pixel_videos, pixel_images, return_tensors) -> dict[str, Any]:
        if return_tensors == "pt":
            data = {k: torch.tensor(v, dtype=torch.long) for k, v in data.items()}
            if pixel_videos:
                data["pixel_values_videos"] = torch.stack(pixel_videos)
            if pixel_images:
                data["pixel_values"] = torch.cat(pixel_images)
        elif return_tensors is None:
            if pixel_videos:
                data["pixel_values_videos"] = pixel_videos
            if pixel_images:
                data["pixel_values"] = pixel_images
        else:
            raise ValueError(f"`return_tensors` must be 'pt' or None, got {return_tensors!r}")
        return data

    # ------------------------------------------------------------------ main entry
    def __call__(
        self,
        text: str | list[str] | None = None,
        videos: Any = None,
        images: Any = None,
        *,
        num_frames: int | None = None,
        return_tensors: str | None = "pt",
        padding: bool = True,
        padding_side: str | None = None,
        add_special_tokens: bool = True,
        assistant_spans: list[list[tuple[int, int]]] | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Tokenise prompts, expand placeholders and process the media.

        Args:
            text: a prompt or a batch of prompts containing `video_token` / `image_token` placeholders.
            videos: one video or a list with one video per `<video>` placeholder, in order over the batch (paths,
                `[T, H, W, 3]` arrays, lists of frames; a list of per-prompt lists is flattened).
            images: likewise for `<image>` placeholders.
            num_frames: frames per video for this call (default `self.num_frames`).
            padding_side: `"left"` for batched generation, `"right"` for training (default: the tokenizer's).
            add_special_tokens: add BOS etc. (set False for text already rendered by a chat template).
            assistant_spans: character spans of the assistant turns per prompt: the tokens inside are the labels
                (used by `apply_chat_template(return_labels=True)`).

        Returns:
            `BatchFeature` with `input_ids`, `attention_mask` `[B, L]`, `pixel_values_videos` `[N_videos, T, 3, crop,
            crop]` (float32), `pixel_values` `[N_views, 3, crop, crop]` when images are given, and `labels` `[B, L]`
            when `assistant_spans` is given.
        """
        if text is None:
            raise ValueError("`text` is required (a prompt with a video placeholder)")
        texts = [text] if isinstance(text, str) else list(text)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError("`text` must be a string or a list of strings")
        video_list = _as_list(videos, "video")
        image_list = _as_list(images, "image")
        num_frames = self.num_frames if num_frames is None else num_frames

        want_offsets = assistant_spans is not None
        enc = self.tokenizer(
            texts, add_special_tokens=add_special_tokens, return_offsets_mapping=want_offsets, padding=False
        )
        all_ids: list[list[int]] = enc["input_ids"]
        self._check_placeholders(all_ids, len(video_list), len(image_list))
        pixel_videos = [self.process_video(v, num_frames) for v in video_list]
        pixel_images = [self.process_image(im) for im in image_list]

        out_ids, out_labels = [], []
        img_iter = iter(pixel_images)
        for b, ids in enumerate(all_ids):
            offsets = enc["offset_mapping"][b] if want_offsets else None
            spans = assistant_spans[b] if want_offsets else []
            new_ids, new_labels = self._expand_prompt(b, ids, offsets, spans, want_offsets, img_iter, num_frames)
            out_ids.append(new_ids)
            out_labels.append(new_labels)

        data = self._pad(out_ids, out_labels, padding_side, padding, return_tensors, with_labels=want_offsets)
        return BatchFeature(data=self._with_pixels(data, pixel_videos, pixel_images, return_tensors))

    # ------------------------------------------------------------------ chat
    def _flatten_conversation(
        self, conversation: list[dict[str, Any]]
    ) -> tuple[list[dict[str, str]], list[Any], list[Any]]:
        """Content lists -> plain strings with placeholders; collect the media in order."""
        flat, videos, images = [], [], []
        for msg in conversation:
            if "role" not in msg or "content" not in msg:
                raise ValueError(f"every message needs 'role' and 'content', got keys {sorted(msg)}")
            content = msg["content"]
            if isinstance(content, str):
                flat.append({"role": msg["role"], "content": content})
                continue
            parts = []
            for item in content:
                kind = item.get("type")
                if kind == "text":
                    parts.append(item["text"])
                elif kind in ("video", "image"):
                    media = next((item[k] for k in (kind, "path", "url", "array") if k in item), None)
                    if media is None:
                        raise ValueError(
                            f"a {kind!r} content item needs a '{kind}', 'path' or 'url' entry, got {sorted(item)}"
                        )
                    (videos if kind == "video" else images).append(media)
                    parts.append((self.video_token if kind == "video" else self.image_token) + "\n")
                else:
                    raise ValueError(f"content item type must be 'text', 'video' or 'image', got {kind!r}")
            flat.append({"role": msg["role"], "content": "".join(parts)})
        return flat, videos, images

    def _render(self, messages: list[dict[str, str]], add_generation_prompt: bool, **kwargs: Any) -> str:
        template = kwargs.pop("chat_template", None) or self.chat_template
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt, chat_template=template, **kwargs
        )

    def apply_chat_template(
        self,
        conversation: list[dict[str, Any]] | list[list[dict[str, Any]]],
        add_generation_prompt: bool = False,
        tokenize: bool = False,
        return_dict: bool = True,
        return_tensors: str | None = "pt",
        num_frames: int | None = None,
        return_labels: bool = False,
        padding_side: str | None = None,
        **kwargs: Any,
    ) -> str | list[str] | BatchFeature:
        """Render conversations with the tokenizer's chat template; optionally load media, tokenise and build labels.

        Args:
            conversation: a list of messages (`{"role", "content"}`, content a string or a list of
                `{"type": "text", "text"}` / `{"type": "video", "video": path_or_array}` / `{"type": "image", ...}`),
                or a batch of such lists.
            add_generation_prompt: end with the assistant header (for generation).
            tokenize: return model inputs instead of the rendered text.
            num_frames: frames per video (default `self.num_frames`).
            return_labels: add `labels` with only the assistant turns trained (needs `tokenize=True`).
            padding_side: `"left"` for generation batches, `"right"` for training.
        """
        batched = bool(conversation) and isinstance(conversation[0], (list, tuple))
        convs = list(conversation) if batched else [conversation]
        texts, videos, images, spans = [], [], [], []
        for conv in convs:
            flat, vids, ims = self._flatten_conversation(conv)
            text = self._render(flat, add_generation_prompt, **kwargs)
            texts.append(text)
            videos.extend(vids)
            images.extend(ims)
            if return_labels:
                spans.append(self._assistant_spans(flat, text, **kwargs))
        if not tokenize:
            if return_labels:
                raise ValueError("`return_labels=True` needs `tokenize=True`")
            return texts if batched else texts[0]
        out = self(
            texts,
            videos=videos or None,
            images=images or None,
            num_frames=num_frames,
            return_tensors=return_tensors,
            padding_side=padding_side,
            add_special_tokens=False,
            assistant_spans=spans if return_labels else None,
        )
        return out if return_dict else out["input_ids"]

    def _assistant_spans(self, flat: list[dict[str, str]], full_text: str, **kwargs: Any) -> list[tuple[int, int]]:
        """Character spans of the assistant turns in `full_text` (prompt prefixes rendered with the same template)."""
        spans = []
        for i, msg in enumerate(flat):
            if msg["role"] != "assistant":
                continue
            before = self._render(flat[:i], True, **kwargs) if i else ""
            upto = self._render(flat[: i + 1], False, **kwargs)
            if not full_text.startswith(before) or not full_text.startswith(upto) or len(upto) < len(before):
                raise ValueError(
                    "the chat template does not render conversation prefixes as prefixes of the full conversation, so "
                    "the assistant turns cannot be located for the labels"
                )
            spans.append((len(before), len(upto)))
        if not spans:
            raise ValueError("`return_labels=True` needs at least one assistant message in every conversation")
        return spans

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(*args, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "pixel_values_videos", "pixel_values"]

    # ------------------------------------------------------------------ save / load
    _SETTINGS = (
        "video_token",
        "image_token",
        "num_frames",
        "tubelet_size",
        "tokens_per_tubelet",
        "image_mode",
        "max_image_tiles",
        "context_length",
    )

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self._SETTINGS}
        out["processor_class"] = type(self).__name__
        return out

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any) -> list[str]:
        """Write the tokenizer files, `processor_config.json`, `video_preprocessor_config.json` and the chat template."""
        if push_to_hub:
            raise NotImplementedError("save locally, then upload the folder with `huggingface_hub.upload_folder`")
        os.makedirs(save_directory, exist_ok=True)
        files = list(super().save_pretrained(save_directory))
        files += self.frame_processor.save_pretrained(save_directory)
        return files

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> "VJEPA2VLMProcessor":
        """Load a processor saved by `save_pretrained` (local folder or Hub repo)."""
        path = os.fspath(pretrained_model_name_or_path)
        hub_kwargs = {k: kwargs.pop(k) for k in ("revision", "token", "cache_dir", "local_files_only") if k in kwargs}
        for k in (
            "trust_remote_code",
            "_from_pipeline",
            "use_fast",
            "dtype",
            "torch_dtype",
            "subfolder",
            "force_download",
        ):
            kwargs.pop(k, None)
        tokenizer = AutoTokenizer.from_pretrained(path, **hub_kwargs)
        frame_processor = VJEPA2VideoProcessor.from_pretrained(path, **hub_kwargs)
        if os.path.isdir(path):
            cfg_file = os.path.join(path, "processor_config.json")
        else:
            from huggingface_hub import hf_hub_download

            cfg_file = hf_hub_download(path, "processor_config.json", **hub_kwargs)
        if not os.path.isfile(cfg_file):
            raise FileNotFoundError(
                f"{cfg_file} not found: `pretrained_model_name_or_path` must hold a saved VJEPA2VLMProcessor"
            )
        with open(cfg_file, encoding="utf-8") as f:
            settings = json.load(f)
        settings = {k: v for k, v in settings.items() if k in cls._SETTINGS}
        settings.update(kwargs)
        template_file = os.path.join(path, "chat_template.jinja")
        if os.path.isdir(path) and os.path.isfile(template_file):
            with open(template_file, encoding="utf-8") as f:
                settings.setdefault("chat_template", f.read())
        return cls(tokenizer, frame_processor, **settings)


__all__ = ["VJEPA2VLMProcessor", "choose_tile_grid", "load_video_frames", "sample_frame_indices", "IGNORE_INDEX"]
