"""lm-eval catalog tasks, groups and tags on pinned data: the catalog's own YAML (prompts, filters,
process_docs, metrics, a group's subgroups and aggregation), with every leaf's `dataset_path` pointed at
a dataset pinned in eval/data/NAME.

A catalog task is overridden inside a group's `task:` list (lm-eval 0.4.13 merges the override with the
catalog entry there, not at top level). A catalog group is written again, under its own name, into a
scratch folder indexed after the catalog's (lm-eval's index lets a later folder redefine a name): the
same fields, with each leaf listed with its pinned dataset_path.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from evalpin import project
from evalpin.catalog_tree import GROUP, TASK, Node, kind_word, resolve
from evalpin.dataset_card import Card, check_task_kwargs
from evalpin.environment import offline_environment
from evalpin.errors import EvalpinError

GROUP_PREFIX = "evalpin_"  # the wrapper group of one catalog task or tag: evalpin_NAME
SCRATCH_PREFIX = "evalpin-groups-"  # the temporary folder the catalog groups are written into
GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
SHAPES = (
    "`{task: CATALOG_NAME, data: DATASET}` (a task, group or tag; DATASET: one pinned dataset, or "
    "`{HUB_DATASET_PATH: DATASET, ...}` when its leaves read several) or `{group: NAME, tasks: "
    "[CATALOG_TASK, ...], data: DATASET}` (NAME: lower-case letters, digits, '-', '_', '.')"
)


@dataclass(frozen=True)
class Group:
    """A group with a score row: its direct members that have rows, and the metric it aggregates (filter
    None: the one lm-eval finds on its leaves)."""

    members: tuple[str, ...]
    metric: str
    filter: str | None


def is_data(data: object) -> bool:
    """A pinned dataset's name, or a mapping from the catalog's dataset_path to one."""
    if isinstance(data, dict):
        return bool(data) and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())
    return isinstance(data, str)


def entry_of(i: int, entry: object) -> dict:
    """One `catalog:` item as `{tasks: [...], data: DATASET | {PATH: DATASET}, group: NAME | None}`."""
    if isinstance(entry, dict) and set(entry) == {"task", "data"} and isinstance(entry["task"], str):
        if is_data(entry["data"]):
            return {"tasks": [entry["task"]], "data": entry["data"], "group": None}
    elif isinstance(entry, dict) and set(entry) == {"group", "tasks", "data"} and is_data(entry["data"]):
        tasks, name = entry["tasks"], str(entry["group"])
        if (
            isinstance(tasks, list)
            and tasks
            and all(isinstance(t, str) for t in tasks)
            and GROUP_NAME.match(name)
        ):
            return {"tasks": list(tasks), "data": entry["data"], "group": name}
    hint = ""
    if isinstance(entry, dict) and set(entry) == {"group", "data"}:
        group, data = entry["group"], entry["data"]
        hint = f" To run lm-eval's group {group!r}: `{{task: {group}, data: {data}}}`."
    raise EvalpinError(
        f"conf/suite/: catalog[{i}] is {entry!r}; expected {SHAPES}, where DATASET is pinned with "
        f"`evalpin pin-data` (`evalpin suite-data` lists what to pin).{hint}"
    )


def entries(suite: dict) -> list[dict]:
    """The suite's `catalog:` list, each checked (its shape; names are resolved by `trees`)."""
    found, seen = [], set()
    for i, item in enumerate(suite.get("catalog") or []):
        found.append(entry_of(i, item))
        names = [*found[-1]["tasks"], *([found[-1]["group"]] if found[-1]["group"] else [])]
        if twice := sorted(seen.intersection(names) | {n for n in names if names.count(n) > 1}):
            raise EvalpinError(
                f"conf/suite/: catalog[{i}] names {twice} again; each catalog task and group runs once "
                "(its scores are reported under its name)."
            )
        seen.update(names)
    return found


def datasets(suite: dict) -> list[str]:
    """The pinned datasets the suite's catalog entries read, sorted (nothing resolved: no lm_eval import)."""
    found = set()
    for entry in entries(suite):
        data = entry["data"]
        found.update(data.values() if isinstance(data, dict) else [data])
    return sorted(found)


