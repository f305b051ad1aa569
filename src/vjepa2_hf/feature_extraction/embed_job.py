"""`embed_videos`: V-JEPA 2 features of a whole video corpus, resumable, multi-process, bad files skipped.

The job (see `parquet_shards` for the folder layout):

1. lists the inputs (`inputs.list_embedding_inputs`: files, folders, a CSV/JSONL manifest or a `datasets.Dataset`);
2. splits them into shards of `shard_size` inputs; under `torchrun` / `accelerate launch` with N processes, process
   `r` takes shards `r, r + N, r + 2N, ...` (its own files: no shared-file races), so N processes write exactly the
   folder one process writes;
3. locks the folder (`job_lock.JobLock`: a second job on it is refused) and skips the shards already on disk (a rerun
   after a kill resumes from the last completed shard; once a shard exists, the settings must match `job.json`;
   every setting is checked before `job.json` is written, and a `job.json` with no shard beside it is replaced, so a
   failed start never blocks the corrected rerun);
4. decodes and preprocesses in DataLoader workers (`clip_dataset.VideoClipItems`), runs the encoder on batches of
   `batch_size` videos of one shard (so batches, and therefore values, do not depend on the number of processes or
   on resuming), and writes each shard atomically;
5. when every shard exists, the main process writes `errors.jsonl` and `manifest.json` and returns the counts.

Every input makes a row. A bad input (missing, empty, truncated, not a video, a decompression-bomb image, a folder
that cannot be listed) becomes a row with `status="error"` and its reason, listed in `errors.jsonl`; `on_error="fail"`
raises `BadVideoError` naming the first one instead. A job that embeds nothing, or whose share of bad inputs is above
`max_error_rate`, raises `TooManyBadInputsError` once its output is complete (the command exits 2).

File names that are not valid UTF-8 (bytes a Linux file system allows) are kept exactly: `path` holds a readable form
with `\\xNN` escapes and `path_bytes` the name's bytes (null for every UTF-8 name); `errors.jsonl` gives the bytes as
`path_bytes_hex`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers.utils import logging

from .clip_dataset import ClipSampling, VideoClipItems, collate_items, worker_init
from .inputs import EmbeddingInputs, list_embedding_inputs, path_bytes, printable_path
from .job_lock import JobLock
from .parquet_shards import (
    ShardLayout,
    list_type,
    nested_list_array,
    read_job_file,
    write_json_atomic,
    write_table_atomic,
)

logger = logging.get_logger(__name__)

__all__ = ["BadVideoError", "EmbeddingJobResult", "TooManyBadInputsError", "embed_videos"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# The shards' columns; part of `job.json`, so a folder of older shards is not resumed into a mixed schema.
# 2: `path_bytes` added.
ROW_FORMAT = 2


class BadVideoError(ValueError):
    """An input could not be embedded and the job runs with `on_error="fail"`."""


class TooManyBadInputsError(ValueError):
    """The job embedded nothing, or more of its inputs were bad than `max_error_rate` allows (output complete)."""


@dataclass
class EmbeddingJobResult:
    """What a job did. Counts cover the whole output folder; `processed` and `seconds` this run only."""

    output_dir: Path
    num_embedded: int
    num_skipped: int
    processed: int
    seconds: float
    world_size: int = 1
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def videos_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (
            f"{self.num_embedded} embedded, {self.num_skipped} skipped; this run: {self.processed} videos in "
            f"{self.seconds:.1f} s ({self.videos_per_second:.2f} videos/s, {self.world_size} process"
            f"{'es' if self.world_size > 1 else ''}); output: {self.output_dir / 'data'}"
        )


def _resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"`dtype` must be one of {sorted(_DTYPES)}, got {dtype!r}")
    return _DTYPES[dtype]


def _model_id(model: Any) -> str:
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    digest = hashlib.sha256(model.config.to_json_string().encode()).hexdigest()[:12]
    return f"<{type(model).__name__} config {digest}>"


class _EncoderRunner:
    """Runs the encoder on the good items of a batch and turns its outputs into rows."""

    def __init__(self, encoder, device, dtype, reduction: str, tokens: bool, layers: Sequence[int]):
        self.encoder, self.device, self.dtype = encoder.to(device=device, dtype=dtype), device, dtype
        self.reduction, self.tokens, self.layers = reduction, tokens, list(layers)

    def _reduce(self, x: torch.Tensor, batch: int) -> list[np.ndarray]:
        x = x.float().reshape(batch, -1, *x.shape[1:])  # [videos, clips, ...]
        if self.reduction == "mean":
            x = x.mean(1)
        return list(x.cpu().numpy())

    def _forward_group(self, group: list[dict[str, Any]]) -> list[dict[str, Any]]:
        pixels = torch.cat([item["pixel_values"] for item in group])
        with torch.inference_mode():
            out = self.encoder(
                pixels.to(device=self.device, dtype=self.dtype), output_layers=self.layers or None, return_dict=True
            )
        n = len(group)
        columns = {"embedding": self._reduce(out.pooler_output, n)}
        if self.tokens:
            columns["tokens"] = self._reduce(out.last_hidden_state, n)
        for layer, hidden in zip(self.layers, out.intermediate_hidden_states or ()):
            columns[f"layer_{layer}_embedding"] = self._reduce(hidden.mean(1), n)
        return [{name: values[i] for name, values in columns.items()} for i in range(n)]

    def __call__(self, items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        rows: dict[int, dict[str, Any]] = {}
        groups: dict[tuple, list[dict[str, Any]]] = {}
        for item in items:
            base = {k: item[k] for k in ("num_video_frames", "frame_indices", "error")}
            rows[item["position"]] = {**base, "status": "error" if item["error"] else "ok"}
            if item["error"] is None:  # equal shapes = equal token counts: only those are stacked
                groups.setdefault(tuple(item["pixel_values"].shape), []).append(item)
        for group in groups.values():
            for item, features in zip(group, self._forward_group(group)):
                rows[item["position"]].update(features)
        return rows


class _Job:
    """One process's part of a job (see the module docstring)."""

    def __init__(self, inputs: EmbeddingInputs, layout: ShardLayout, spec: dict[str, Any], state):
        self.inputs, self.layout, self.spec, self.state = inputs, layout, spec, state
        self.metadata_types = {c: _metadata_type(v) for c, v in inputs.metadata.items()}
        self.lock: JobLock | None = None

    def prepare(self, overwrite: bool) -> None:
        """Lock the folder (main process), check (or write) `job.json`; with `overwrite`, start over."""
        job_file = self.layout.root / "job.json"
        self.lock = JobLock(self.layout.root).acquire() if self.state.is_main_process else None
        if self.state.is_main_process and overwrite and self.layout.root.exists():
            for path in list(self.layout.data.glob("*.parquet")) + list(self.layout.data.glob(".*.tmp*")):
                path.unlink()
            for name in ("job.json", "manifest.json", "errors.jsonl"):
                (self.layout.root / name).unlink(missing_ok=True)
        self.state.wait_for_everyone()
        existing = read_job_file(job_file)
        if existing is not None and not self.layout.any_done():  # a start that wrote nothing: nothing to protect
            existing = None
        if existing is not None and existing != json.loads(json.dumps(self.spec, default=str)):
            keys = sorted(k for k in set(existing) | set(self.spec) if existing.get(k) != self.spec.get(k))
            raise ValueError(
                f"{self.layout.root} holds the output of a different job (differs in {', '.join(keys)}); use another "
                "output folder, or overwrite=True (--overwrite) to start over"
            )
        if existing is None and self.state.is_main_process:
            write_json_atomic(self.spec, job_file)  # replaces a job file with no shard beside it
        self.state.wait_for_everyone()

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def table(self, k: int, rows: dict[int, dict[str, Any]]):
        import pyarrow as pa

        positions = self.layout.positions(k)
        ordered = [rows[p] for p in positions]
        emb_ndim = 1 if self.spec["clip_reduction"] == "mean" else 2
        names = [self.inputs.names[p] for p in positions]
        columns = {
            "path": pa.array([printable_path(n) for n in names], pa.string()),
            "path_bytes": pa.array([path_bytes(n) for n in names], pa.binary()),
            "status": pa.array([r["status"] for r in ordered], pa.string()),
            "error": pa.array([r["error"] for r in ordered], pa.string()),
            "num_video_frames": pa.array([r["num_video_frames"] for r in ordered], pa.int64()),
            "frame_indices": pa.array([r["frame_indices"] for r in ordered], pa.list_(pa.list_(pa.int64()))),
            "embedding": nested_list_array([r.get("embedding") for r in ordered], emb_ndim),
        }
        if self.spec["output_tokens"]:
            columns["tokens"] = nested_list_array([r.get("tokens") for r in ordered], emb_ndim + 1)
        for layer in self.spec["layers"]:
            name = f"layer_{layer}_embedding"
            columns[name] = nested_list_array([r.get(name) for r in ordered], emb_ndim)
        for c, values in self.inputs.metadata.items():
            columns.setdefault(c, _metadata_array([values[p] for p in positions], self.metadata_types[c]))
        return pa.table(columns)

    def run(self, runner, processor, sampling, batch_size: int, num_workers: int, on_error: str, progress: bool):
        shards = [k for k in self.layout.shards_of_rank(self.state.process_index, self.state.num_processes)
                  if not self.layout.done(k)]
        for k in shards:  # the folder is locked: temporary files are a killed run's
            for stale in self.layout.stale_temp_paths(k):
                stale.unlink(missing_ok=True)
        positions = [p for k in shards for p in self.layout.positions(k)]
        dataset = VideoClipItems(self.inputs.sources, positions, sampling, processor)
        batches, start = [], 0
        for k in shards:  # batches never cross shards: values do not depend on the split or on resuming
            n = len(self.layout.positions(k))
            batches += [list(range(i, min(i + batch_size, start + n))) for i in range(start, start + n, batch_size)]
            start += n
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=batches, num_workers=num_workers, collate_fn=collate_items,
            worker_init_fn=worker_init if num_workers else None, prefetch_factor=4 if num_workers else None,
        )
        return self._consume(loader, runner, shards, len(positions), on_error, progress)

    def _consume(self, loader, runner, shards: list[int], total: int, on_error: str, progress: bool) -> int:
        from tqdm.auto import tqdm

        rows: dict[int, dict[str, Any]] = {}
        pending = list(shards)
        bar = tqdm(total=total, unit="video", desc=f"embedding (process {self.state.process_index})"
                   if self.state.num_processes > 1 else "embedding", disable=not progress, dynamic_ncols=True)
        skipped = 0
        for items in loader:
            if on_error == "fail":
                bad = next((item for item in items if item["error"]), None)
                if bad is not None:
                    name = printable_path(self.inputs.names[bad["position"]])
                    raise BadVideoError(f"cannot embed {name}: {bad['error']}")
            rows.update(runner(items))
            skipped += sum(1 for item in items if item["error"])
            while pending and all(p in rows for p in self.layout.positions(pending[0])):
                k = pending.pop(0)
                write_table_atomic(self.table(k, rows), self.layout.shard_path(k), self.layout.temp_path(k))
                for p in self.layout.positions(k):
                    del rows[p]
            bar.update(len(items))
            bar.set_postfix(skipped=skipped, refresh=False)
        bar.close()
        return total

    def finalize(self, processed: int, seconds: float) -> EmbeddingJobResult:
        """Main process, once every shard exists: `errors.jsonl`, `manifest.json` and the counts."""
        import pyarrow.parquet as pq

        errors, num_rows, shard_names = [], 0, []
        for k in range(self.layout.num_shards):
            path = self.layout.shard_path(k)
            table = pq.read_table(path, columns=["path", "path_bytes", "status", "error"]).to_pylist()
            num_rows += len(table)
            shard_names.append(f"data/{path.name}")
            errors += [_error_line(row) for row in table if row["status"] != "ok"]
        tmp = self.layout.root / f".errors.jsonl.tmp.{os.getpid()}"
        tmp.write_text("".join(json.dumps(e) + "\n" for e in errors), encoding="utf-8")
        os.replace(tmp, self.layout.root / "errors.jsonl")
        result = EmbeddingJobResult(
            self.layout.root, num_rows - len(errors), len(errors), processed, seconds, self.state.num_processes, errors
        )
        manifest = {
            "num_rows": num_rows, "num_embedded": result.num_embedded, "num_skipped": result.num_skipped,
            "shards": shard_names, "errors_file": "errors.jsonl", "job": self.spec,
            "last_run": {"videos": processed, "seconds": round(seconds, 3), "processes": self.state.num_processes},
            "load_with": "datasets.load_dataset('parquet', data_dir=<output_dir>/data, split='train')",
        }
        write_json_atomic(manifest, self.layout.root / "manifest.json")
        return result


