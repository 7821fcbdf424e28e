"""Results by key: every stored result is also kept under its key's digest in .evalpin/results/TASK/
(local, git-ignored), so that coming back to inputs evaluated before (leaving a `dvc exp run -S ...`,
switching back to a released configuration) is a lookup, not a rerun.

eval/results, the evaluate stage's DVC output, holds one result per task: the current suite's. This store
holds up to KEEP per task, the most recently used (stored or reused), and each merge removes the older
ones. It is in neither git nor DVC, so `dvc gc` never touches it, and removing it (`rm -rf
.evalpin/results`) loses nothing the outputs need: at worst a rerun. Queued experiments, which run in
temporary copies of the repository, share the repository's store. A result found here passes the same
checks as one in eval/results (its content digest, its key, what it read) before it is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from evalpin.base.atomic import write_atomic
from evalpin.base.names import check_task_name
from evalpin.base.project import STATE_DIR
from evalpin.evaluation.task_key import digest

KEEP = 5  # results per task: the current one and four earlier sets of inputs
FOLDER = f"{STATE_DIR}/results"


def home_of(root: Path) -> Path:
    """The repository whose store a run uses: a queued DVC experiment runs in a temporary copy,
    <repo>/.dvc/tmp/exps/tmpXXXX, and keeps its results in <repo>'s store, so that the workspace (and
    the next queued run) finds them."""
    parts = root.resolve().parts
    for i in range(len(parts) - 3):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return root


def path_for(root: Path, task: str, key: dict) -> Path:
    return home_of(root) / FOLDER / check_task_name(task, "the suite") / f"{digest(key)[:32]}.json"


def keep(root: Path, task: str, key: dict, text: str) -> None:
    write_atomic(path_for(root, task, key), text)


def find(root: Path, task: str, key: dict) -> tuple[str, str] | None:
    """The text kept for exactly this key (marked as used now) and where, relative to the store's
    repository (a queued experiment's is not `root`), or None."""
    path = path_for(root, task, key)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    os.utime(path)  # used: the last to be pruned
    return text, path.relative_to(home_of(root)).as_posix()


def prune(root: Path) -> list[str]:
    """Keep each task's KEEP most recently used results; the paths removed (relative to the store's
    repository). Queued experiments may prune at the same time: a file already gone is no error."""
    home = home_of(root)
    removed = []
    for folder in sorted((home / FOLDER).iterdir()) if (home / FOLDER).is_dir() else []:
        kept = sorted(folder.glob("*.json"), key=last_used, reverse=True)
        for old in kept[KEEP:]:
            old.unlink(missing_ok=True)
            removed.append(old.relative_to(home).as_posix())
    return removed


def last_used(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
