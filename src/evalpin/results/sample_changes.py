"""Which samples changed their response or score between two revisions (samples_at.py reads them), and
the level of reproduction that says about the two runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evalpin.base.errors import EvalpinError
from evalpin.base.numerics import class_of
from evalpin.base.outs import FINGERPRINT_FILE, METRICS_FILE, SAMPLES_DIR
from evalpin.base.table import columns
from evalpin.config.experiments import WORKSPACE
from evalpin.results.gate import read_at
from evalpin.results.levels import (
    DIFFERS,
    EQUIVALENT,
    EXACT,
    Finding,
    Level,
    compare_samples,
    tolerance_between,
)
from evalpin.results.samples_at import read_samples


@dataclass(frozen=True)
class SampleChange:
    task: str
    doc_id: int
    score: tuple[float | None, float | None]
    response: tuple[object, object]


def diff_samples(a: dict[str, dict[int, dict]], b: dict[str, dict[int, dict]]) -> list[SampleChange]:
    """Per task on both sides, the samples whose response or score changed (one_sided: the others)."""
    changes = []
    for task in sorted(a.keys() & b.keys()):
        left, right = a[task], b[task]
        for doc_id in sorted(left.keys() | right.keys()):
            old, new = left.get(doc_id, {}), right.get(doc_id, {})
            if shown(old) != shown(new) or old.get("score") != new.get("score"):
                changes.append(
                    SampleChange(task, doc_id, (old.get("score"), new.get("score")), (shown(old), shown(new)))
                )
    return changes


def one_sided(
    a: dict[str, dict[int, dict]], b: dict[str, dict[int, dict]], rev_a: str, rev_b: str
) -> list[str]:
    """A task added or removed between the sides: one line (its samples and mean score), not a row per
    sample against nothing."""
    lines = []
    for task in sorted(a.keys() ^ b.keys()):
        rows, where, other = (b[task], rev_b, rev_a) if task in b else (a[task], rev_a, rev_b)
        scores = [float(r.get("score") or 0.0) for r in rows.values()]
        mean = f", mean score {sum(scores) / len(scores):.4f}" if scores else ""
        lines.append(f"task {task}: only in {where} ({len(rows)} samples{mean}), not in {other}")
    return lines


def shown(record: dict) -> object:
    """The greedy output: generated text, or the chosen option of a multiple-choice sample."""
    response = record.get("response")
    return response["choice"] if isinstance(response, dict) else response


def groups_at(root: Path, *revs: str) -> dict[str, list[str]]:
    """Each catalog group and subgroup -> its leaf tasks, from eval/fingerprint.json at `revs` (a side
    without one adds nothing)."""

    members: dict[str, list[str]] = {}
    for rev in revs:
        try:
            tasks = read_at(root, rev, FINGERPRINT_FILE).get("suite", {}).get("tasks", {})
        except EvalpinError:
            continue
        members.update({t: row["tasks"] for t, row in tasks.items() if row.get("output_type") == "group"})

    def leaves(name: str) -> list[str]:
        return [leaf for m in members[name] for leaf in leaves(m)] if name in members else [name]

    return {group: leaves(group) for group in members}


def group_lines(changes: list[SampleChange], groups: dict[str, list[str]]) -> list[str]:
    """Per group with a changed sample: how many samples, in how many of its tasks."""
    lines = []
    for group, leaves in sorted(groups.items()):
        inside = [c for c in changes if c.task in leaves]
        if inside:
            tasks = len({c.task for c in inside})
            lines.append(
                f"  group {group}: {len(inside)} samples changed in {tasks} of its {len(leaves)} tasks"
            )
    return lines


def format_changes(
    changes: list[SampleChange],
    rev_a: str,
    rev_b: str,
    width: int = 40,
    groups: dict | None = None,
    tasks_one_sided: list[str] | None = None,
) -> str:
    """The changed samples as a table; `tasks_one_sided` (one_sided's lines) come first."""
    head = "\n".join(tasks_one_sided or [])
    return "\n".join(filter(None, [head, sample_table(changes, rev_a, rev_b, width, groups, bool(head))]))


def sample_table(
    changes: list[SampleChange], rev_a: str, rev_b: str, width: int, groups: dict | None, some_one_sided: bool
) -> str:
    if not changes:
        where = " in the tasks on both sides" if some_one_sided else ""
        return f"no sample changed its response or score{where} between {rev_a} and {rev_b}"
    rows = [("task", "doc", "score", f"{rev_a} -> {rev_b}")]
    for c in changes:
        score = f"{_num(c.score[0])} -> {_num(c.score[1])}"
        rows.append(
            (c.task, str(c.doc_id), score, f"{_clip(c.response[0], width)} -> {_clip(c.response[1], width)}")
        )
    tasks = len({c.task for c in changes})
    totals = [f"{len(changes)} samples changed in {tasks} tasks", *group_lines(changes, groups or {})]
    return columns(rows, free_last=True) + "\n" + "\n".join(totals)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _clip(value: object, width: int) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True)