def _error_line(row: dict[str, Any]) -> dict[str, str]:
    line = {"path": row["path"], "error": row["error"]}
    if row["path_bytes"] is not None:
        line["path_bytes_hex"] = row["path_bytes"].hex()
    return line


def _check_error_rate(result: EmbeddingJobResult, max_error_rate: float | None) -> None:
    """Raise `TooManyBadInputsError` when nothing was embedded, or bad inputs exceed `max_error_rate` (a fraction)."""
    total = result.num_embedded + result.num_skipped
    rate = result.num_skipped / total if total else 1.0
    if result.num_embedded and (max_error_rate is None or rate <= max_error_rate):
        return
    first = f"; first: {result.errors[0]['path']}: {result.errors[0]['error']}" if result.errors else ""
    limit = (f"above max_error_rate (--max-error-rate) {max_error_rate:g}" if result.num_embedded
             else "nothing embedded")
    raise TooManyBadInputsError(
        f"{result.num_skipped} of {total} inputs could not be embedded ({100 * rate:.1f}%, {limit}); the output "
        f"is complete, every reason is in {result.output_dir / 'errors.jsonl'}{first}"
    )


def _metadata_type(values: list):
    import pyarrow as pa

    try:
        kind = pa.array(values).type
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.string()  # mixed types: carried as text
    return pa.string() if pa.types.is_null(kind) else kind


