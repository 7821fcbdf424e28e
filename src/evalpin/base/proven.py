"""The results of expensive checks, reused only for provably the same inputs.

A check that passed may record its inputs: every file it read by sha256 (a folder it listed by the files
in it), the versions of the libraries it ran and of evalpin itself (its version and the sha256 of its
source), under .evalpin/checks/NAME.json, written atomically. The next run recomputes those inputs and
reuses the result only when they are equal; a missing, unreadable or different record means the check
runs again. Only passes are recorded: a failing check runs every time and says what it says.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from pathlib import Path

import evalpin
from evalpin.base import project
from evalpin.base.atomic import write_atomic

ABSENT = "absent"  # the digest of a file that is not there (its appearance changes the inputs)


def record_path(root: Path, check: str) -> Path:
    return root / project.STATE_DIR / "checks" / f"{check}.json"


def sha256_of(path: Path) -> str:
    """A file's sha256, or ABSENT when it is not a readable file."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ABSENT


def digests(paths: list[Path]) -> dict[str, str]:
    """Each file's sha256 under its (POSIX) path, in sorted order."""
    return {p.as_posix(): sha256_of(p) for p in sorted(set(paths))}


@functools.cache
def evalpin_code() -> dict[str, str]:
    """evalpin's version and the sha256 of its source files (a change of code between versions counts)."""
    package = Path(evalpin.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return {"version": evalpin.__version__, "source_sha256": digest.hexdigest()}


def recorded(root: Path, check: str) -> dict | None:
    """The last record of `check`: {"inputs": {...}, "result": ...}; None when there is none or it does
    not read as one."""
    try:
        record = json.loads(record_path(root, check).read_bytes())
    except (OSError, ValueError):
        return None
    ok = isinstance(record, dict) and isinstance(record.get("inputs"), dict) and "result" in record
    return record if ok else None


def recall(root: Path, check: str, inputs: dict | None) -> object | None:
    """The result recorded for exactly these inputs, or None (None inputs: not provable, never reused)."""
    record = recorded(root, check)
    if inputs is None or record is None or record["inputs"] != inputs:
        return None
    return record["result"]


def remember(root: Path, check: str, inputs: dict | None, result: object = True) -> None:
    """Record a passed check's result for these inputs, when JSON holds both exactly (a mapping with
    non-string keys, a date or a NaN would not come back the same: then nothing is recorded)."""
    if inputs is None or result is None:
        return
    record = {"inputs": inputs, "result": result}
    try:
        text = json.dumps(record, indent=1, sort_keys=True)
    except (TypeError, ValueError):  # a value JSON cannot hold (a date, a set), or mixed key types
        return
    if json.loads(text) != record:
        return
    with contextlib.suppress(OSError):  # a read-only checkout: the check just runs again next time
        write_atomic(record_path(root, check), text + "\n")
