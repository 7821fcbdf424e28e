"""eval/'s outputs as one set: written together or not at all, and bound to each other by digests.

`write_set` marks the set incomplete (eval/.outputs-incomplete), writes samples, fingerprint, scores and
metrics, then removes the mark: a kill at any point leaves the mark, which `check_set` turns into one line
and the rerun (`dvc repro`) removes. The fingerprint's `outputs` records the sha256 of the metrics and
scores files and of each samples file as written, so scores edited after the fact (or left from another
run) are refused wherever they are read: compare, report and release call `check_set` on both sides.
The digests catch edits and mixed sets, not an editor who rewrites the fingerprint too: against that, sign
the release (docs/signatures.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from evalpin.base.atomic import kill_point, naming, replace_dir, temp_prefix, write_atomic
from evalpin.base.errors import EvalpinError
from evalpin.base.exclusive import exclusive
from evalpin.base.leftovers import clean_and_say
from evalpin.base.outs import FINGERPRINT_FILE, METRICS_FILE, SAMPLES_DIR, SCORES_FILE

INCOMPLETE = "eval/.outputs-incomplete"
DIGESTS = "outputs"  # the fingerprint's field
REPRO = "`dvc repro` (or `evalpin evaluate`)"


def dumps(data: object) -> str:
    """The one serialization of eval/'s JSON files: stable, so a digest over it is too."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def samples_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)


def sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def write_set(
    root: Path, records: dict[str, list[dict]], fingerprint: dict, scores: list, metrics: dict
) -> None:
    """Write eval/'s outputs, the fingerprint recording the digests of the others; one writer at a time,
    after removing what a killed one left (its samples directory, its temporary files)."""
    with exclusive(root, ".outputs", "evaluate"):  # not a pin's name: those start with a letter or digit
        clean_and_say(root)
        write_marked(root, records, fingerprint, scores, metrics)


def write_marked(
    root: Path, records: dict[str, list[dict]], fingerprint: dict, scores: list, metrics: dict
) -> None:
    mark = root / INCOMPLETE
    write_atomic(mark, json.dumps({"pid": os.getpid()}) + "\n")
    kill_point("outputs.marked")
    texts = {task: samples_text(rows) for task, rows in records.items()}
    write_samples(root / SAMPLES_DIR, texts)
    kill_point("outputs.samples")
    metrics_text, scores_text = dumps(metrics), dumps(scores)
    digests = {
        "metrics_sha256": sha256(metrics_text),
        "scores_sha256": sha256(scores_text),
        "samples_sha256": {task: sha256(text) for task, text in texts.items()},
    }
    write_atomic(root / FINGERPRINT_FILE, dumps({**fingerprint, DIGESTS: digests}))
    kill_point("outputs.fingerprint")
    write_atomic(root / SCORES_FILE, scores_text)
    kill_point("outputs.scores")
    write_atomic(root / METRICS_FILE, metrics_text)
    kill_point("outputs.metrics")
    mark.unlink()


def write_samples(directory: Path, texts: dict[str, str]) -> None:
    """Write every task's samples into a fresh directory, then swap it in whole."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(dir=directory.parent, prefix=temp_prefix(f".{directory.name}")))
    for task, text in texts.items():
        with naming(directory / f"{task}.jsonl"):
            (fresh / f"{task}.jsonl").write_text(text)
    os.chmod(fresh, 0o755)
    replace_dir(fresh, directory)


def check_set(root: Path, rev: str | None, metrics: bytes, fingerprint: dict) -> None:
    """Refuse metrics that are not the ones the outputs were written with. `rev`: the git revision they
    were read at, None for the workspace (where the incomplete mark, scores and samples are checked too)."""
    where = "in the workspace" if rev is None else f"at {rev}"
    fix = REPRO if rev is None else f"`evalpin reproduce {rev}`, or check it out and run {REPRO}, then commit"
    if rev is None and (root / INCOMPLETE).exists():
        raise EvalpinError(
            f"{root / INCOMPLETE}: an evaluation was killed while writing eval/, so its files may come from "
            f"two runs. Rerun it: {REPRO}."
        )
    recorded = fingerprint.get(DIGESTS)
    if not isinstance(recorded, dict):
        raise EvalpinError(
            f"{FINGERPRINT_FILE} {where}: field '{DIGESTS}' is missing, so nothing binds {METRICS_FILE} to "
            f"the outputs it summarizes (an evalpin before this check wrote it, or it was edited). "
            f"Re-evaluate: {fix}."
        )
    found = [(METRICS_FILE, metrics, recorded.get("metrics_sha256"))]
    if rev is None:
        found += workspace_files(root, recorded)
    for path, data, expected in found:
        if data is None or sha256(data) != expected:
            state = (
                "is missing" if data is None else f"does not match field '{DIGESTS}' of {FINGERPRINT_FILE}"
            )
            raise EvalpinError(
                f"{path} {where} {state}: it is not what the evaluation wrote (edited, or left from "
                f"another run), so its scores are not trusted. Regenerate the outputs: {fix}."
            )


def workspace_files(root: Path, recorded: dict) -> list[tuple[str, bytes | None, str | None]]:
    """(path, bytes or None, recorded digest) of the scores and each recorded samples file."""
    samples = recorded.get("samples_sha256") or {}
    paths = [(SCORES_FILE, recorded.get("scores_sha256"))]
    paths += [(f"{SAMPLES_DIR}/{task}.jsonl", digest) for task, digest in sorted(samples.items())]
    return [(p, (root / p).read_bytes() if (root / p).is_file() else None, d) for p, d in paths]
