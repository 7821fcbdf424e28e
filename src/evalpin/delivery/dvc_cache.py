"""The DVC cache objects of a tracked delivery (models/NAME, eval/data/NAME): where they are, whether the
cache holds them all, staging a copy from them, and evicting those that are corrupt.

DVC names an object by its md5 and does not re-hash what it downloads; evalpin checks the bytes against
the lock's sha256s, so these helpers only find, copy and delete objects.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from pathlib import Path

from evalpin.base.atomic import kill_point


def cache_root(root: Path) -> Path:
    """The local cache's object directory (DVC 3: .dvc/cache/files/md5, or core's cache.dir)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return Path(repo.cache.local.path)


def dir_md5(root: Path, what: str) -> str:
    """The directory hash `what.dvc` records (its manifest object's name)."""
    import yaml

    return yaml.safe_load((root / f"{what}.dvc").read_text())["outs"][0]["md5"]


def object_path(md5: str) -> str:
    """An object's path relative to a remote's url."""
    return f"files/md5/{cached(md5)}"


def cached(md5: str) -> str:
    """An object's path relative to the cache's object directory."""
    return f"{md5[:2]}/{md5[2:]}"


def manifest_object(root: Path, what: str) -> str:
    """Where the remote keeps the directory manifest of `what`, relative to the remote's url."""
    return object_path(dir_md5(root, what))


def entries(cache: Path, manifest_md5: str) -> list[tuple[str, Path]] | None:
    """(relpath, object) per file of the manifest; None when the cache lacks the manifest or it is corrupt."""
    try:
        listed = json.loads((cache / cached(manifest_md5)).read_text())
        return [(entry["relpath"], cache / cached(entry["md5"])) for entry in listed]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def holds(root: Path, what: str) -> bool:
    """Whether the DVC cache holds every object of `what` (an interrupted `dvc commit` leaves it short)."""
    found = entries(cache_root(root), dir_md5(root, what))
    return found is not None and all(obj.is_file() for _, obj in found)


def stage_from_cache(root: Path, what: str, staged: Path) -> bool:
    """Copy `what`'s files from the DVC cache into `staged` (never into the workspace); False when the
    cache lacks any of them (a fetch that failed or was cut short)."""
    found = entries(cache_root(root), dir_md5(root, what))
    if found is None or not all(obj.is_file() for _, obj in found):
        return False
    for relpath, obj in found:
        target = staged / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(obj, target)  # a copy: read-only links to cache objects cannot be staged
        kill_point("restore.staging")
    return True


def evict_corrupt_objects(root: Path, what: str) -> list[str]:
    """Delete the DVC cache objects of `what` whose bytes do not hash to their name (md5).

    DVC does not re-hash what it downloads, so a corrupted remote object lands in the cache under the
    right name and every later checkout would use it. Called only after a pulled delivery failed its lock.
    """
    cache, manifest = cache_root(root), dir_md5(root, what)
    wanted = [manifest]
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):  # a corrupt manifest: evict it
        wanted += [entry["md5"] for entry in json.loads((cache / cached(manifest)).read_text())]
    evicted = []
    for md5 in wanted:
        path = cache / cached(md5)
        digest = hashlib.md5()
        try:
            with path.open("rb") as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    digest.update(chunk)
        except FileNotFoundError:
            continue
        if digest.hexdigest() != md5.removesuffix(".dir"):
            path.chmod(0o644)
            path.unlink()
            evicted.append(object_path(md5))
    return evicted
