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
from evalpin.roles import DATASET
from evalpin.sources import upstream_of
from evalpin.verify import describe_drift, load_data_lock, restore_advice, state_of, verify_delivery


def restore(root: Path, name: str, datasets: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """Restore models/NAME (an adapter's base first) and the pinned datasets named: `models/NAME` or
    `eval/data/NAME` -> where it came from."""
    return restore_all(root, [*model_locks(root, name), *(load_data_lock(root, d) for d in datasets)])


def model_locks(root: Path, name: str) -> list[Lock]:
    """The lock of models/NAME, after its base's (an adapter's) in the order they must be restored."""
    lock = load_lock(project.lock_path(root, name))
    return [*model_locks(root, lock.base.name), lock] if lock.base else [lock]


def restore_all(root: Path, locks: list[Lock]) -> dict[str, str]:
    """Whatever is missing is pulled from the DVC remote in one `dvc pull` (one DVC start-up, one
    warning), then each delivery is verified, or fetched from its upstream."""
    missing = [lock for lock in locks if not (root / lock.what).exists()]
    pulled = pull(root, missing) if missing and project.has_remote(root) else set()
    return {lock.what: restore_one(root, lock, lock.what in pulled) for lock in locks}


def restore_one(root: Path, lock: Lock, pulled: bool = False) -> str:
    """models/NAME or eval/data/NAME (`lock.what`): verified in place, pulled, or fetched from upstream;
    a publisher's signature recorded in the lock is checked again."""
    how = restore_files(root, lock, pulled)
    if lock.signed is None or lock.kind == DATASET:  # publisher signatures are checked on models only
        return how
    from evalpin.signing import recheck_publisher

    return f"{how}; {recheck_publisher(root, lock)}"


def restore_files(root: Path, lock: Lock, pulled: bool) -> str:
    destination, state = root / lock.what, state_of(root, lock)
    if destination.exists() and not pulled:
        report = verify_delivery(destination, lock, state)
        if report.ok:
            return "already in place and verified"
        raise DriftError(
            f"{destination} exists but does not match {lock.what}.lock.json:\n"
            f"{describe_drift(report)}\n"
            f"Refusing to overwrite local changes. {restore_advice(lock)}."
        )
    if pulled:
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


def pull(root: Path, locks: list[Lock]) -> set[str]:
    """`dvc pull` of every delivery in `locks` at once: the `what`s that arrived. After a failed pull,
    one that arrived only counts once it verifies (a partial copy is moved aside)."""
    proc = project.run_dvc(root, "pull", *(f"{lock.what}.dvc" for lock in locks), check=False)
    arrived = {lock.what for lock in locks if (root / lock.what).exists()}
    if proc.returncode == 0:
        return arrived
    kept = set()
    for lock in locks:
        if lock.what not in arrived:
            continue
        if verify_delivery(root / lock.what, lock, state_of(root, lock), full=True).ok:
            kept.add(lock.what)
        else:
            (root / lock.what).rename(quarantine_dir(root, lock.name))  # partial and unverified
    failed = " ".join(f"{lock.what}.dvc" for lock in locks if lock.what not in kept)
    print(
        f"evalpin: warning: `dvc pull {failed}` failed: {pull_failure(proc.stderr or proc.stdout)} "
        "Trying the upstream.",
        file=sys.stderr,
    )
    return kept


def quarantine_dir(root: Path, name: str) -> Path:
    base = root / project.STATE_DIR / "quarantine"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=base, prefix=f"{name}-")) / name
