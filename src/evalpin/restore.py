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
from evalpin.lock import Lock, load_lock
from evalpin.pin import copy_delivery, staging_dir
from evalpin.remote import evict_corrupt_objects, manifest_object, pull_failure
from evalpin.sources import upstream_of
from evalpin.verify import describe_drift, state_file, verify_delivery


def restore(root: Path, name: str) -> str:
    """Restore models/NAME (and an adapter's base first) and say where it came from."""
    lock = load_lock(project.lock_path(root, name))
    if lock.base:
        return f"base {lock.base.name}: {restore(root, lock.base.name)}; adapter: {restore_one(root, lock)}"
    return restore_one(root, lock)


def restore_one(root: Path, lock: Lock) -> str:
    how = restore_files(root, lock)
    if lock.signed is None:
        return how
    from evalpin.signing import recheck_publisher

    return f"{how}; {recheck_publisher(root, lock)}"


def restore_files(root: Path, lock: Lock) -> str:
    name = lock.name
    destination = project.model_dir(root, name)
    state = state_file(root, name)
    if destination.exists():
        report = verify_delivery(destination, lock, state)
        if report.ok:
            return "already in place and verified"
        raise DriftError(
            f"{destination} exists but does not match {project.lock_path(root, name)}:\n"
            f"{describe_drift(report)}\n"
            "Refusing to overwrite local changes. Move it aside "
            f"(or discard them: `dvc checkout --force models/{name}.dvc`) "
            "and run restore again."
        )
    if project.has_remote(root) and pull(root, name):
        report = verify_delivery(destination, lock, state, full=True)
        if report.ok:
            return "pulled from the DVC remote and verified"
        quarantine = quarantine_dir(root, name)
        destination.rename(quarantine)
        evicted = evict_corrupt_objects(root, name)
        manifest = manifest_object(root, name)
        raise DriftError(
            f"what the DVC remote returned for models/{name} does not match the lock, so it was not used "
            f"(moved to {quarantine}; {len(evicted)} corrupt object(s) evicted from the DVC cache):\n"
            f"{describe_drift(report)}\nFix the remote: delete {', '.join([*evicted, manifest])} from it "
            "(`dvc push` skips a directory whose manifest the remote already has), then `dvc push` from a "
            "clone that verifies; or restore from the upstream."
        )
    fetch_from_upstream(root, lock, destination)
    project.run_dvc(root, "commit", "--force", f"{project.MODELS_DIR}/{name}.dvc")
    verify_delivery(destination, lock, state, full=True)  # records the stat state for fast re-verifies
    return f"fetched {lock.source.repo_id}@{lock.source.revision} from the upstream, verified, cached"


def fetch_from_upstream(root: Path, lock: Lock, destination: Path) -> None:
    # Provenance was settled at pin time; a restore accepts only bytes that match the lock.
    upstream = upstream_of(root, lock.source.repo_id, lock.source.upstream, lock.source.local_dir)
    delivery = upstream.delivery(lock.source.revision)
    locked = lock.by_path()  # a GGUF pin chose one file: the upstream's other GGUF files stay there
    delivery = replace(delivery, files=[f for f in delivery.files if not is_gguf(f) or f in locked])
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


def pull(root: Path, name: str) -> bool:
    proc = project.run_dvc(root, "pull", f"{project.MODELS_DIR}/{name}.dvc", check=False)
    if proc.returncode != 0 and project.model_dir(root, name).exists():
        project.model_dir(root, name).rename(quarantine_dir(root, name))  # partial and unverified
    if proc.returncode != 0:
        print(
            f"evalpin: warning: `dvc pull {project.MODELS_DIR}/{name}.dvc` failed: "
            f"{pull_failure(proc.stderr or proc.stdout)} Trying the upstream.",
            file=sys.stderr,
        )
    return proc.returncode == 0 and project.model_dir(root, name).exists()


def quarantine_dir(root: Path, name: str) -> Path:
    base = root / project.STATE_DIR / "quarantine"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=base, prefix=f"{name}-")) / name
