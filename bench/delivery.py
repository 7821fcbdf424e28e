"""Synthetic model deliveries: weight shards plus the small files a Hugging Face snapshot carries.

Shards are written once into a pool and hard-linked into each delivery, so the 1, 2, 4 and 8-shard
deliveries cost the disk (and page cache) of the largest alone. Content is random-looking but cheap: one
random block repeated, each 64 MiB stamped with its shard and block number so no two blocks are equal.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.config import MIB
from bench.measure import Run, run
from evalpin.base.runtime import current_runtime
from evalpin.delivery.inventory import list_delivery
from evalpin.delivery.lock import SCHEMA, Lock, LockedFile, Source, save_lock
from evalpin.delivery.roles import role_of

BLOCK = 64 * MIB
SMALL_FILES = {  # name -> size: what a sharded safetensors snapshot carries beside its shards
    "config.json": 700,
    "generation_config.json": 180,
    "tokenizer.json": 9 * MIB,
    "tokenizer_config.json": 50_000,
    "special_tokens_map.json": 400,
    "chat_template.jinja": 4_000,
    "model.safetensors.index.json": 30_000,
}


def write_file(path: Path, size: int, seed: int, block: bytes) -> None:
    """Write `size` bytes: `block` repeated, each repetition stamped (seed, index) in its first 16 bytes."""
    buffer = bytearray(block)
    with open(path, "wb", buffering=0) as fh:
        for index, offset in enumerate(range(0, size, len(block))):
            buffer[:16] = seed.to_bytes(8, "little") + index.to_bytes(8, "little")
            fh.write(memoryview(buffer)[: min(len(block), size - offset)])


def make_pool(directory: Path, count: int, shard_bytes: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    block = os.urandom(BLOCK)
    shards = [directory / f"shard-{i:05d}.bin" for i in range(count)]
    for i, path in enumerate(shards):
        write_file(path, shard_bytes, seed=i, block=block)
    return shards


def assemble(directory: Path, shards: list[Path]) -> Path:
    """A delivery of hard links to `shards` (named like HF shards) and fresh small files."""
    directory.mkdir(parents=True)
    n = len(shards)
    for i, shard in enumerate(shards, 1):
        os.link(shard, directory / f"model-{i:05d}-of-{n:05d}.safetensors")
    block = os.urandom(MIB)
    for seed, (name, size) in enumerate(SMALL_FILES.items(), 1000):
        write_file(directory / name, size, seed, block)
    return directory


def split_delivery(directory: Path, total: int, count: int) -> Path:
    """`count` weight files of `total // count` bytes each (the 10 vs 1000 files comparison)."""
    directory.mkdir(parents=True)
    block = os.urandom(min(BLOCK, total // count))
    for i in range(count):
        write_file(directory / f"part-{i:05d}.safetensors", total // count, seed=5000 + i, block=block)
    return directory


def delivery_bytes(directory: Path) -> int:
    return sum((directory / p).stat().st_size for p in list_delivery(directory))


def openssl_sha256(directory: Path, cpus: set[int] | None = None) -> tuple[Run, dict[str, str]]:
    """`openssl dgst -sha256` over every file of the delivery, in one process: one core's sha256 speed."""
    paths = list_delivery(directory)
    result = run(["openssl", "dgst", "-sha256", "-r", *paths], cwd=directory, cpus=cpus)
    digests = {}
    for line in result.stdout.splitlines():
        digest, _, name = line.partition(" ")
        digests[name.lstrip("*")] = digest
    if sorted(digests) != paths:
        raise RuntimeError(f"openssl output does not list every file of {directory}")
    return result, digests


def write_lock(directory: Path, lock_file: Path, digests: dict[str, str]) -> Path:
    """A real evalpin lock for the delivery, from openssl's digests (so verify is checked against openssl)."""
    files = tuple(
        LockedFile(p, (directory / p).stat().st_size, digests[p], role_of(p)) for p in sorted(digests)
    )
    source = Source(f"bench/{directory.name}", "0" * 40, None, None, None)
    model_config = {"architectures": ["BenchForCausalLM"]}
    lock = Lock(SCHEMA, directory.name, source, files, {}, model_config, current_runtime())
    save_lock(lock, lock_file)
    return lock_file
