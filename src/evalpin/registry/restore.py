"""Bring a pinned delivery back into models/NAME: from the DVC remote, else from the upstream commit.

Either way it is accepted only if every file matches the lock, and either way the files are staged under
.evalpin/staging first (the remote's fetched from the DVC cache, never `dvc pull`ed into the workspace),
so nothing unverified ever lands in models/; the upstream's are then committed to the DVC cache. A kill
at any point leaves either no models/NAME or the verified one; the rerun removes the staged leftovers and
commits what an interrupted restore had not.
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from evalpin.base import project
from evalpin.base.atomic import kill_point, replace_dir
from evalpin.base.documents import read_yaml
from evalpin.base.errors import DriftError, EvalpinError
from evalpin.base.exclusive import exclusive
from evalpin.base.leftovers import clean_and_say
from evalpin.base.outs import RESULTS_DIR, SAMPLES_DIR
from evalpin.delivery import dvc_cache
from evalpin.delivery.gguf_file import is_gguf
from evalpin.delivery.lock import Lock, load_lock
from evalpin.delivery.roles import DATASET
from evalpin.delivery.sources import upstream_of
from evalpin.delivery.verify import describe_drift, load_data_lock, restore_advice, state_of, verify_delivery
from evalpin.pinning.pin import copy_delivery, staging_dir
from evalpin.registry.remote import pull_failure
from evalpin.signing import recheck_publisher


def restore(root: Path, name: str, datasets: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """Restore models/NAME (an adapter's base first) and the pinned datasets named: `models/NAME` or
    `eval/data/NAME` -> where it came from."""
    return restore_all(root, [*model_locks(root, name), *(load_data_lock(root, d) for d in datasets)])


STORED_OUTPUTS = (RESULTS_DIR, SAMPLES_DIR)  # the evaluate stage's DVC-cached outputs (dvc.yaml)


def restore_outputs(root: Path) -> dict[str, str]:
    """The stored results and samples dvc.lock records, from the DVC remote, where this clone lacks them
    (a colleague's fresh clone): `dvc repro` then reuses every result the team already computed instead of
    evaluating the suite again. DVC checks each file against dvc.lock; evaluate checks each result's key."""
    lock = root / "dvc.lock"
    missing = [out for out in STORED_OUTPUTS if not (root / out).exists()]
    if not missing or not lock.is_file() or not project.has_remote(root):
        return {}
    stages = read_yaml(lock, "`git checkout dvc.lock`").get("stages") or {}
    recorded = {out.get("path") for out in (stages.get("evaluate") or {}).get("outs") or []}
    wanted = [out for out in missing if out in recorded]
    if not wanted:
        return {}
    proc = project.run_dvc(root, "pull", "--quiet", *wanted, check=False)
    if proc.returncode == 0:
        return dict.fromkeys(wanted, "pulled from the DVC remote: `dvc repro` reuses these results")
    return dict.fromkeys(wanted, "not in the DVC remote yet: `dvc repro` evaluates the suite")


def model_locks(root: Path, name: str) -> list[Lock]:
    """The lock of models/NAME, after its base's (an adapter's) in the order they must be restored."""
    lock = load_lock(project.lock_path(root, name))
    return [*model_locks(root, lock.base.name), lock] if lock.base else [lock]


def restore_all(root: Path, locks: list[Lock]) -> dict[str, str]:
    """Whatever is missing is fetched from the DVC remote in one `dvc fetch` (one DVC start-up, one
    warning), then each delivery is verified, or fetched from its upstream; each under its name's lock,
    after removing what interrupted runs left (a staged copy, a temporary file)."""
    with ExitStack() as held:
        for lock in locks:
            held.enter_context(exclusive(root, lock.name, f"restore {lock.name}"))
        clean_and_say(root)
        missing = [lock for lock in locks if not (root / lock.what).exists()]
        remote = bool(missing) and project.has_remote(root)
        if remote:
            fetch(root, missing)
        fetched = {lock.what for lock in missing} if remote else set()
        return {lock.what: restore_one(root, lock, lock.what in fetched) for lock in locks}


def restore_one(root: Path, lock: Lock, fetched: bool = False) -> str:
    """models/NAME or eval/data/NAME (`lock.what`): verified in place, pulled, or fetched from upstream;
    a publisher's signature recorded in the lock is checked again."""
    how = restore_files(root, lock, fetched)
    if lock.signed is None or lock.kind == DATASET:  # publisher signatures are checked on models only
        return how

    return f"{how}; {recheck_publisher(root, lock)}"


def restore_files(root: Path, lock: Lock, fetched: bool) -> str:
    destination, state = root / lock.what, state_of(root, lock)
    if destination.exists():
        return in_place(root, lock, destination)
    if fetched and (pulled := install_pulled(root, lock, destination)):
        return pulled
    fetch_from_upstream(root, lock, destination)
    kill_point("restore.before_commit")
    commit_to_cache(root, lock)
    verify_delivery(destination, lock, state)  # fast: the staged copy's stat record holds
    return f"fetched {lock.source.repo_id}@{lock.source.revision} from the upstream, verified, cached"


def in_place(root: Path, lock: Lock, destination: Path) -> str:
    """A delivery already there: verified, and committed to the DVC cache if an interrupted restore had
    not (its bytes verify, so they are the pinned ones)."""
    report = verify_delivery(destination, lock, state_of(root, lock))
    if not report.ok:
        raise DriftError(
            f"{destination} exists but does not match {lock.what}.lock.json:\n"
            f"{describe_drift(report)}\n"
            f"Refusing to overwrite local changes. {restore_advice(lock)}."
        )
    if not (root / f"{lock.what}.dvc").is_file():
        raise EvalpinError(
            f"{root / lock.what}.dvc: missing, so DVC does not track {lock.what} (a pin was interrupted "
            f"before `dvc add`). Its files verify: track them with `dvc add {lock.what}`, or rerun the pin."
        )
    if dvc_cache.holds(root, lock.what):
        return "already in place and verified"
    commit_to_cache(root, lock)
    return "already in place and verified; now committed to the DVC cache (an interrupted restore had not)"


def commit_to_cache(root: Path, lock: Lock) -> None:
    project.run_dvc(root, "commit", "--force", f"{lock.what}.dvc")


def install_pulled(root: Path, lock: Lock, destination: Path) -> str | None:
    """Stage the fetched objects under .evalpin/staging, verify them against the lock, rename them onto
    `destination`: nothing unverified lands in the workspace. None when the cache lacks some (the fetch
    failed): the upstream is tried. Corrupt objects are evicted and the delivery refused."""
    with staging_dir(root, lock.name) as staged_name:
        staged = Path(staged_name)
        if not dvc_cache.stage_from_cache(root, lock.what, staged):
            return None
        report = verify_delivery(staged, lock, state_of(root, lock), full=True)
        if report.ok:
            replace_dir(staged, destination)
            return "pulled from the DVC remote and verified"
        quarantine = quarantine_dir(root, lock.name)
        staged.rename(quarantine)
    evicted = dvc_cache.evict_corrupt_objects(root, lock.what)
    manifest = dvc_cache.manifest_object(root, lock.what)
    raise DriftError(
        f"what the DVC remote returned for {lock.what} does not match the lock, so it was not used "
        f"(moved to {quarantine}; {len(evicted)} corrupt object(s) evicted from the DVC cache):\n"
        f"{describe_drift(report)}\nFix the remote: delete {', '.join([*evicted, manifest])} from it "
        "(`dvc push` skips a directory whose manifest the remote already has), then `dvc push` from a "
        "clone that verifies; or restore from the upstream."
    )


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
        report = verify_delivery(staged, lock, state_of(root, lock), full=True)  # the record survives renames
        if not report.ok:
            raise DriftError(
                f"{upstream.describe()} at {lock.source.revision} does not match the lock; nothing was "
                f"installed:\n{describe_drift(report)}"
            )
        replace_dir(staged, destination)


def fetch(root: Path, locks: list[Lock]) -> None:
    """`dvc fetch` of every delivery in `locks` at once, into the DVC cache only (a kill leaves nothing
    in the workspace). Whatever did arrive is still used; what did not comes from the upstream."""
    proc = project.run_dvc(root, "fetch", *(f"{lock.what}.dvc" for lock in locks), check=False)
    if line := fetch_line(
        " ".join(f"{lock.what}.dvc" for lock in locks), proc.returncode, proc.stderr or proc.stdout
    ):
        print(line, file=sys.stderr)


def fetch_line(fetched: str, returncode: int, output: str) -> str | None:
    """What restore says before it falls back to the upstream: an info line when the remote simply lacks
    the objects (every fresh clone's first run, before anyone pushed), a warning for a real failure."""
    if returncode != 0:
        return (
            f"evalpin: warning: `dvc fetch {fetched}` failed: {pull_failure(output)} "
            "Using what arrived, else the upstream."
        )
    if "do not exist neither locally nor on remote" in output:
        return (
            f"evalpin: info: {fetched}: not in the DVC remote yet (normal on a first run, before a "
            "`dvc push`); restoring from the upstream."
        )
    return None


def quarantine_dir(root: Path, name: str) -> Path:
    base = root / project.STATE_DIR / "quarantine"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=base, prefix=f"{name}-")) / name
