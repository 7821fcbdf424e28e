"""sha256 of many files (base/hashing.py): streamed in chunks, in parallel, in the caller's order."""

import hashlib
import os
import sys

import pytest

from evalpin.base.hashing import (
    CHUNK,
    PROGRESS_THRESHOLD,
    _progress_bar,
    default_jobs,
    sha256_file,
    sha256_files,
)


def _write(path, size: int, seed: int = 0) -> bytes:
    pattern = bytes((i * 31 + seed) % 256 for i in range(251))  # 251: no period in common with CHUNK
    data = (pattern * (size // len(pattern) + 1))[:size]
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 3])
def test_a_file_hashes_as_hashlib_hashes_its_bytes_across_chunk_boundaries(tmp_path, size):
    data = _write(tmp_path / "f", size)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()


class Counter:
    """What a tqdm bar is told: the bytes read, chunk by chunk."""

    def __init__(self):
        self.updates = []

    def update(self, n: int) -> None:
        self.updates.append(n)


def test_progress_is_told_every_byte_once_per_chunk(tmp_path):
    _write(tmp_path / "f", 2 * CHUNK + 3)
    counter = Counter()
    sha256_file(tmp_path / "f", counter)
    assert counter.updates == [CHUNK, CHUNK, 3]


@pytest.mark.parametrize("jobs", [1, 3, None])
def test_many_files_map_each_path_to_its_digest_in_the_callers_order(tmp_path, jobs):
    sizes = {"small": 10, "big": 3 * CHUNK, "empty": 0, "medium": CHUNK + 1}
    expected = {}
    for seed, (name, size) in enumerate(sizes.items()):
        expected[tmp_path / name] = hashlib.sha256(_write(tmp_path / name, size, seed)).hexdigest()
    digests = sha256_files(list(expected), jobs=jobs)
    assert digests == expected and list(digests) == list(expected)  # largest hashed first, listed as given
    assert len(set(digests.values())) == len(sizes)


def test_no_files_is_an_empty_map_and_a_missing_file_is_named(tmp_path):
    assert sha256_files([]) == {}
    with pytest.raises(FileNotFoundError, match="absent"):
        sha256_files([tmp_path / "absent"])


def test_jobs_follow_the_cores_this_process_may_use_capped_at_eight():
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_jobs() == max(1, min(8, usable))


def test_a_progress_bar_only_above_the_threshold_and_on_a_terminal():
    assert _progress_bar(PROGRESS_THRESHOLD - 1) is None
    bar = _progress_bar(PROGRESS_THRESHOLD)
    assert (bar is not None) == sys.stderr.isatty()  # pytest captures stderr unless run with -s
    if bar is not None:
        assert bar.total == PROGRESS_THRESHOLD
        bar.close()
