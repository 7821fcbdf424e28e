"""Bring a pinned delivery back into models/NAME: from the DVC remote, else from the upstream commit.

Either way it is accepted only if every file matches the lock; the upstream path stages the files under
.evalpin/staging first, so nothing unverified ever lands in models/, then commits them to the DVC cache.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from evalpin import project
from evalpin.atomic import replace_dir
from evalpin.errors import DriftError
from evalpin.ggufinfo import is_gguf
from evalpin.lock import DATASET, Lock, load_lock
from evalpin.pin import copy_delivery, staging_dir
from evalpin.remote import evict_corrupt_objects, manifest_object, pull_failure
from evalpin.sources import upstream_of
from evalpin.verify import describe_drift, load_data_lock, state_of, verify_delivery


def restore(root: Path, name: str) -> str:
    """Restore models/NAME (and an adapter's base first) and say where it came from."""
    lock = load_lock(project.lock_path(root, name))
    if lock.base:
        return f"base {lock.base.name}: {restore(root, lock.base.name)}; adapter: {restore_one(root, lock)}"
    return restore_one(root, lock)


def restore_datasets(root: Path, names: list[str]) -> dict[str, str]:
    """Restore eval/data/NAME for each pinned dataset named (the suite's): name -> where it came from."""
    return {name: restore_one(root, load_data_lock(root, name)) for name in names}


def restore_one(root: Path, lock: Lock) -> str:
    """models/NAME or eval/data/NAME (`lock.what`): verified in place, pulled, or fetched from upstream;
    a publisher's signature recorded in the lock is checked again."""
    how = restore_files(root, lock)
    if lock.signed is None or lock.kind == DATASET:  # publisher signatures are checked on models only
        return how
    from evalpin.signing import recheck_publisher

    return f"{how}; {recheck_publisher(root, lock)}"


def restore_files(root: Path, lock: Lock) -> str:
    destination, state = root / lock.what, state_of(root, lock)
    if destination.exists():
        report = verify_delivery(destination, lock, state)
        if report.ok:
            return "already in place and verified"
        raise DriftError(
            f"{destination} exists but does not match {lock.what}.lock.json:\n"
            f"{describe_drift(report)}\n"
            "Refusing to overwrite local changes. Move it aside "
            f"(or discard them: `dvc checkout --force {lock.what}.dvc`) "
            "and run restore again."
        )
    if project.has_remote(root) and pull(root, lock):
        report = verify_delivery(destination, lock, state, full=True)
        if report.ok:
            return "pulled from the DVC remote and verified"
        quarantine = quarantine_dir(root, lock.name)
        destination.rename(quarantine)
        evicted = evict_corrupt_objects(root, lock.what)
        manifest = manifest_object(root, lock.what)
        raise DriftError(
            f"what the DVC remote returned for {lock.what} does not match the lock, so it was not used "
            f"(moved to {quarantine}; {len(evicted)} corrupt object(s) evicted from the DVC cache):\n"
            f"{describe_drift(report)}\nFix the remote: delete {', '.join([*evicted, manifest])} from it "
            "(`dvc push` skips a directory whose manifest the remote already has), then `dvc push` from a "
            "clone that verifies; or restore from the upstream."
        )
    fetch_from_upstream(root, lock, destination)
    project.run_dvc(root, "commit", "--force", f"{lock.what}.dvc")
    verify_delivery(destination, lock, state, full=True)  # records the stat state for fast re-verifies
    return f"fetched {lock.source.repo_id}@{lock.source.revision} from the upstream, verified, cached"


def fetch_from_upstream(root: Path, lock: Lock, destination: Path) -> None:
    # Provenance was settled at pin time; a restore accepts only bytes that match the lock.
    upstream = upstream_of(
        root,
        lock.source.repo_id,
        lock.source.upstream,
        lock.source.local_dir,
        lock.source.repo_type or "model",
    )
    delivery = upstream.delivery(lock.source.revision)
    locked = lock.by_path()  # a GGUF pin chose one file, a dataset pin maybe some (--include): the rest stay
    chosen = (lambda f: f in locked) if lock.kind == DATASET else (lambda f: not is_gguf(f) or f in locked)
    delivery = replace(delivery, files=[f for f in delivery.files if chosen(f)])
    with staging_dir(root, lock.name) as staged_name:
        staged = Path(staged_name)
        copy_delivery(delivery, staged)
        report = verify_delivery(staged, lock, full=True)
        if not report.ok:
            raise DriftError(
                f"{upstream.describe()} at {lock.source.revision} does not match the lock; nothing was "
                f"installed:\n{describe_drift(report)}"
            )
        replace_dir(staged, destination)


def pull(root: Path, lock: Lock) -> bool:
    destination = root / lock.what
    proc = project.run_dvc(root, "pull", f"{lock.what}.dvc", check=False)
    if proc.returncode != 0 and destination.exists():
        destination.rename(quarantine_dir(root, lock.name))  # partial and unverified
    if proc.returncode != 0:
        print(
            f"evalpin: warning: `dvc pull {lock.what}.dvc` failed: "
            f"{pull_failure(proc.stderr or proc.stdout)} Trying the upstream.",
            file=sys.stderr,
        )
    return proc.returncode == 0 and destination.exists()


def quarantine_dir(root: Path, name: str) -> Path:
    base = root / project.STATE_DIR / "quarantine"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=base, prefix=f"{name}-")) / name
