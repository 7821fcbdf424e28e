"""What `evalpin verify` and `verify-data` decide, step by step, and the record verify leaves.

A model verifies when its files match the lock, its prompts render to the golden token IDs, the signing
policy (conf/signing/) accepts it and every dataset the suite reads verifies; an adapter also needs its
base, verified the same way. eval/verified.json records what was verified; the evaluate stage depends on
it, so a new delivery or dataset reruns the evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from evalpin import signing
from evalpin.base import project
from evalpin.base.atomic import write_atomic
from evalpin.base.errors import EvalpinError, ExitCode
from evalpin.base.leftovers import clean_and_say
from evalpin.config.selection import verify_suite_datasets
from evalpin.delivery.adapter import check_binding
from evalpin.delivery.golden import check_golden_of_verified, write_golden
from evalpin.delivery.lock import Lock, load_lock
from evalpin.delivery.sources import asserted_origin
from evalpin.delivery.verify import (
    Report,
    describe_drift,
    require_verified,
    restore_advice,
    summarize,
    verify_dataset,
    verify_pinned,
)
from evalpin.pinning.pin import accept_dataset
from evalpin.signing import enforce_policy, load_policy


@dataclass(frozen=True)
class Check:
    """One step's verdict as the CLI shows it: lines for stdout, lines for stderr, the exit code."""

    out: tuple[str, ...] = ()
    err: tuple[str, ...] = ()
    code: ExitCode = ExitCode.OK


@dataclass(frozen=True)
class VerifyRequest:
    full: bool = False  # re-hash every file, ignoring the stat record (and re-render the golden prompts)
    strict: bool = False  # a runtime version change is an error
    files_only: bool = False  # skip the golden check (no transformers import)
    record: Path | None = None  # write eval/verified.json here (relative to the repository)


def verify_model(root: Path, name: str, request: VerifyRequest) -> Iterator[Check]:
    """`evalpin verify NAME`, one step at a time; it stops after a failing step, and writes the record
    only after the last one passed."""

    clean_and_say(root, state_only=True)  # the hash and golden records a killed verify was writing
    lock, report = verify_pinned(root, name, full=request.full)
    base = None
    if lock.base:  # an adapter: only on the base it was certified on, and that base verifies in full
        check_binding(root, lock)
        base, base_report = verify_pinned(root, lock.base.name, full=request.full)
        yield (check := judge(root, lock.base.name, base, base_report, request))
        if check.code:
            return
    yield (check := judge(root, name, lock, report, request))
    if check.code:
        return
    if origin := asserted_origin(lock.source.provenance):
        yield Check(out=(f"origin: {origin}",))
    policy = enforce_policy(root, lock, load_policy(root))  # conf/signing/, fail-closed
    yield Check(out=tuple(f"signing policy: {line}" for line in policy))
    datasets = verify_suite_datasets(root)
    yield Check(
        out=tuple(
            f"verified dataset eval/data/{identity['name']} (lock {identity['lock_digest'][:12]})"
            for identity in datasets.values()
        )
    )
    if request.record:
        record = verified_record(lock, report, base, datasets)
        write_atomic(root / request.record, json.dumps(record, indent=2, sort_keys=True) + "\n")


def verified_record(lock: Lock, report: Report, base: Lock | None, datasets: dict[str, dict]) -> dict:
    """eval/verified.json: the delivery, its base (an adapter's) and the suite's datasets, by commit and
    lock digest; stable (no time, no paths) so that an unchanged delivery leaves it byte-identical."""
    record = {
        "model": lock.name,
        "revision": lock.source.revision,
        "lock_digest": lock.digest,
        "files": report.files_checked,
    }
    if base:
        record["base"] = {"model": base.name, "revision": base.source.revision, "lock_digest": base.digest}
    if datasets:
        record["datasets"] = datasets
    return record


def judge(root: Path, name: str, lock: Lock, report: Report, request: VerifyRequest) -> Check:
    """What verify says about one delivery. The golden renderings are checked only on files that
    verified (a drifted tokenizer would only add noise), never for an adapter (its prompts render
    through its base, checked on its own) and not with --files-only."""
    checks_golden = not (request.files_only or not report.ok or lock.base)
    if checks_golden and (problem := golden_problem(root, name, lock, full=request.full)):
        return problem
    warnings = tuple(
        f"evalpin: warning: runtime {package} is {now}, the lock was made with {locked}"
        for package, (locked, now) in report.runtime_changes.items()
    )
    if not report.ok:
        drift = (
            f"models/{name}: DRIFT against models/{name}.lock.json",
            describe_drift(report),
            f"{restore_advice(lock)}.",
        )
        return Check(err=(*warnings, *drift), code=ExitCode.DRIFT)
    if request.strict and report.runtime_changes:
        strict = "evalpin: --strict: runtime differs from the lock (see warnings above); re-pin or match it."
        return Check(err=(*warnings, strict), code=ExitCode.USAGE)
    bound = f", on base {lock.base.name}" if lock.base else ""
    verified = (
        f"models/{name}: verified {report.files_checked} files against models/{name}.lock.json "
        f"({report.files_rehashed} re-hashed, commit {lock.source.revision[:12]}{bound})"
    )
    return Check(out=(verified,), err=warnings)


