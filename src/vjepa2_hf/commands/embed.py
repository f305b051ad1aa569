"""`vjepa2-hf embed`: V-JEPA 2 embeddings of a video corpus into Parquet shards (`vjepa2_hf.embed_videos`).

Inputs: video / image files, folders (recursive), a CSV or JSONL manifest, or `--dataset` (a `save_to_disk`
folder). With none given, it writes a synthetic moving-shapes clip and embeds that (a dry run). Rerunning the same
command resumes; `torchrun --nproc_per_node N -m vjepa2_hf.cli embed ...` splits the work over N processes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._options import add_output_dir_argument, add_runtime_options, non_negative_int, positive_int, torch_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="*",
                        help="video or image files, folders, or one .csv/.jsonl manifest (default: a synthetic clip)")
    parser.add_argument("--dataset", default=None, help="a `datasets` folder (save_to_disk) with a video column")
    parser.add_argument("--video-column", default="video", help="video column of --dataset")
    parser.add_argument("--path-column", default="path", help="path column of a manifest")
    add_output_dir_argument(parser, ["--out"], default="embeddings",
                            help="job folder: data/*.parquet, errors.jsonl, manifest.json (rerun to resume)")
    parser.add_argument("--model", default="tiny", help="'tiny' (random, for a dry run), a model folder or a Hub repo")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32",
                        help="weights and compute (backend torch); with --backend openvino: its inference precision "
                             "(float32 or bfloat16); ONNX Runtime runs float32 (or --int8)")
    parser.add_argument("--device", type=torch_device, default=None, help="default: this process's GPU when there is one, else cpu")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="videos per forward pass")
    parser.add_argument("--num-workers", type=non_negative_int, default=2, help="DataLoader decoding processes (0: none)")
    parser.add_argument("--num-frames", type=positive_int, default=None,
                        help="frames per clip (default: the frame count the model's processor records, else 16)")
    parser.add_argument("--frame-step", type=positive_int, default=None,
                        help="frames this far apart, centred in the segment (default: spread evenly over it)")
    parser.add_argument("--clips-per-video", type=positive_int, default=1, help="clips, one per equal temporal segment")
    parser.add_argument("--clip-reduction", choices=["mean", "none"], default="mean",
                        help="mean of the clips' features, or one feature per clip")
    parser.add_argument("--tokens", action="store_true", help="also store per-token features (large)")
    parser.add_argument("--layers", type=non_negative_int, nargs="+", default=[],
                        help="also store the pooled output of these blocks (e.g. 17 19 21 23)")
    parser.add_argument("--shard-size", type=positive_int, default=None,
                        help="videos per Parquet shard, the unit of resuming (default 1000, 32 with --tokens)")
    parser.add_argument("--on-error", choices=["skip", "fail"], default="skip",
                        help="skip bad files (listed in errors.jsonl) or stop at the first one")
    parser.add_argument("--max-error-rate", type=float, default=0.1,
                        help="exit 2 when more than this share (0..1) of the inputs are bad (the output is still "
                             "complete); a job that embeds nothing always exits 2 (default 0.1)")
    parser.add_argument("--overwrite", action="store_true", help="start over instead of resuming")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 'tiny' random model")
    add_runtime_options(parser, "the encoder", "OUT", "the encoder first; the first batches pay the compile time;",
                        "the int8 graph (about 2x faster on CPUs with VNNI / AMX)")


def _synthetic_clip(output_dir: str, seed: int, num_frames: int) -> str:
    from ..video.encoding import write_video
    from ..video.synthetic import render_motion_clip, sample_motion_spec

    path = Path(output_dir) / "synthetic" / f"synthetic_clip_seed{seed}_{num_frames}f.mp4"
    if path.is_file():
        return str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, render_motion_clip(sample_motion_spec(seed, num_frames=num_frames)), fps=8)
    print(f"no video given: wrote a synthetic clip to {path}")
    return str(path)


def _inputs(args: argparse.Namespace):
    if args.dataset is not None:
        if args.videos:
            raise ValueError("give either video paths or --dataset, not both")
        if not Path(args.dataset).is_dir():
            raise FileNotFoundError(f"--dataset folder not found: {args.dataset}")
        import datasets

        return datasets.load_from_disk(args.dataset)
    return [str(v) for v in args.videos] or [_synthetic_clip(args.output_dir, args.seed, args.num_frames or 16)]


def run(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from ..feature_extraction import embed_videos
    from .errors import require_local_or_hub

    require_local_or_hub(args.model, "--model")

    result = embed_videos(
        _inputs(args), args.output_dir, model=args.model, dtype=args.dtype, device=args.device,
        batch_size=args.batch_size, num_workers=args.num_workers, num_frames=args.num_frames,
        frame_step=args.frame_step, clips_per_video=args.clips_per_video, clip_reduction=args.clip_reduction,
        output_tokens=args.tokens, layers=args.layers, shard_size=args.shard_size, on_error=args.on_error,
        overwrite=args.overwrite, path_column=args.path_column, video_column=args.video_column, seed=args.seed,
        progress=not args.no_progress, max_error_rate=args.max_error_rate, backend=args.backend,
        compile=args.compile, int8=args.int8,
    )
    if PartialState().is_main_process:
        print(result.summary())
        for error in result.errors[:5]:
            print(f"  skipped {error['path']}: {error['error']}")
        if result.num_skipped:
            print(f"  all {result.num_skipped} bad inputs with reasons: {result.output_dir / 'errors.jsonl'}")
    return 0