def tree(i: int, entry: dict) -> Node:
    """The entry as lm-eval builds it: a catalog name's own tree, or the suite's group over catalog tasks."""
    if not entry["group"]:
        return resolve(entry["tasks"][0])
    leaves = [resolve(t) for t in entry["tasks"]]
    if other := next((n for n in leaves if n.kind != TASK), None):
        raise EvalpinError(
            f"conf/suite/: catalog[{i}] group {entry['group']!r} lists {other.name!r}, which is "
            f"{kind_word(other)} in lm-eval's catalog, not a task; run it as an entry of its own: "
            f"`{{task: {other.name}, data: DATASET}}`."
        )
    scored = {leaf.name: primary_score(leaf.config) for leaf in leaves}
    return Node(entry["group"], GROUP, group_config(entry["group"], scored), tuple(leaves))


def trees(suite: dict) -> list[tuple[dict, Node]]:
    """Every entry with its tree; a leaf that two entries run is refused (lm-eval reports it once)."""
    found, owner = [], {}
    for i, entry in enumerate(entries(suite)):
        node = tree(i, entry)
        for leaf in node.leaves():
            if leaf.name in owner:
                raise EvalpinError(
                    f"conf/suite/: catalog[{i}] ({node.name}) runs {leaf.name!r}, which "
                    f"catalog[{owner[leaf.name]}] runs too; each catalog task runs once. Drop one of the two."
                )
            owner[leaf.name] = i
        found.append((entry, node))
    return found


def bind(entry: dict, node: Node) -> dict[str, str]:
    """Each leaf -> the pinned dataset it reads: the entry's one dataset, or the one its dataset_path maps
    to. A leaf whose dataset nothing binds is named with the dataset it reads."""
    data, leaves = entry["data"], node.leaves()
    paths = sorted({str(leaf.config.get("dataset_path")) for leaf in leaves})
    if isinstance(data, str):
        if len(paths) > 1:
            mapping = ", ".join(f"{p}: DATASET" for p in paths)
            raise EvalpinError(
                f"conf/suite/: catalog entry {node.name!r} reads {len(paths)} Hub datasets {paths}, "
                f"and `data: {data}` is one; bind each: `data: {{{mapping}}}` (`evalpin suite-data` "
                "lists the pin-data command of each)."
            )
        return {leaf.name: data for leaf in leaves}
    unbound = next((leaf for leaf in leaves if leaf.config.get("dataset_path") not in data), None)
    if unbound is not None:
        path = unbound.config.get("dataset_path")
        raise EvalpinError(
            f"conf/suite/: catalog entry {node.name!r}: {unbound.name!r} reads Hub dataset {path!r}, which "
            f"`data:` does not bind; pin it (`evalpin suite-data` prints the command) and add "
            f"`{path}: DATASET` to the entry's data."
        )
    if unused := sorted(set(data) - set(paths)):
        raise EvalpinError(
            f"conf/suite/: catalog entry {node.name!r}: `data:` binds {unused}, which no leaf reads (they "
            f"read {paths}); remove them or check the spelling."
        )
    return {leaf.name: data[leaf.config["dataset_path"]] for leaf in leaves}


def task_data(suite: dict) -> dict[str, str]:
    """Every catalog task (leaf) the suite runs -> the pinned dataset it reads."""
    return {task: name for entry, node in trees(suite) for task, name in bind(entry, node).items()}


def groups(suite: dict) -> dict[str, Group]:
    """Every group with a score row (subgroups too), members before the groups that hold them."""
    found: dict[str, Group] = {}
    for _, node in trees(suite):
        collect_groups(node, found)
    return found


def collect_groups(node: Node, found: dict[str, Group]) -> list[str]:
    """Add the scored groups at and below `node`; return the names of its rows (itself when scored, or
    the rows below it: a group without an aggregate and a tag have no row of their own)."""
    below = [name for child in node.children for name in collect_groups(child, found)]
    if node.kind == TASK:
        return [node.name]
    if not node.aggregated:
        return below
    aggregate = node.config["aggregate_metric_list"]
    first = aggregate[0] if isinstance(aggregate, list) else aggregate
    kept = first.get("filter_list")
    kept = [kept] if isinstance(kept, str) else kept
    found[node.name] = Group(tuple(below), str(first["metric"]), kept[0] if kept else None)
    return [node.name]