class Outputs:
    """One side of a reproduction: its fingerprint and metrics, and a way to its samples (which may be
    out of reach: another revision's live in the DVC cache or remote)."""

    label: str
    fingerprint: dict
    metrics: dict
    samples: Callable[[], dict[str, dict[int, dict]]]


def outputs_at(root: Path, rev: str) -> Outputs:
    """The evaluate stage's outputs at a git revision, or in the workspace (rev "workspace")."""

    return Outputs(
        rev,
        read_at(root, rev, FINGERPRINT_FILE),
        read_at(root, rev, METRICS_FILE),
        lambda: read_samples(root, rev),
    )


def outputs_in(directory: Path, label: str) -> Outputs:
    """The outputs a pipeline wrote in `directory` (a scratch clone's workspace)."""

    return Outputs(
        label,
        json.loads((directory / FINGERPRINT_FILE).read_text()),
        json.loads((directory / METRICS_FILE).read_text()),
        lambda: read_samples(directory, WORKSPACE),
    )


def reproduction_level(reference: Outputs, rerun: Outputs) -> Level:
    """The level (levels.py) `rerun` reached against `reference`: exact from the recorded digests alone;
    else per sample, with the tolerance of their numerics classes; when the reference's samples are out
    of reach, from what git holds (each task's decisions digest and metric), saying so."""
    classes = (class_of(reference.fingerprint), class_of(rerun.fingerprint))
    same = reference.fingerprint.get("outputs") == rerun.fingerprint.get("outputs")
    if same and reference.metrics == rerun.metrics:
        return Level(EXACT, classes, tolerance_between(*classes))
    try:
        ours = reference.samples()
    except EvalpinError:
        return decisions_level(reference, rerun, classes)
    return compare_samples(ours, rerun.samples(), classes, (reference.metrics, rerun.metrics))


def level_of_samples(root: Path, revs: tuple[str, str], samples: tuple[dict, dict]) -> Level:
    """The level between two revisions whose samples are already read (outputs-diff): judged on the
    samples themselves, not on the digests their fingerprints recorded."""
    sides = [outputs_at(root, rev) for rev in revs]
    classes = (class_of(sides[0].fingerprint), class_of(sides[1].fingerprint))
    return compare_samples(*samples, classes, (sides[0].metrics, sides[1].metrics))


def decisions_level(reference: Outputs, rerun: Outputs, classes: tuple) -> Level:
    """Equivalent or differs from git alone: each task's greedy-outputs digest (its picks and generated
    texts) and each metric; the log-likelihoods stay unchecked."""
    tasks = (f.get("suite", {}).get("tasks", {}) for f in (reference.fingerprint, rerun.fingerprint))
    ref, new = tasks
    scores = ((m.get("tasks") or {}) for m in (reference.metrics, rerun.metrics))
    ref_scores, new_scores = scores
    differences = tuple(
        Finding(task, "-", "decisions", "greedy outputs or metric differ")
        for task in sorted(ref.keys() | new.keys())
        if (ref.get(task) or {}).get("outputs_sha256") != (new.get(task) or {}).get("outputs_sha256")
        or (ref_scores.get(task) or {}).get("score") != (new_scores.get(task) or {}).get("score")
    )
    caveat = (
        f"log-likelihoods unchecked: {reference.label}'s {SAMPLES_DIR} is in neither the DVC cache nor a "
        "remote (`dvc pull` to check them)"
    )
    name = DIFFERS if differences else EQUIVALENT
    return Level(name, classes, tolerance_between(*classes), differences=differences, caveat=caveat)