def _metadata_array(values: list, kind):
    import pyarrow as pa

    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _distributed_state(device: str | torch.device | None):
    from accelerate import PartialState

    if device is None:  # without an accelerator, `torchrun` processes are CPU processes (gloo)
        accelerator = getattr(torch, "accelerator", None)
        cpu = not (accelerator.is_available() if accelerator is not None else torch.cuda.is_available())
    else:
        cpu = torch.device(device).type == "cpu"
    state = PartialState(cpu=cpu)
    return state, torch.device(device) if device is not None else state.device


def _check_options(
    batch_size: int, num_workers: int, shard_size: int | None, output_tokens: bool, clip_reduction: str, on_error: str,
    max_error_rate,
) -> int:
    """Raise for a bad option; returns the shard size (default: 1000, or 32 with `output_tokens`)."""
    shard_size = (32 if output_tokens else 1000) if shard_size is None else int(shard_size)
    if batch_size < 1 or num_workers < 0 or shard_size < 1:
        raise ValueError(
            f"`batch_size` and `shard_size` must be >= 1 and `num_workers` >= 0, got {batch_size}, {shard_size}, "
            f"{num_workers}"
        )
    if clip_reduction not in ("mean", "none"):
        raise ValueError(f"`clip_reduction` must be 'mean' or 'none' (one row per clip), got {clip_reduction!r}")
    if on_error not in ("skip", "fail"):
        raise ValueError(f"`on_error` must be 'skip' or 'fail', got {on_error!r}")
    if max_error_rate is not None and not 0.0 <= max_error_rate <= 1.0:
        raise ValueError(f"`max_error_rate` must be a fraction in [0, 1] or None, got {max_error_rate!r}")
    return shard_size


