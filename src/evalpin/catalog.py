"""lm-eval catalog tasks on pinned data: the catalog's own YAML (prompts, filters, process_docs,
metrics), with `dataset_path` pointed at a dataset pinned in eval/data/NAME.

Only the catalog folders that hold the tasks the suite names are indexed: TaskManager over the whole
catalog (14,000+ YAML files) costs 7-15 s per evaluation. A catalog task is overridden inside a group's
`task:` list (lm-eval 0.4.13 merges the override with the catalog entry there, not at top level).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
from pathlib import Path

import yaml

from evalpin import project
from evalpin.environment import offline_environment
from evalpin.errors import EvalpinError
from evalpin.inventory import list_delivery

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


GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def entries(suite: dict) -> list[dict]:
    """The suite's `catalog:` list, each checked, as `{tasks: [...], data: DATASET, group: NAME | None}`.

    `{task: T, data: D}` is one catalog task; `{group: G, tasks: [T1, T2], data: D}` runs several tasks
    on one pinned dataset as a group of its own whose score is their aggregate (mmlu subjects)."""
    found, seen = [], set()
    for i, entry in enumerate(suite.get("catalog") or []):
        if isinstance(entry, dict) and set(entry) == {"task", "data"} and isinstance(entry["task"], str):
            found.append({"tasks": [entry["task"]], "data": entry["data"], "group": None})
        elif (
            isinstance(entry, dict)
            and set(entry) == {"group", "tasks", "data"}
            and isinstance(entry["tasks"], list)
            and entry["tasks"]
            and all(isinstance(t, str) for t in entry["tasks"])
            and GROUP_NAME.match(str(entry["group"]))
        ):
            found.append({"tasks": list(entry["tasks"]), "data": entry["data"], "group": entry["group"]})
        else:
            raise EvalpinError(
                f"conf/suite/: catalog[{i}] is {entry!r}; expected `{{task: CATALOG_TASK, data: DATASET}}` "
                "or `{group: NAME, tasks: [CATALOG_TASK, ...], data: DATASET}` (NAME: lower-case letters, "
                "digits, '-', '_', '.'), where DATASET is pinned with `evalpin pin-data`."
            )
        names = [*found[-1]["tasks"], *([found[-1]["group"]] if found[-1]["group"] else [])]
        if twice := sorted(seen.intersection(names) | {n for n in names if names.count(n) > 1}):
            raise EvalpinError(
                f"conf/suite/: catalog[{i}] names {twice} again; each catalog task and group runs once "
                "(its scores are reported under its name)."
            )
        seen.update(names)
    return found


def task_data(suite: dict) -> dict[str, str]:
    """Every catalog task the suite runs -> the pinned dataset it reads."""
    return {task: entry["data"] for entry in entries(suite) for task in entry["tasks"]}


def groups(suite: dict) -> dict[str, list[str]]:
    """The suite's catalog groups -> their tasks."""
    return {entry["group"]: entry["tasks"] for entry in entries(suite) if entry["group"]}


def task_configs(root: Path, suite: dict, scratch: Path) -> tuple[list[dict | str], list[str]]:
    """For lm-eval: per catalog entry, what to evaluate with the pinned snapshot as dataset_path; and the
    folders TaskManager must index (only those). A single task goes as a one-task wrapper group
    (evalpin_TASK); a group is written as a group YAML into `scratch` (indexed too): lm-eval passes an
    inline top-level dict's own fields, aggregate_metric_list included, down to its tasks."""
    configs: list[dict | str] = []
    folders: list[str] = []
    for entry in entries(suite):
        overrides, scored = [], {}
        snapshot, cache = str(project.data_dir(root, entry["data"])), cache_dir(root, entry["data"])
        for task in entry["tasks"]:
            path = locate(task)
            fields = catalog_fields(path)
            check_data(root, task, entry["data"], fields)
            if str(path.parent) not in folders:
                folders.append(str(path.parent))
            kwargs = {**(fields.get("dataset_kwargs") or {}), "cache_dir": cache}
            overrides.append({"task": task, "dataset_path": snapshot, "dataset_kwargs": kwargs})
            scored[task] = primary_score(fields)
        if not entry["group"]:
            configs.append({"group": f"{GROUP_PREFIX}{entry['tasks'][0]}", "task": overrides})
            continue
        group = group_config(entry["group"], overrides, scored)
        (scratch / f"{entry['group']}.yaml").write_text(yaml.safe_dump(group))
        configs.append(entry["group"])
    if any(entry["group"] for entry in entries(suite)):
        folders.append(str(scratch))
    return configs, folders


