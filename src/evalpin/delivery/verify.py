"""Verify a delivery against its lock, fail-closed: missing, extra, resized or changed files are drift.

Re-hashing is skipped only for a file that is provably unchanged since the last full verify. "Provably"
means its size, mtime, ctime, inode and device all equal what was recorded right after it hashed to the
locked sha256. A user can set mtime back (touch -d); ctime is set by the kernel on every write, rename or
chmod and cannot be set from user space, so a rewrite always shows. The record lives in .evalpin/state/
(local, git-ignored) and is bound to the lock's digest; `--full` ignores it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from evalpin.base import project, proven
from evalpin.base.atomic import write_atomic
from evalpin.base.documents import read_yaml, switch
from evalpin.base.errors import DriftError, EvalpinError
from evalpin.base.hashing import sha256_files
from evalpin.base.runtime import current_runtime, package_version
from evalpin.base.table import columns
from evalpin.delivery.adapter import check_binding
from evalpin.delivery.card_files import Card
from evalpin.delivery.gguf_file import describe_file
from evalpin.delivery.inventory import list_delivery
from evalpin.delivery.lock import Lock, load_lock
from evalpin.delivery.roles import DATA_ROLES, DATASET, role_of
from evalpin.delivery.safetensors_file import check_weights
from evalpin.delivery.safety import check_data_safety, check_safety

SAME_WEIGHTS = "; weights identical (same weights, another delivery)"
DRIFT_KINDS = ("missing", "extra", "resized", "changed")
ROLE_WORDS = {
    "weights": "weights",
    "tokenizer": "tokenizer",
    "chat_template": "chat template",
    "generation_config": "generation defaults",
    "model_config": "model config",
    "quantization": "quantization",
    "remote_code": "remote code",
    "other": "other files",
    "data": "data",
    "card": "dataset card",
    "loading_script": "loading script",
}


@dataclass(frozen=True)
class Finding:
    path: str
    role: str
    kind: str  # one of DRIFT_KINDS
    expected: str | None  # sha256 from the lock
    actual: str | None  # sha256 on disk


@dataclass(frozen=True)
class Report:
    files_checked: int
    files_rehashed: int
    findings: tuple[Finding, ...]
    runtime_changes: dict[str, tuple[str, str]]  # package -> (locked, current)
    inside: dict[str, str] = field(default_factory=dict)  # drifted GGUF file -> what changed inside it

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_delivery(
    directory: Path, lock: Lock, state_file: Path | None = None, full: bool = False
) -> Report:
    if not directory.is_dir():
        fix = "`dvc pull`" if lock.kind == DATASET else f"`evalpin restore {lock.name}` (or `dvc pull`)"
        raise EvalpinError(f"{directory}: {lock.what} not found. Restore it with {fix}.")
    locked = lock.by_path()
    present = list_delivery(directory)
    findings = [
        Finding(p, role_of(p, lock.kind), "extra", None, _sha_or_none(directory / p))
        for p in present
        if p not in locked
    ]
    listed = set(present)  # a set: `in` on the list made this quadratic in the number of files
    findings += [Finding(p, f.role, "missing", f.sha256, None) for p, f in locked.items() if p not in listed]

    candidates = [locked[p] for p in present if p in locked]
    recorded = {} if full or state_file is None else _load_state(state_file, lock.digest)
    base = os.fspath(directory)  # os.path.join: a pathlib join per file costs as much as the stat itself
    stats = {f.path: _stat_key(os.path.join(base, f.path)) for f in candidates}
    to_hash = [f for f in candidates if recorded.get(f.path) != stats[f.path]]
    for f in to_hash:
        if stats[f.path][0] != f.size:
            findings.append(Finding(f.path, f.role, "resized", f.sha256, None))
    sized = [f for f in to_hash if stats[f.path][0] == f.size]
    digests = sha256_files(directory / f.path for f in sized)
    for f in sized:
        actual = digests[directory / f.path]
        if actual != f.sha256:
            findings.append(Finding(f.path, f.role, "changed", f.sha256, actual))

    if state_file is not None and not findings and stats != recorded:  # unchanged: nothing to rewrite
        _save_state(state_file, lock.digest, stats)
    findings.sort(key=lambda x: (DRIFT_KINDS.index(x.kind), x.path))
    inside = gguf_inside(directory, lock, findings)
    return Report(len(candidates), len(sized), tuple(findings), runtime_changes(lock), inside)


def gguf_inside(directory: Path, lock: Lock, findings: list[Finding]) -> dict[str, str]:
    """For each resized or changed GGUF file: what changed inside it (read only on drift: seconds)."""

    locked = lock.gguf or {}
    drifted = [f.path for f in findings if f.kind in ("resized", "changed") and f.path in locked]
    return {p: describe_file(p, locked[p], directory / p) for p in drifted}


def state_file(root: Path, name: str) -> Path:
    return root / project.STATE_DIR / "state" / f"{name}.json"


def data_state_file(root: Path, name: str) -> Path:
    return root / project.STATE_DIR / "state" / "data" / f"{name}.json"


def state_of(root: Path, lock: Lock) -> Path:
    """Where the stat record of a pinned delivery lives (a model's or a dataset's)."""
    return data_state_file(root, lock.name) if lock.kind == DATASET else state_file(root, lock.name)


def verify_pinned(root: Path, name: str, full: bool = False) -> tuple[Lock, Report]:
    """Verify models/NAME against models/NAME.lock.json, under the safety switches of conf/model/NAME.yaml."""
    lock_file = project.lock_path(root, name)
    lock = load_lock(lock_file)
    if lock.name != name:
        raise EvalpinError(
            f"{lock_file}: field 'name' is {lock.name!r}, expected {name!r}; re-pin the model."
        )
    conf_file = project.model_conf_path(root, name)
    conf = read_yaml(conf_file, f"restore it: `git checkout conf/model/{name}.yaml`", missing_ok=True)
    switches = [switch(conf, key, str(conf_file)) for key in ("allow_pickle", "trust_remote_code")]
    check_safety(lock, *switches, str(conf_file))
    check_conf_matches_lock(lock, conf, f"conf/model/{name}.yaml")
    report = verify_delivery(project.model_dir(root, name), lock, state_file(root, name), full)
    if report.ok:  # the locked bytes, but are they loadable? A 0-byte file was pinned as it was.
        check_loadable(root, lock, full)
    return lock, report


def check_loadable(root: Path, lock: Lock, full: bool) -> None:
    """check_weights on a delivery that has just verified: its files are the lock's bytes, so a pass for
    this lock digest, safetensors version and evalpin code is reused (no numpy import), unless `full`."""
    inputs = {
        "lock": lock.digest,
        "safetensors": package_version("safetensors"),
        "evalpin": proven.evalpin_code(),
    }
    if not full and proven.recall(root, f"weights-{lock.name}", inputs):
        return
    source = lock.source
    fix = (
        "It was pinned broken: re-pin it from a complete download "
        f"(`evalpin pin {source.repo_id} --revision {source.revision} --name {lock.name} ...`)."
    )
    check_weights(project.model_dir(root, lock.name), [f.path for f in lock.files], lock.what, fix)
    proven.remember(root, f"weights-{lock.name}", inputs)


def check_conf_matches_lock(lock: Lock, conf: dict, conf_file: str) -> None:
    """The repo_id and revision a model's conf (or params.yaml's model section) names must be the lock's:
    otherwise a release would record a revision that was never evaluated."""
    for key, locked in (("repo_id", lock.source.repo_id), ("revision", lock.source.revision)):
        if key in conf and conf[key] != locked:
            raise EvalpinError(
                f"{conf_file}: field {key!r} is {conf[key]!r}, but models/{lock.name}.lock.json pins "
                f"{locked!r}. Set `{key}: {locked}` in conf/model/{lock.name}.yaml and run `evalpin "
                f"compose`, or pin what it names: `evalpin pin {conf.get('repo_id', lock.source.repo_id)} "
                f"--revision {conf.get('revision', lock.source.revision)} --name {lock.name}`."
            )


def verify_dataset(root: Path, name: str, full: bool = False, accepting: bool = False) -> tuple[Lock, Report]:
    """Verify eval/data/NAME against eval/data/NAME.lock.json, under conf/data/NAME.yaml's trust switch;
    the lock must be the one conf/data/NAME.yaml accepts (`accepting`: about to accept it)."""
    lock = load_data_lock(root, name)
    conf = project.load_data_conf(root, name)
    where = str(project.data_conf_path(root, name))
    check_data_safety(lock, switch(conf, "trust_loading_script", where), where)
    if not accepting:
        check_accepted(lock, conf)
    directory = project.data_dir(root, name)
    report = verify_delivery(directory, lock, state_of(root, lock), full)
    if report.ok:  # the card is the locked one: what it makes the datasets library read must be too
        Card.of(directory).check_read_path(directory, frozenset(lock.by_path()))
    return lock, report


def load_data_lock(root: Path, name: str) -> Lock:
    """eval/data/NAME.lock.json, which must exist and be a dataset's lock of that name."""
    lock_file = project.data_lock_path(root, name)
    if not lock_file.is_file():
        raise EvalpinError(
            f"{lock_file}: dataset {name!r} is not pinned. Pin it: `evalpin pin-data REPO_ID --revision "
            f"COMMIT --name {name}` (add --upstream DIR for a hub cache, --local-dir DIR for a plain copy)."
        )
    lock = load_lock(lock_file)
    if lock.name != name or lock.kind != DATASET:
        raise EvalpinError(
            f"{lock_file}: fields 'name'/'kind' are {lock.name!r}/{lock.kind!r}, expected {name!r}/"
            f"{DATASET!r}; re-pin with `evalpin pin-data`."
        )
    return lock


