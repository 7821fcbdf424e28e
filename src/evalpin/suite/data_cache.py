"""The datasets library's arrow cache of a pinned dataset, provable before every use.

The library memory-maps the arrow files under a cache directory as they are: it never checks them against
the source files, so a cache edited behind the verified data would change a score with no error. evalpin
gives each lock its own cache directory (catalog.cache_dir: keyed by the lock digest, the digest of every
locked file it is built from) and, after each evaluation that used it, records the sha256 of every file
in it (a manifest beside the directory, written atomically). Before the next use the cache must match its
manifest exactly: no file changed, missing or added. A cache without a manifest (a kill after the build,
before the record) or with any difference is removed and rebuilt from the verified files, with a warning:
an unproven cache is never read.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evalpin.base.atomic import write_atomic
from evalpin.base.hashing import sha256_files

SCHEMA = 1
SKIPPED = (".lock",)  # filelock's lock files: empty, created and removed by the library as it runs


def manifest_path(cache: Path) -> Path:
    """Beside the cache, not in it: the library never lists or removes it."""
    return cache.with_name(cache.name + ".manifest.json")


def cache_files(cache: Path) -> dict[str, Path]:
    """Every file the library may read under `cache` (relative POSIX path -> path)."""
    if not cache.is_dir():
        return {}
    return {
        p.relative_to(cache).as_posix(): p
        for p in sorted(cache.rglob("*"))
        if (p.is_file() or p.is_symlink()) and not p.name.endswith(SKIPPED)
    }


def digests(cache: Path) -> dict[str, str]:
    files = cache_files(cache)
    hashed = sha256_files(files.values())
    return {rel: hashed[path] for rel, path in files.items()}


def problem(cache: Path) -> str | None:
    """Why `cache` cannot be read as it is (None: it matches its manifest, or does not exist yet)."""
    manifest = manifest_path(cache)
    if not cache.exists():
        return None
    try:
        recorded = json.loads(manifest.read_text())
        files = recorded["files"] if recorded.get("schema") == SCHEMA else None
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        files = None
    if not isinstance(files, dict):
        return f"{manifest} is missing or unreadable: nothing proves {cache} was built from verified files"
    found = cache_files(cache)
    if extra := sorted(set(found) - set(files)):
        return f"{cache / extra[0]} is not in {manifest.name} (added after evalpin built the cache)"
    if missing := sorted(set(files) - set(found)):
        return f"{cache / missing[0]} is missing (listed in {manifest.name})"
    now = digests(cache)
    if changed := sorted(rel for rel, sha in files.items() if now[rel] != sha):
        return f"{cache / changed[0]} changed since evalpin built the cache (sha256 not {manifest.name}'s)"
    return None


def prove(cache: Path, data: str) -> None:
    """Before use: a cache that does not match its manifest is removed (the library rebuilds it from the
    verified eval/data/NAME), with one warning line saying why."""
    why = problem(cache)
    if why is None:
        return
    print(
        f"evalpin: warning: {why}; removed the cache, rebuilding it from the verified eval/data/{data}",
        file=sys.stderr,
    )
    manifest_path(cache).unlink(missing_ok=True)
    shutil.rmtree(cache)


def record(cache: Path) -> None:
    """After a use: the sha256 of every file the cache now holds (a run may add map caches), atomically."""
    if cache.is_dir():
        write_atomic(manifest_path(cache), json.dumps({"schema": SCHEMA, "files": digests(cache)}, indent=1))


@contextmanager
def proven(caches: dict[str, Path]) -> Iterator[None]:
    """Each cache (dataset name -> its directory) proven before the body reads it, recorded after the body
    succeeded; a failure records nothing, so the next run proves the cache again."""
    for data, cache in caches.items():
        prove(cache, data)
    yield
    for cache in caches.values():
        record(cache)