def group_config(name: str, overrides: list[dict], scored: dict[str, tuple[str, str]]) -> dict:
    """A group YAML whose score aggregates its tasks' primary metric under their primary filter (`scored`:
    task -> metric, filter; mean weighted by size, as lm-eval's mmlu groups); tasks that report different
    metrics cannot be averaged."""
    if len(set(scored.values())) > 1:
        raise EvalpinError(
            f"conf/suite/: catalog group {name!r} mixes tasks scored by different metrics "
            f"{ {t: ','.join(s) for t, s in scored.items()} }; a group averages one metric. Split it into "
            "groups whose tasks share a metric, or list the tasks one by one."
        )
    metric, kept = next(iter(scored.values()))
    aggregate = {"metric": metric, "aggregation": "mean", "weight_by_size": True, "filter_list": [kept]}
    return {
        "group": name,
        "task": overrides,
        "aggregate_metric_list": [aggregate],
        "metadata": {"version": 1.0},
    }


def scores_of(tasks: list[str]) -> dict[str, tuple[str, str]]:
    """Each catalog task -> the metric and filter its score is reported under."""
    return {task: primary_score(catalog_fields(locate(task))) for task in tasks}


def primary_score(fields: dict) -> tuple[str, str]:
    """The metric and filter a catalog task's score is reported under: its first of each ("none": no
    filter), as evaluate.py reports it."""
    metrics, filters = fields.get("metric_list") or [{}], fields.get("filter_list") or [{"name": "none"}]
    return str(metrics[0].get("metric")), str(filters[0]["name"])


def cache_dir(root: Path, data: str) -> str:
    """The datasets library's cache for one pinned lock of `data`. Its own cache is keyed by the folder's
    name and the README's configs, not by content (measured: a re-pinned eval/data/arc with other answer
    keys was served from the old arrow cache), so each lock digest gets a cache of its own."""
    from evalpin.verify import load_data_lock

    digest = load_data_lock(root, data).digest
    hf_home = Path(os.environ.get("HF_HOME") or offline_environment(root)["HF_HOME"])
    return str(hf_home / "datasets" / "evalpin" / f"{data}-{digest[:16]}")


class _TagTolerantLoader(yaml.SafeLoader):
    """Reads catalog YAMLs for their plain fields; `!function utils.x` values are left as strings."""


_TagTolerantLoader.add_multi_constructor("!", lambda loader, suffix, node: f"!{suffix}")


def catalog_fields(path: Path) -> dict:
    """A catalog YAML's fields, over those of the file it `include:`s (as lm-eval merges them)."""
    fields = yaml.load(path.read_text(encoding="utf-8"), Loader=_TagTolerantLoader) or {}
    include = fields.pop("include", None)
    return {**catalog_fields(path.parent / include), **fields} if include else fields


def check_data(root: Path, task: str, data: str, fields: dict) -> None:
    """The pinned dataset declares (README `configs:`) the config and the split the task reads."""
    card = project.data_dir(root, data) / "README.md"
    config = fields.get("dataset_name") or "default"
    split = fields.get("test_split") or fields.get("validation_split")
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    header = yaml.safe_load(text.split("---")[1]) if text.startswith("---") else {}
    configs = {c.get("config_name"): c for c in (header or {}).get("configs") or []}
    fix = (
        f"re-pin it with `evalpin pin-data` including that {{}} (--include), "
        f"or bind {task!r} to another dataset."
    )
    if config not in configs:
        raise EvalpinError(
            f"{card}: field 'configs' has no config_name {config!r} (has {sorted(configs)}), which catalog "
            f"task {task!r} reads (dataset_name); " + fix.format("config")
        )
    files = configs[config].get("data_files") or []
    splits = {f.get("split"): f.get("path") for f in files} if isinstance(files, list) else dict(files)
    pinned = list_delivery(card.parent)
    missing = [s for s, patterns in splits.items() if not pinned_any(pinned, patterns)]
    if split in missing:
        raise EvalpinError(
            f"{card}: config {config!r} has no pinned file for split {split!r} (splits {sorted(splits)}), "
            f"which catalog task "
            f"{task!r} evaluates on; " + fix.format("split")
        )
    if missing:  # the datasets library loads a config whole and fails on a split without files
        raise EvalpinError(
            f"{card}: config {config!r} lists split(s) {missing} with no pinned file; the datasets library "
            f"loads every split of a config, so catalog task {task!r} cannot load it. Re-pin with "
            f"`evalpin pin-data` including those splits too: "
            + " ".join(f"--include '{p}'" for s in missing for p in as_list(splits[s]))
        )


def as_list(patterns: str | list[str] | None) -> list[str]:
    return [patterns] if isinstance(patterns, str) else list(patterns or [])


def pinned_any(pinned: list[str], patterns: str | list[str] | None) -> bool:
    return any(fnmatch.fnmatch(p, pattern) for p in pinned for pattern in as_list(patterns))