def _check_layers(encoder, layers: Sequence[int]) -> list[int]:
    depth = getattr(encoder.config, "num_hidden_layers", None)
    bad = [i for i in layers if depth is not None and not -depth <= int(i) < depth]
    if bad:
        raise ValueError(f"`layers` must index the encoder's {depth} blocks (0..{depth - 1} or negative), got {bad}")
    return [int(i) for i in layers]


def embed_videos(
    inputs: Any,
    output_dir: str | os.PathLike,
    *,
    model: Any = "tiny",
    processor: Any = None,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 8,
    num_workers: int = 0,
    num_frames: int | None = None,
    frame_step: int | None = None,
    clips_per_video: int = 1,
    clip_reduction: str = "mean",
    output_tokens: bool = False,
    layers: Sequence[int] = (),
    shard_size: int | None = None,
    on_error: str = "skip",
    max_error_rate: float | None = None,
    overwrite: bool = False,
    path_column: str = "path",
    video_column: str = "video",
    seed: int = 0,
    progress: bool = True,
    backend: str = "torch",
    compile: bool = False,
    int8: bool = False,
) -> EmbeddingJobResult:
    """Embed every video of `inputs` with a V-JEPA 2 encoder into Parquet shards under `output_dir/data`.

    Args:
        inputs: files and folders, a CSV / JSONL manifest, or a `datasets.Dataset` (see `list_embedding_inputs`).
        output_dir: the job folder (created; a rerun resumes it).
        model: `"tiny"`, a model folder, a Hub repo id, or a loaded `VJEPA2VisionModel`-compatible model.
        processor: a `VJEPA2VideoProcessor` (default: the model's saved one, else one from its config).
        dtype: `"float32"`, `"bfloat16"` or `"float16"` (weights and compute). Default: float32 for a model named
            by a string, the model's own dtype for a loaded model (which is then used as it is, not copied).
        device: default: the process's accelerator under `torchrun` / `accelerate launch`, else CUDA when available,
            else CPU.
        batch_size: videos per forward pass (each contributes `clips_per_video` clips).
        num_workers: DataLoader processes decoding and preprocessing (0 = in this process).
        num_frames, frame_step, clips_per_video: the clip rule of `ClipSampling` (evenly spaced when `frame_step` is
            None; videos shorter than a clip repeat their last frame). `num_frames` None: the frame count the
            processor records (`processor.num_frames`, what the model was trained at), else 16.
        clip_reduction: `"mean"` (one embedding per video, the mean over its clips) or `"none"` (one per clip).
        output_tokens: also store the per-token features `[tokens, hidden]` (large: ViT-L, 16 frames at 256 px
            is 2048 x 1024 floats per video).
        layers: also store the token-mean of these blocks' outputs (column `layer_{i}_embedding`).
        shard_size: inputs per Parquet shard (the unit of resuming and of the split across processes; a shard's rows
            are held in memory until it is written). Default: 1000, or 32 with `output_tokens`.
        on_error: `"skip"` (bad inputs get an error row and go to `errors.jsonl`) or `"fail"` (raise
            `BadVideoError` naming the first bad input).
        max_error_rate: the largest share of bad inputs (0..1) the job accepts; above it, or when nothing was
            embedded (always), `TooManyBadInputsError` is raised once the output is complete. None: no limit.
        overwrite: delete an existing job's output first instead of resuming it.
        path_column, video_column: the path column of a manifest, the video column of a dataset.
        seed, progress: seed of the random `"tiny"` model; show a progress bar (videos/s and ETA).
        backend, compile, int8: "torch" (`compile`: compiled), "onnxruntime" (`int8`: the int8 graph), "openvino".
    Returns: `EmbeddingJobResult` (on the main process: the whole folder's counts and the bad inputs).
    """
    shard_size = _check_options(batch_size, num_workers, shard_size, output_tokens, clip_reduction, on_error,
                                max_error_rate)
    listed = list_embedding_inputs(inputs, path_column=path_column, video_column=video_column)
    state, device = _distributed_state(device)
    encoder, processor, torch_dtype = _resolve_model(model, processor, dtype, seed)
    sampling = ClipSampling(num_frames or processor.num_frames or 16, frame_step, clips_per_video)
    layers = _check_layers(encoder, layers)
    encoder = _backend_encoder(encoder, backend, layers, torch_dtype, Path(output_dir), state, overwrite, compile, int8)
    spec = _job_spec(listed, model, seed, torch_dtype, sampling, processor, clip_reduction=clip_reduction,
                     output_tokens=bool(output_tokens), layers=layers, shard_size=int(shard_size), int8=int8)
    job = _Job(listed, ShardLayout(output_dir, len(listed), shard_size), spec, state)
    runner = _EncoderRunner(encoder, device, torch_dtype, clip_reduction, output_tokens, layers)  # before job.json
    try:
        job.prepare(overwrite)
        result = _execute(job, runner, processor, sampling, batch_size, num_workers, on_error, progress)
    finally:
        job.release()
    if state.is_main_process:
        _check_error_rate(result, max_error_rate)
    return result


