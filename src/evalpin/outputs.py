"""Per-sample outputs at any revision, and which samples changed their response or score between two.

eval/samples is a DVC output, so a past revision's samples come from the DVC cache (or remote) through
dvc.api; the workspace is the revision "workspace".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from evalpin.errors import EvalpinError
from evalpin.experiments import WORKSPACE, resolve
from evalpin.paths import SAMPLES_DIR
from evalpin.table import columns


@dataclass(frozen=True)
class SampleChange:
    task: str
    doc_id: int
    score: tuple[float | None, float | None]
    response: tuple[object, object]


def read_samples(root: Path, rev: str) -> dict[str, dict[int, dict]]:
    """task -> doc_id -> sample record, at a git revision or in the workspace."""
    if rev == WORKSPACE:  # the files on disk: DVC's view would add back what dvc.lock lists and is gone
        return {
            path.stem: rows_by_doc(path.read_text()) for path in sorted((root / SAMPLES_DIR).glob("*.jsonl"))
        }
    from dvc.api import DVCFileSystem
    from dvc.scm import RevError

    try:
        fs = DVCFileSystem(str(root), rev=None if rev == WORKSPACE else resolve(root, rev))
        names = [p for p in fs.ls(SAMPLES_DIR, detail=False) if p.endswith(".jsonl")]
        samples = {Path(name).stem: rows_by_doc(fs.read_text(name)) for name in sorted(names)}
    except RevError as exc:
        raise EvalpinError(f"{rev}: not a git revision here ({exc}); see `git tag` and `git log`.") from exc
    except FileNotFoundError as exc:
        raise EvalpinError(
            f"{rev}: no {SAMPLES_DIR} there, or its data is neither in the DVC cache nor the remote "
            f"({exc}). Run `dvc pull` (or `dvc fetch -a`) or reproduce that revision first."
        ) from exc
    return samples


def rows_by_doc(text: str) -> dict[int, dict]:
    rows = (json.loads(line) for line in text.splitlines() if line)
    return {row["doc_id"]: row for row in rows}


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
    from evalpin.gate import read_at
    from evalpin.paths import FINGERPRINT_FILE

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