def check_accepted(lock: Lock, conf: dict) -> None:
    """The dataset's lock must be the one conf/data/NAME.yaml accepts: a re-pin (new commit, fixed
    answer keys) changes what every score measures, so it is refused until someone looks and accepts."""
    conf_file, accept = f"conf/data/{lock.name}.yaml", f"`evalpin verify-data {lock.name} --accept`"
    if not conf.get("lock_digest"):
        what = "has no field 'lock_digest' (written by an older evalpin)" if conf else "is missing or empty"
        raise DriftError(
            f"{conf_file} {what}, so no lock of dataset {lock.name!r} is accepted. Review "
            f"{lock.what}.lock.json (commit {lock.source.revision[:12]}), then accept it: {accept}."
        )
    accepted = (conf.get("revision"), conf["lock_digest"])
    if accepted == (lock.source.revision, lock.digest):
        return
    raise DriftError(
        f"{lock.what}.lock.json pins commit {lock.source.revision[:12]} (lock {lock.digest[:12]}), but "
        f"conf/data/{lock.name}.yaml field 'lock_digest' accepts commit {str(accepted[0])[:12]} "
        f"(lock {str(accepted[1])[:12]}): "
        f"the dataset was re-pinned. Scores on it are not comparable with baselines measured on the old "
        f"data. Review the change (`evalpin diff --dataset {lock.name} HEAD {lock.what}.lock.json`), then "
        f"accept it: {accept}; or restore the old lock (`git checkout "
        f"{lock.what}.lock.json {lock.what}.dvc && dvc checkout {lock.what}.dvc`)."
    )