def _job_spec(listed, model: Any, seed: int, torch_dtype: torch.dtype, sampling, processor, **options) -> dict:
    """What defines a job (`job.json`): a rerun with another spec is another job."""
    return {
        "inputs": listed.fingerprint(), "num_inputs": len(listed), "model": _model_id(model),
        "seed": seed if _model_id(model) == "tiny" else None, "dtype": str(torch_dtype).replace("torch.", ""),
        "sampling": sampling.to_dict(), "clip_reduction": options["clip_reduction"],
        "output_tokens": options["output_tokens"], "layers": options["layers"], "shard_size": options["shard_size"],
        "processor": processor.to_dict(), "row_format": ROW_FORMAT,
        **({"int8": True} if options.get("int8") else {}),  # absent for float32 jobs: their job.json is unchanged
    }


def _execute(job: _Job, runner, processor, sampling, batch_size, num_workers, on_error, progress) -> EmbeddingJobResult:
    state = job.state
    start = time.perf_counter()
    progress = progress and state.is_local_main_process
    mine = job.run(runner, processor, sampling, batch_size, num_workers, on_error, progress)
    state.wait_for_everyone()
    seconds = time.perf_counter() - start
    processed = _sum_over_processes(mine, state)
    if not state.is_main_process:
        return EmbeddingJobResult(job.layout.root, 0, 0, mine, seconds, state.num_processes)
    result = job.finalize(processed, seconds)
    logger.info(result.summary())
    return result


