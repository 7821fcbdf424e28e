"""sha256 of many files at disk speed: streaming (constant memory), one thread per file in flight.

hashlib releases the GIL on large updates, so threads scale with cores; a single file cannot be split
(sha256 is sequential), which is why a delivery of one huge shard hashes at one core's speed.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHUNK = 1 << 20  # 1 MiB: large enough to release the GIL, small enough to keep memory flat
PROGRESS_THRESHOLD = 512 << 20  # show a progress bar above this many bytes, on a terminal


def sha256_file(path: Path, progress=None) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
            if progress is not None:
                progress.update(n)
    return digest.hexdigest()


def default_jobs() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def sha256_files(paths: Iterable[Path], jobs: int | None = None) -> dict[Path, str]:
    """Hash files in parallel; the result maps each path to its hex digest."""
    paths = list(paths)
    total = sum(p.stat().st_size for p in paths)
    progress = _progress_bar(total)
    try:
        with ThreadPoolExecutor(max_workers=jobs or default_jobs()) as pool:
            digests = pool.map(lambda p: sha256_file(p, progress), paths)
            return dict(zip(paths, digests, strict=True))
    finally:
        if progress is not None:
            progress.close()


def _progress_bar(total: int):
    if total < PROGRESS_THRESHOLD or not sys.stderr.isatty():
        return None
    from tqdm import tqdm  # only on the large-delivery path: keeps start-up fast

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="sha256", leave=False)