def golden_problem(root: Path, name: str, lock: Lock, full: bool) -> Check | None:
    """The golden check of a verified delivery; a rendering known good for this lock and these library
    versions is reused unless `full`."""

    problems = check_golden_of_verified(root, name, lock.digest, reuse=not full)
    if not problems:
        return None
    return Check(
        err=(
            f"models/{name}: prompt rendering differs from models/{name}.golden.json:",
            "  " + "\n  ".join(problems),
            f"If the new rendering is intended: `evalpin golden {name} --accept`, then commit it.",
        ),
        code=ExitCode.DRIFT,
    )


def golden(root: Path, name: str, accept: bool) -> Check:
    """`evalpin golden NAME`: check (or `accept`: record) the golden renderings of a verified model;
    always rendered, never reused."""

    lock = require_verified(root, name)
    if lock.base:
        raise EvalpinError(
            f"{name} is an adapter: prompts render through its base's tokenizer and chat template, so the "
            f"golden renderings are the base's: `evalpin golden {lock.base.name}`."
        )
    if accept:
        return Check(out=(f"recorded {write_golden(root, name).relative_to(root)}: commit it with the lock",))
    problems = check_golden_of_verified(root, name, lock.digest, reuse=False)
    if problems:
        return Check(err=("  " + "\n  ".join(problems),), code=ExitCode.DRIFT)
    return Check(out=(f"models/{name}: every golden conversation renders to the recorded token IDs",))


def check_signatures(root: Path, name: str, public_keys: list[Path]) -> list[str]:
    """verify --signatures: the publisher's signature (if pinned with one) and the signed release at HEAD."""

    lock = load_lock(project.lock_path(root, name))
    keys = public_keys or list(signing.load_policy(root).release_keys)
    tags = signing.release_tags_at(root, "HEAD", name)
    if lock.signed is None and not tags:
        raise EvalpinError(
            f"verify --signatures: nothing signed to check for models/{name}: its lock has no publisher "
            f"signature and no release tag {name}@v* points at HEAD. Check out a signed release "
            f"(`git checkout {name}@vX.Y.Z`), or pin with --signature."
        )
    lines = []
    if lock.signed is not None:
        lines.append(f"models/{name}: {signing.recheck_publisher(root, lock)}")
    for tag in tags:
        statement = signing.verify_release(root, tag, keys, workspace=True)
        lines.append(
            f"{tag}: signed release statement verified ({len(statement['predicate']['files'])} files)"
        )
        lines.append(signing.verify_release_delivery(root, statement, keys))
    return lines


def verify_datasets(root: Path, names: list[str], full: bool, accept: bool) -> Iterator[Check]:
    """`evalpin verify-data [NAMES]`: each named (default: every pinned) dataset against its lock; with
    `accept`, a dataset that verifies in full becomes the one conf/data/NAME.yaml accepts."""

    chosen = names or pinned_datasets(root)
    if accept and not names:
        raise EvalpinError(
            "verify-data --accept: name the dataset(s) to accept, e.g. `verify-data arc --accept`."
        )
    for name in chosen:
        lock, report = verify_dataset(root, name, full=full or accept, accepting=accept)
        if not report.ok:
            drift = (
                f"{lock.what}: DRIFT against {lock.what}.lock.json\n{describe_drift(report)}\n"
                f"{restore_advice(lock)}."
            )
            yield Check(out=(drift,), code=ExitCode.DRIFT)
            continue
        yield Check(
            out=(
                f"{lock.what}: {summarize(report.findings)} "
                f"({report.files_checked} files, digest {lock.digest[:12]})",
            )
        )
        if accept:
            accept_dataset(root, lock)
            accepted = f"commit {lock.source.revision} (lock {lock.digest[:12]})"
            yield Check(out=(f"  conf/data/{name}.yaml now accepts {accepted}",))


def pinned_datasets(root: Path) -> list[str]:
    """Every pinned dataset (eval/data/NAME.lock.json), sorted; EvalpinError when there is none."""
    names = sorted(p.name[: -len(".lock.json")] for p in (root / project.DATA_DIR).glob("*.lock.json"))
    if not names:
        raise EvalpinError(
            "verify-data: no pinned dataset (eval/data/*.lock.json); pin one with `evalpin pin-data`."
        )
    return names
