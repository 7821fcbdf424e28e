"""Benchmark sizes. `full` takes about 12 minutes on 2 cores, `small` about 5 (most of it evaluation)."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class Scale:
    name: str
    shard_bytes: int  # one weight shard
    growth_shards: tuple[int, ...]  # delivery sizes for the growth table, in shards
    throughput_shards: int  # the delivery measured on one core vs all cores
    many_files_total: int  # total size of the 10-file and the 1000-file deliveries
    dvc_shards: int  # the delivery pinned and restored with each DVC cache.type
    repeats: int  # verify / openssl / dvc runs per figure (medians)
    eval_repeats: int  # `evalpin evaluate` vs `lm_eval` runs (medians)
    startup_repeats: int  # CLI start-up and no-op `dvc repro` runs (medians)

    def scratch_bytes(self) -> int:
        """Disk the run needs at its peak: the shard pool, the file-count pair, a DVC workspace + cache."""
        pool = max(self.growth_shards) * self.shard_bytes
        return pool + 2 * self.many_files_total + 2 * self.dvc_shards * self.shard_bytes


SCALES = {
    "full": Scale("full", GIB, (1, 2, 4, 8), 4, GIB, 2, 3, 3, 10),
    "small": Scale("small", 128 * MIB, (1, 2, 4, 8), 4, 128 * MIB, 2, 2, 2, 5),
}
