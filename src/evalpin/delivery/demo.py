"""What in a run is the demo's: pinned from the template's own offline upstream, demo/hub.

demo/hub holds synthetic data built by scripts/make_demo_*.py, in the layout the catalog tasks read and
under ids of the demo's own namespace (evalpin-demo/ai2_arc standing in for allenai/ai2_arc, ...; the
suite binds a catalog task to it by `data: NAME`), and the demo's tiny model (evalpin/demo-tiny). Its
scores describe nothing real, so `evalpin report` says so, naming each such task, and `evalpin
suite-data` calls such a pin the demo's stand-in; a lock's `source.upstream` tells, with no marker to
keep in sync.
"""

from __future__ import annotations

import json
from pathlib import Path

from evalpin.base import project
from evalpin.base.outs import FINGERPRINT_FILE
from evalpin.base.project import DEMO_UPSTREAM
from evalpin.delivery.lock import Lock, load_lock


def is_demo(lock: Lock) -> bool:
    return lock.source.upstream == DEMO_UPSTREAM


def demo_data_tasks(root: Path) -> dict[str, list[str]]:
    """Pinned dataset repo id -> the tasks of the last run (eval/fingerprint.json) that read it, for
    every dataset pinned from demo/hub."""
    path = root / FINGERPRINT_FILE
    tasks = json.loads(path.read_text()).get("suite", {}).get("tasks", {}) if path.is_file() else {}
    found: dict[str, list[str]] = {}
    for task, row in tasks.items():
        name = (row.get("data") or {}).get("name")
        lock_file = project.data_lock_path(root, name) if name else None
        if lock_file and lock_file.is_file() and is_demo(lock := load_lock(lock_file)):
            found.setdefault(lock.source.repo_id, []).append(task)
    return found


def demo_warnings(root: Path, model: Lock) -> list[str]:
    """The report's loud lines about demo parts of the run; none for a run of the user's own pins."""
    lines = []
    if is_demo(model):
        lines.append(
            f"DEMO MODEL: {model.name} is the demo's tiny model (from {DEMO_UPSTREAM}), not one you pinned; "
            "`evalpin use NAME` evaluates yours (docs/experiments.md)."
        )
    if data := demo_data_tasks(root):
        named = "; ".join(f"{', '.join(tasks)} on {repo_id}" for repo_id, tasks in sorted(data.items()))
        lines.append(
            f"DEMO DATA: synthetic questions from {DEMO_UPSTREAM} standing in for the real benchmarks, so "
            f"these scores mean nothing: {named}. Pin the real datasets (`evalpin suite-data`, "
            "docs/datasets.md) or select a suite without them (`evalpin clean-start` removes the demo)."
        )
    return lines
