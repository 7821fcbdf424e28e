"""The short report `make demo` ends with: which delivery ran, its scores, and the committed baseline."""

from __future__ import annotations

import json
from pathlib import Path

from evalpin.base.documents import read_json
from evalpin.base.errors import EvalpinError
from evalpin.base.numerics import kind_of
from evalpin.base.outs import FINGERPRINT_FILE, METRICS_FILE
from evalpin.base.project import git_show
from evalpin.base.table import columns
from evalpin.config.compose import load_typed_params
from evalpin.delivery.demo import demo_warnings
from evalpin.delivery.sources import asserted_origin
from evalpin.delivery.verify import require_verified
from evalpin.evaluation.output_set import check_set
from evalpin.results.gate import WORKSPACE, read_at
from evalpin.results.levels import DIFFERS, EQUIVALENT, Level
from evalpin.results.sample_changes import outputs_at, reproduction_level


def committed_metrics(root: Path, rev: str = "HEAD") -> dict | None:
    """eval/metrics.json as committed at `rev` (checked against its fingerprint), or None when git has
    none."""
    blob, _ = git_show(root, rev, METRICS_FILE)
    if blob is None:
        return None
    check_set(root, rev, blob, read_at(root, rev, FINGERPRINT_FILE))
    return json.loads(blob)


def workspace_metrics(root: Path) -> dict:
    """eval/metrics.json as the pipeline wrote it: readable, of its shape, and bound to its outputs."""
    path = root / METRICS_FILE
    if not path.is_file():
        raise EvalpinError(f"{path}: no metrics yet. Run the pipeline: `dvc repro`.")
    metrics = read_json(
        path, "rerun the pipeline, `dvc repro -f evaluate`, or `git checkout " + METRICS_FILE + "`"
    )
    if not isinstance(metrics.get("tasks"), dict) or not isinstance(metrics.get("suite"), dict):
        raise EvalpinError(
            f"{path}: fields 'tasks' and 'suite' are not both objects; not what `evalpin evaluate` writes. "
            f"Rerun it: `dvc repro -f evaluate`."
        )
    check_set(root, None, path.read_bytes(), read_at(root, WORKSPACE, FINGERPRINT_FILE))
    return metrics


def render(root: Path) -> tuple[str, bool]:
    """The report text, and whether the workspace scores equal the committed baseline."""
    model = load_typed_params(root).model
    lock = require_verified(root, model.name)
    path = root / METRICS_FILE
    metrics = workspace_metrics(root)
    baseline = committed_metrics(root)
    lines = [
        f"model     {model.name}  ({lock.source.repo_id})",
        f"commit    {lock.source.revision}",
        *([f"origin    {origin}"] if (origin := asserted_origin(lock.source.provenance)) else []),
        f"verified  {len(lock.files)} files, lock digest {lock.digest[:16]}",
        *(
            [f"base      {lock.base.name} ({lock.base.repo_id}@{lock.base.revision}), certified"]
            if lock.base
            else []
        ),
        "",
    ]
    rows = [("task", "metric", "score", "stderr", "n")]
    for task, row in metrics["tasks"].items():
        stderr = "-" if row["stderr"] is None else f"{row['stderr']:.4f}"
        rows.append((task, row["metric"], f"{row['score']:.4f}", stderr, str(row["n"])))
    rows.append(("suite (mean)", "", f"{metrics['suite']['score']:.4f}", "", ""))
    lines.append(columns(rows))
    fingerprint = path.parent / Path(FINGERPRINT_FILE).name
    cut = truncation_lines(json.loads(fingerprint.read_text()), metrics) if fingerprint.is_file() else []
    lines += (
        ["", "truncated prompts (the hf backend kept only their end):", *(f"  {c}" for c in cut)]
        if cut
        else []
    )
    lines += [f"\n{line}" for line in demo_warnings(root, lock)]
    verdict, matches = baseline_lines(root, model.name, baseline, metrics)
    return "\n".join(lines + verdict), matches


def baseline_lines(root: Path, name: str, baseline: dict | None, metrics: dict) -> tuple[list[str], bool]:
    """How the workspace's outputs stand against the committed baseline: its scores, and the level of
    reproduction (levels.py) with why; False when they differ."""
    owner = baseline_owner(root)
    if baseline is None:
        return [f"\nno committed baseline yet: commit {METRICS_FILE} to make this run the baseline"], True
    if owner not in (None, name):
        return [
            f"\nno baseline yet for {name}: the committed scores (git HEAD:{METRICS_FILE}) are "
            f"{owner}'s. Commit eval/ after `dvc repro` to make this run {name}'s baseline."
        ], True
    verdict = "equal to" if baseline == metrics else "DIFFERENT from"
    level = reproduction_level(outputs_at(root, "HEAD"), outputs_at(root, WORKSPACE))
    lines = [f"\nscores are {verdict} the committed baseline (git HEAD:{METRICS_FILE})", level.line()]
    return [*lines, *level_hint(level)], level.name != DIFFERS


def level_hint(level: Level) -> list[str]:
    """What to do with outputs that are equivalent to the committed baseline, not byte-identical."""
    ours, theirs = level.classes
    if level.name != EQUIVALENT or not ours or kind_of(ours) != kind_of(theirs or ""):
        return []  # exact, differs, or numerics that changed on purpose (mode, device): a new baseline
    why = (
        "`numerics: portable` in conf/inference/ gives the same bytes on any x86-64 CPU"
        if kind_of(ours) != "cpu-portable"
        else "both are portable: their software differs (`make setup` installs the baseline's versions)"
    )
    return [
        "  the committed baseline stays the reference: these bytes are another numerics class's, so do not "
        "commit them as a new baseline unless you mean to (`git checkout -- dvc.lock eval/` keeps the "
        f"committed one); {why} (docs/reproduction.md)"
    ]


def baseline_owner(root: Path, rev: str = "HEAD") -> str | None:
    """The model whose scores are committed at `rev` (its fingerprint's delivery), or None."""
    blob, _ = git_show(root, rev, FINGERPRINT_FILE)
    return (json.loads(blob).get("delivery") or {}).get("name") if blob else None


def truncation_lines(fingerprint: dict, metrics: dict) -> list[str]:
    """One line per task whose prompts were cut to fit the model (evaluation/readable.py counts them)."""
    lines = []
    for task, row in sorted(fingerprint.get("suite", {}).get("tasks", {}).items()):
        cut = row.get("truncated") or {}
        if cut.get("prompts"):
            n = metrics.get("tasks", {}).get(task, {}).get("n", "?")
            lines.append(
                f"{task}: {cut['prompts']} of {n} prompts cut to their last {cut['kept_tokens']} tokens; "
                "its score measures the cut prompts (`evalpin samples " + task + "` shows which)"
            )
    return lines
