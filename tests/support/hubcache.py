"""Deliveries laid out as a huggingface_hub cache (what `evalpin pin --upstream DIR` reads), written without
torch: the demo's and the real model's upstreams, and the tests' small dataset repo."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from evalpin.delivery.sources import git_blob_sha1

LFS_SUFFIXES = (".safetensors", ".parquet")  # stored as LFS on the Hub: the blob is named by its sha256
# A test dataset repo's two commits (the second fixes a key), and its questions.
ARC_COMMIT, ARC_FIX = "a" * 40, "b" * 40
QUESTIONS = ("What is the capital of France?", "What color is the sky?")


def fresh_cache_repo(repo_id: str, hub: Path, repo_type: str = "model") -> Path:
    """An empty huggingface_hub cache entry for repo_id under `hub` (any previous one is removed)."""
    repo_dir = hub / f"{repo_type}s--{repo_id.replace('/', '--')}"
    shutil.rmtree(repo_dir, ignore_errors=True)
    for sub in ("blobs", "snapshots", "refs"):
        (repo_dir / sub).mkdir(parents=True)
    return repo_dir


def add_commit(repo_dir: Path, files_dir: Path, parent: str, message: str) -> str:
    """Store files_dir as a cache snapshot: blobs by etag, snapshot entries as relative symlinks."""
    entries = []
    for path in sorted(p for p in files_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        etag = hashlib.sha256(data).hexdigest() if path.suffix in LFS_SUFFIXES else git_blob_sha1(data)
        (repo_dir / "blobs" / etag).write_bytes(data)
        entries.append((path.relative_to(files_dir).as_posix(), etag))
    tree = "".join(f"{name} {etag}\n" for name, etag in entries)
    commit = hashlib.sha1(f"parent {parent}\n{tree}\n{message}\n".encode()).hexdigest()
    snapshot = repo_dir / "snapshots" / commit
    for name, etag in entries:
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../" * (name.count("/") + 2)) / "blobs" / etag)
    return commit


def write_dataset_cache(cache: Path, answers: tuple[str, ...] = ("A", "B")) -> Path:
    """A dataset repo in huggingface_hub cache layout, as the Hub serves ai2_arc today: parquet per
    config and split, a README whose YAML header lists `configs:`. Commit ARC_COMMIT; `main` points at it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = cache / "datasets--tests--arc"
    snapshot = repo / "snapshots" / ARC_COMMIT
    for split in ("train", "test", "validation"):
        table = pa.table(
            {
                "id": [f"{split}-{i}" for i in range(len(answers))],
                "question": [QUESTIONS[i % len(QUESTIONS)] for i in range(len(answers))],
                "choices": [{"text": ["Paris", "Rome"], "label": ["A", "B"]}] * len(answers),
                "answerKey": list(answers),
            }
        )
        (snapshot / "ARC-Easy").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, snapshot / "ARC-Easy" / f"{split}-00000-of-00001.parquet")
    (snapshot / "README.md").write_text(
        "---\nconfigs:\n- config_name: ARC-Easy\n  data_files:\n"
        "  - split: train\n    path: ARC-Easy/train-*\n  - split: test\n    path: ARC-Easy/test-*\n"
        "  - split: validation\n    path: ARC-Easy/validation-*\n---\n"
    )
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(ARC_COMMIT)
    return snapshot