def task_configs(root: Path, suite: dict, scratch: Path) -> tuple[list[dict | str], list[str]]:
    """For lm-eval: per catalog entry, what to evaluate with each leaf's dataset_path on its pinned
    snapshot; and the folders TaskManager must index (only those, `scratch` last). A task or tag goes as
    a wrapper group (evalpin_NAME) listing its leaves; a group is written into `scratch`, every group
    below it too."""
    configs: list[dict | str] = []
    folders: list[str] = []
    cards: dict[str, tuple[Card, str]] = {}
    for entry, node in trees(suite):
        specs = {}
        for leaf, data in zip(node.leaves(), bind(entry, node).values(), strict=True):
            if data not in cards:
                cards[data] = Card.read(root, data), cache_dir(root, data)
            cards[data][0].check(leaf.name, leaf.config)
            check_leaf_kwargs(root, leaf, data)
            specs[leaf.name] = leaf_spec(root, leaf, data, cards[data][1])
            if leaf.path and str(Path(leaf.path).parent) not in folders:
                folders.append(str(Path(leaf.path).parent))
        if node.kind == GROUP:
            write_groups(node, specs, scratch)
            configs.append(node.name)
        else:
            configs.append({"group": f"{GROUP_PREFIX}{node.name}", "task": list(specs.values())})
    if any(node.kind == GROUP for _, node in trees(suite)):
        folders.append(str(scratch))
    return configs, folders


def check_leaf_kwargs(root: Path, leaf: Node, data: str) -> None:
    """A catalog task that sets its own data_files or data_dir reads them under the pinned snapshot: only
    locked files (dataset_card.py)."""
    kwargs = leaf.config.get("dataset_kwargs") or {}
    if "data_files" in kwargs or "data_dir" in kwargs:
        from evalpin.verify import load_data_lock

        locked = frozenset(load_data_lock(root, data).by_path())
        check_task_kwargs(
            str(leaf.path or leaf.name), leaf.name, kwargs, project.data_dir(root, data), locked
        )


def leaf_spec(root: Path, leaf: Node, data: str, cache: str) -> dict:
    """A leaf as a group lists it: the catalog task, what its groups set on it, its pinned snapshot."""
    kwargs = {**(leaf.config.get("dataset_kwargs") or {}), "cache_dir": cache}
    snapshot = str(project.data_dir(root, data))
    return {**leaf.overrides, "task": leaf.name, "dataset_path": snapshot, "dataset_kwargs": kwargs}


def write_groups(node: Node, specs: dict[str, dict], scratch: Path) -> None:
    """`node` and the groups below it as group YAMLs in `scratch`: their own fields, leaves as `specs`."""
    listed: list[str | dict] = []
    for child in node.children:
        if child.kind == TASK:
            listed.append(specs[child.name])
        else:
            write_groups(child, specs, scratch)
            listed.append({**child.overrides, "group": child.name} if child.overrides else child.name)
    config = {**node.config, "task": listed}
    (scratch / f"{safe_name(node.name)}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


@contextmanager
def own_groups_quiet() -> Iterator[None]:
    """Silence lm-eval's index warning for each catalog group redefined (on purpose) in a SCRATCH_PREFIX
    folder; other redefinitions still warn."""

    def keep(record: logging.LogRecord) -> bool:
        ours = record.args and len(record.args) == 3 and Path(str(record.args[1])).parent.name
        return not (ours and str(ours).startswith(SCRATCH_PREFIX))

    logger = logging.getLogger("lm_eval.tasks._index")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def group_config(name: str, scored: dict[str, tuple[str, str]]) -> dict:
    """The suite's own group: its score aggregates its tasks' primary metric under their primary filter
    (`scored`: task -> metric, filter; mean weighted by size, as lm-eval's mmlu groups); tasks that report
    different metrics cannot be averaged."""
    if len(set(scored.values())) > 1:
        raise EvalpinError(
            f"conf/suite/: catalog group {name!r} mixes tasks scored by different metrics "
            f"{ {t: ','.join(s) for t, s in scored.items()} }; a group averages one metric. Split it into "
            "groups whose tasks share a metric, or list the tasks one by one."
        )
    metric, kept = next(iter(scored.values()))
    aggregate = {"metric": metric, "aggregation": "mean", "weight_by_size": True, "filter_list": [kept]}
    return {"group": name, "aggregate_metric_list": [aggregate], "metadata": {"version": 1.0}}


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