def _resolve_model(model: Any, processor: Any, dtype: str | torch.dtype | None, seed: int):
    """(encoder in eval mode, processor, dtype): a named model is loaded in `dtype` (float32 by default); a loaded
    model keeps its own dtype unless `dtype` says otherwise."""
    if isinstance(model, (str, os.PathLike)):
        from .encoder_loading import load_encoder_and_processor

        torch_dtype = _resolve_dtype(dtype or "float32")
        encoder, default_processor = load_encoder_and_processor(model, torch_dtype, seed=seed)
    else:
        from ..encoder.configuration_vjepa2 import clip_num_frames
        from ..video.video_processing_vjepa2 import load_video_processor

        torch_dtype = _resolve_dtype(dtype or model.dtype)
        encoder, default_processor = model.eval(), load_video_processor(_loaded_path(model), model.config,
                                                                    clip_num_frames(model.config))
    return encoder, processor or default_processor, torch_dtype


def _loaded_path(model: Any) -> str | None:
    """The local folder a loaded model came from (its saved processor is there), else None."""
    path = getattr(model.config, "_name_or_path", None) or getattr(model, "name_or_path", None)
    return path if path and os.path.isdir(path) else None


def _backend_encoder(encoder, backend: str, layers, dtype: torch.dtype, root: Path, state, overwrite: bool,
                     compile: bool = False, int8: bool = False):
    """The job's encoder run by `backend` ("torch": as it is, or `torch.compile`d): exported once, by the main process,
    into `root/export-<backend>[-int8]` (anew with `overwrite`; a job's spec names its model, so a kept export is of
    this one)."""
    from ..encoder.exporting import (
        BACKEND_FORMATS, ExportedVJEPA2Encoder, check_backend, export_encoder, is_exported_folder, runtime_precision,
    )

    if int8 and check_backend(backend) != "onnxruntime":
        raise ValueError(f"`int8` runs the ONNX Runtime int8 graph: use backend='onnxruntime', got backend={backend!r}")
    if check_backend(backend) == "torch":
        return torch.compile(encoder) if compile else encoder
    if compile:
        raise ValueError(f"`compile` is for backend='torch' (the {backend} runtime compiles its own graph)")
    if layers:
        raise ValueError(
            f"`layers` needs backend='torch' (the {backend} graph returns final features), got {list(layers)}"
        )
    precision = runtime_precision(backend, dtype)  # OpenVINO: float32 or bfloat16; ONNX Runtime: float32
    folder = root / (f"export-{backend}-int8" if int8 else f"export-{backend}")
    if state.is_main_process and overwrite and folder.exists():
        import shutil

        shutil.rmtree(folder)
    if state.is_main_process and not is_exported_folder(folder):
        export_encoder(encoder.float(), folder, BACKEND_FORMATS[backend], int8=int8)
        export_encoder(encoder.float(), folder / "image", BACKEND_FORMATS[backend], image=True, int8=int8)
    state.wait_for_everyone()
    return ExportedVJEPA2Encoder.from_pretrained(folder, backend, precision)


def _sum_over_processes(value: int, state) -> int:
    if state.num_processes == 1:
        return value
    import torch.distributed as dist

    total = torch.tensor([value], dtype=torch.int64, device=state.device)
    dist.all_reduce(total)
    return int(total.item())
