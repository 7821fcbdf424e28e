"""The short report `make demo` ends with: which delivery ran, its scores, and the committed baseline."""

from __future__ import annotations

import json
from pathlib import Path

from evalpin.compose import load_params
from evalpin.documents import read_json
from evalpin.errors import EvalpinError
from evalpin.evaluate import section
from evalpin.paths import METRICS_FILE
from evalpin.project import git_show
from evalpin.table import columns
from evalpin.verify import require_verified


def committed_metrics(root: Path, rev: str = "HEAD") -> dict | None:
    """eval/metrics.json as committed at `rev`, or None when git has none."""
    blob, _ = git_show(root, rev, METRICS_FILE)
    return None if blob is None else json.loads(blob)


def render(root: Path) -> tuple[str, bool]:
    """The report text, and whether the workspace scores equal the committed baseline."""
    model = section(load_params(root), "model")
    lock = require_verified(root, model["name"])
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
    baseline = committed_metrics(root)
    lines = [
        f"model     {model['name']}  ({lock.source.repo_id})",
        f"commit    {lock.source.revision}",
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
    same = baseline == metrics
    if baseline is None:
        lines.append(f"\nno committed baseline yet: commit {METRICS_FILE} to make this run the baseline")
    else:
        verdict = "equal to" if same else "DIFFERENT from"
        lines.append(f"\nscores are {verdict} the committed baseline (git HEAD:{METRICS_FILE})")
    return "\n".join(lines), same or baseline is None
