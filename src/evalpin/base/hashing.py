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
    """The cores this process may run on (a cpuset or `taskset` can allow fewer than the machine has)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, usable or 1))


def sha256_files(paths: Iterable[Path], jobs: int | None = None) -> dict[Path, str]:
    """Hash files in parallel; the result maps each path to its hex digest.

    Largest first: the biggest file bounds the wall time, so it must not start last while the other
    threads sit idle (on 2 cores, four 1 GB files then one 4 GB file take 6 units in list order, 4 this way).
    """
    paths = list(paths)
    sizes = {p: p.stat().st_size for p in paths}
    progress = _progress_bar(sum(sizes.values()))
    try:
        with ThreadPoolExecutor(max_workers=jobs or default_jobs()) as pool:
            ordered = sorted(paths, key=sizes.__getitem__, reverse=True)
            digests = dict(zip(ordered, pool.map(lambda p: sha256_file(p, progress), ordered), strict=True))
            return {p: digests[p] for p in paths}
    finally:
        if progress is not None:
            progress.close()


def _progress_bar(total: int):
    if total < PROGRESS_THRESHOLD or not sys.stderr.isatty():
        return None
    from tqdm import tqdm  # only on the large-delivery path: keeps start-up fast

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="sha256", leave=False)