def require_verified_dataset(root: Path, name: str) -> Lock:
    """The lock of eval/data/NAME, or DriftError naming every drifted file."""
    lock, report = verify_dataset(root, name)
    if not report.ok:
        raise DriftError(
            f"{lock.what} does not match {lock.what}.lock.json:\n{describe_drift(report)}\n"
            f"{restore_advice(lock)}, or re-pin with `evalpin pin-data`."
        )
    return lock


def restore_advice(lock: Lock) -> str:
    """How to bring back the pinned bytes of a drifted delivery: DVC's cache still holds them (`dvc repro`
    never commits a drifted copy: dvc.yaml's verify stage depends on the locks, not on the directories)."""
    restore = "evalpin restore" + ("" if lock.kind == DATASET else f" {lock.name}")
    return (
        f"Bring back the pinned bytes: `dvc checkout --force {lock.what}.dvc` (from the DVC cache), or "
        f"move {lock.what} aside and run `{restore}` (from the DVC remote or the upstream)"
    )


def require_verified(root: Path, name: str) -> Lock:
    """The lock of models/NAME, or DriftError naming every drifted file. An adapter also needs its
    base to be the one it was certified on, and verified itself."""
    lock, report = verify_pinned(root, name)
    if not report.ok:
        raise DriftError(
            f"models/{name} does not match models/{name}.lock.json:\n{describe_drift(report)}\n"
            f"{restore_advice(lock)}."
        )
    if lock.base:
        check_binding(root, lock)
        require_verified(root, lock.base.name)
    return lock


def describe_drift(report: Report) -> str:
    """The drift table, one line on the kind of change by role, then one per drifted GGUF file (a GGUF
    file's role, weights, says nothing about what changed inside it)."""
    by_role = [f for f in report.findings if f.path not in report.inside]
    lines = [summarize(by_role)] if by_role else []
    lines += [f"drift: {line}" for line in report.inside.values()]
    return "\n".join([format_table(report.findings), *lines])


def runtime_changes(lock: Lock) -> dict[str, tuple[str, str]]:
    now = current_runtime()
    return {k: (v, now.get(k, "absent")) for k, v in lock.runtime.items() if now.get(k, "absent") != v}


def summarize(findings: tuple[Finding, ...] | list[Finding]) -> str:
    """One line that says what kind of change this is, in the words of the roles involved."""
    if not findings:
        return "verified: every file matches the lock"
    roles = sorted({f.role for f in findings}, key=lambda r: list(ROLE_WORDS).index(r))
    changed = " and ".join(ROLE_WORDS[r] for r in roles)
    line = f"drift in {changed}"
    if "weights" not in roles and not set(roles).intersection(DATA_ROLES):
        line += SAME_WEIGHTS
    return line


def format_table(findings: tuple[Finding, ...]) -> str:
    rows = [("file", "role", "drift", "expected", "actual")]
    rows += [(f.path, f.role, f.kind, _short(f.expected), _short(f.actual)) for f in findings]
    return columns(rows)


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


def _sha_or_none(path: Path) -> str | None:
    return sha256_files([path])[path] if path.is_file() else None


def _stat_key(path: str | Path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _load_state(state_file: Path, digest: str) -> dict[str, list[int]]:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return state.get("files", {}) if state.get("lock_digest") == digest else {}


def _save_state(state_file: Path, digest: str, stats: dict[str, list[int]]) -> None:
    write_atomic(state_file, json.dumps({"lock_digest": digest, "files": stats}, sort_keys=True))
