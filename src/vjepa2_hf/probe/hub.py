"""Uploading a saved probe folder to the Hugging Face Hub.

`push_folder_to_hub(folder, repo_id)` uploads exactly the files that `run_probe` / `save_pretrained` wrote (weights,
`config.json`, the processor config and the model card `README.md`), so what is tested locally is what is published.
`VJEPA2ForVideoClassification.push_to_hub(repo_id)` (transformers' method) works too but uploads only the weights and
config.
"""

from __future__ import annotations

import os
from pathlib import Path

from transformers.utils import logging

logger = logging.get_logger(__name__)

__all__ = ["REQUIRED_FILES", "check_model_folder", "push_folder_to_hub"]

REQUIRED_FILES = ("config.json", "model.safetensors", "video_preprocessor_config.json", "README.md")
_SKIP = ("feature_cache", "checkpoint-", "runs", "__pycache__")


def check_model_folder(folder: str | os.PathLike) -> list[str]:
    """The files that would be uploaded; raises `FileNotFoundError` when a required file is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder not found: {folder}")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing and not ((folder / "model.safetensors.index.json").is_file() and missing == ["model.safetensors"]):
        raise FileNotFoundError(f"{folder} is missing {missing}: save the model, the processor and the card first")
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.startswith(_SKIP) for part in rel.split("/")):
            files.append(rel)
    return files


def push_folder_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str = "Upload V-JEPA 2 video classifier (vjepa2-hf)",
    revision: str | None = None,
):
    """Create `repo_id` if needed and upload the folder (feature caches and Trainer checkpoints excluded).

    Returns:
        the `CommitInfo` of the upload.
    """
    from huggingface_hub import HfApi

    files = check_model_folder(folder)
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    logger.info(f"uploading {len(files)} files from {folder} to {repo_id}")
    return api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        commit_message=commit_message,
        revision=revision,
        ignore_patterns=["feature_cache/*", "checkpoint-*/*", "runs/*", "**/__pycache__/*"],
    )
