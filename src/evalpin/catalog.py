"""lm-eval catalog tasks on pinned data: the catalog's own YAML (prompts, filters, process_docs,
metrics), with `dataset_path` pointed at a dataset pinned in eval/data/NAME.

Only the catalog folders that hold the tasks the suite names are indexed: TaskManager over the whole
catalog (14,000+ YAML files) costs 7-15 s per evaluation. A catalog task is overridden inside a group's
`task:` list (lm-eval 0.4.13 merges the override with the catalog entry there, not at top level).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
from pathlib import Path

import yaml

from evalpin import project
from evalpin.errors import EvalpinError
from evalpin.lock import list_delivery

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
    declares = re.compile(rf"^['\"]?task['\"]?:\s*['\"]?{re.escape(task)}['\"]?\s*$", re.MULTILINE)
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
        path = locate(entry["task"])
        check_data(root, entry, catalog_fields(path))
        folder = str(path.parent)
        if folder not in folders:
            folders.append(folder)
        override = {"task": entry["task"], "dataset_path": str(project.data_dir(root, entry["data"]))}
        configs.append({"group": f"{GROUP_PREFIX}{entry['task']}", "task": [override]})
    return configs, folders


class _TagTolerantLoader(yaml.SafeLoader):
    """Reads catalog YAMLs for their plain fields; `!function utils.x` values are left as strings."""


_TagTolerantLoader.add_multi_constructor("!", lambda loader, suffix, node: f"!{suffix}")


def catalog_fields(path: Path) -> dict:
    """A catalog YAML's fields, over those of the file it `include:`s (as lm-eval merges them)."""
    fields = yaml.load(path.read_text(encoding="utf-8"), Loader=_TagTolerantLoader) or {}
    include = fields.pop("include", None)
    return {**catalog_fields(path.parent / include), **fields} if include else fields


def check_data(root: Path, entry: dict, fields: dict) -> None:
    """The pinned dataset declares (README `configs:`) the config and the split the task reads."""
    card = project.data_dir(root, entry["data"]) / "README.md"
    config = fields.get("dataset_name") or "default"
    split = fields.get("test_split") or fields.get("validation_split")
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    header = yaml.safe_load(text.split("---")[1]) if text.startswith("---") else {}
    configs = {c.get("config_name"): c for c in (header or {}).get("configs") or []}
    fix = (
        f"re-pin it with `evalpin pin-data` including that {{}} (--include), "
        f"or bind {entry['task']!r} to another dataset."
    )
    if config not in configs:
        raise EvalpinError(
            f"{card}: field 'configs' has no config_name {config!r} (has {sorted(configs)}), which catalog "
            f"task {entry['task']!r} reads (dataset_name); " + fix.format("config")
        )
    files = configs[config].get("data_files") or []
    splits = {f.get("split"): f.get("path") for f in files} if isinstance(files, list) else dict(files)
    patterns = splits.get(split) or []
    patterns = [patterns] if isinstance(patterns, str) else patterns
    pinned = list_delivery(card.parent)
    if not any(fnmatch.fnmatch(p, pattern) for p in pinned for pattern in patterns):
        raise EvalpinError(
            f"{card}: config {config!r} has no pinned file for split {split!r} (splits {sorted(splits)}), "
            f"which catalog task "
            f"{entry['task']!r} evaluates on; " + fix.format("split")
        )
