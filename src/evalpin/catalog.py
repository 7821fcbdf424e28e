"""lm-eval catalog tasks on pinned data: the catalog's own YAML (prompts, filters, process_docs,
metrics), with `dataset_path` pointed at a dataset pinned in eval/data/NAME.

Only the catalog folders that hold the tasks the suite names are indexed: TaskManager over the whole
catalog (14,000+ YAML files) costs 7-15 s per evaluation. A catalog task is overridden inside a group's
`task:` list (lm-eval 0.4.13 merges the override with the catalog entry there, not at top level).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from evalpin import project
from evalpin.errors import EvalpinError

GROUP_PREFIX = "evalpin_"  # the wrapper group of one catalog task: evalpin_TASK


def catalog_dir() -> Path:
    """lm-eval's task catalog, found without importing lm_eval (an import costs seconds)."""
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise EvalpinError("lm_eval is not installed; run `make setup`.")
    return Path(next(iter(spec.submodule_search_locations))) / "tasks"


def locate(task: str, catalog: Path | None = None) -> Path:
    """The catalog YAML declaring `task: TASK`: first in folders whose name starts the task's name
    (arc for arc_easy), then anywhere in the catalog."""
    catalog = catalog or catalog_dir()
    declares = re.compile(rf"^task:\s*['\"]?{re.escape(task)}['\"]?\s*$", re.MULTILINE)
    likely = [d for d in catalog.iterdir() if d.is_dir() and task.startswith(d.name)]
    for folder in (*likely, catalog):
        for path in sorted(folder.rglob("*.yaml")):
            if declares.search(path.read_text(encoding="utf-8", errors="replace")):
                return path
    raise EvalpinError(
        f"conf/suite/: catalog task {task!r} is not in lm-eval's catalog ({catalog}). Check the name "
        "(`lm_eval ls tasks`), or write it as a local task under the suite's include_path."
    )


def entries(suite: dict) -> list[dict]:
    """The suite's `catalog:` list, each `{task: NAME, data: PINNED_DATASET}`, checked."""
    found = list(suite.get("catalog") or [])
    for i, entry in enumerate(found):
        if not isinstance(entry, dict) or set(entry) != {"task", "data"}:
            raise EvalpinError(
                f"conf/suite/: catalog[{i}] is {entry!r}; expected `{{task: CATALOG_TASK, data: DATASET}}` "
                "where DATASET is pinned with `evalpin pin-data`."
            )
    return found


def task_configs(root: Path, suite: dict) -> tuple[list[dict], list[str]]:
    """For lm-eval: one group per catalog task with the pinned snapshot as dataset_path; and the
    catalog folders TaskManager must index (only those)."""
    configs, folders = [], []
    for entry in entries(suite):
        folder = str(locate(entry["task"]).parent)
        if folder not in folders:
            folders.append(folder)
        override = {"task": entry["task"], "dataset_path": str(project.data_dir(root, entry["data"]))}
        configs.append({"group": f"{GROUP_PREFIX}{entry['task']}", "task": [override]})
    return configs, folders
