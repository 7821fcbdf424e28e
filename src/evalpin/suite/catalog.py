"""lm-eval catalog tasks, groups and tags on pinned data: the catalog's own YAML (prompts, filters,
process_docs, metrics, a group's subgroups and aggregation), with every leaf's `dataset_path` pointed at
a dataset pinned in eval/data/NAME.

A catalog task is overridden inside a group's `task:` list (lm-eval 0.4.13 merges the override with the
catalog entry there, not at top level), so each leaf runs alone inside a wrapper group (evalpin_NAME)
listing it with its pinned dataset_path and what its groups set on it. A group's score is aggregated
from its leaves' stored results (evalpin.evaluation.evaluate_stage), as lm-eval aggregates it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from evalpin.base import project, proven
from evalpin.base.environment import offline_environment
from evalpin.base.errors import EvalpinError
from evalpin.base.runtime import package_version
from evalpin.delivery.card import CARD
from evalpin.delivery.card_files import Card, check_task_kwargs
from evalpin.delivery.inventory import list_delivery
from evalpin.delivery.verify import load_data_lock
from evalpin.suite.catalog_tree import (
    GROUP,
    TASK,
    Node,
    catalog_dir,
    kind_word,
    read_files,
    resolve,
)

GROUP_PREFIX = "evalpin_"  # the wrapper group of one catalog task or tag: evalpin_NAME
GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
CARDS_CHECK = "catalog-cards"  # .evalpin/checks/catalog-cards.json: check_cards' last pass (base/proven.py)
SHAPES = (
    "`{task: CATALOG_NAME, data: DATASET}` (a task, group or tag; DATASET: one pinned dataset, or "
    "`{HUB_DATASET_PATH: DATASET, ...}` when its leaves read several) or `{group: NAME, tasks: "
    "[CATALOG_TASK, ...], data: DATASET}` (NAME: lower-case letters, digits, '-', '_', '.'); either may "
    "add `gen_kwargs: {KEY: VALUE}`, merged over its generate_until tasks' generation_kwargs"
)


@dataclass(frozen=True)
class Group:
    """A group with a score row: its direct members that have rows, and the metric it aggregates (filter
    None: the one lm-eval finds on its leaves)."""

    members: tuple[str, ...]
    metric: str
    filter: str | None
    weight_by_size: bool = True  # lm-eval's AggMetricConfig default
    version: str = "N/A"  # as lm-eval reports a group's version: its metadata's, as a string


def is_data(data: object) -> bool:
    """A pinned dataset's name, or a mapping from the catalog's dataset_path to one."""
    if isinstance(data, dict):
        return bool(data) and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())
    return isinstance(data, str)


def entry_of(i: int, entry: object) -> dict:
    """One `catalog:` item as `{tasks: [...], data: DATASET | {PATH: DATASET}, group: NAME | None,
    gen_kwargs: {...}}`."""
    fields = dict(entry) if isinstance(entry, dict) else {}
    gen_kwargs = fields.pop("gen_kwargs", {})
    if isinstance(gen_kwargs, dict) and all(isinstance(k, str) for k in gen_kwargs):
        if set(fields) == {"task", "data"} and isinstance(fields["task"], str) and is_data(fields["data"]):
            return {
                "tasks": [fields["task"]],
                "data": fields["data"],
                "group": None,
                "gen_kwargs": gen_kwargs,
            }
        if set(fields) == {"group", "tasks", "data"} and is_data(fields["data"]):
            tasks, name = fields["tasks"], str(fields["group"])
            if (
                isinstance(tasks, list)
                and tasks
                and all(isinstance(t, str) for t in tasks)
                and GROUP_NAME.match(name)
            ):
                return {"tasks": list(tasks), "data": fields["data"], "group": name, "gen_kwargs": gen_kwargs}
    hint = ""
    if set(fields) == {"group", "data"}:
        group, data = fields["group"], fields["data"]
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
    metadata = node.config.get("metadata")
    version = str(metadata.get("version", "N/A")) if isinstance(metadata, dict) and metadata else "N/A"
    weighted = bool(first.get("weight_by_size", True))
    found[node.name] = Group(tuple(below), str(first["metric"]), kept[0] if kept else None, weighted, version)
    return [node.name]


def check_cards(root: Path, suite: dict) -> None:
    """Every catalog leaf's config and split are in the card of the pinned dataset it reads, with a pinned
    file per split: checked by the verify stage, before DVC deletes the evaluate stage's outputs. A
    dataset not on disk is left to verify, which says how to restore it. A pass is reused while all it
    read is unchanged (cards_inputs: no lm_eval import then)."""
    record = proven.recorded(root, CARDS_CHECK)
    if record is not None and cards_inputs(root, suite, record["inputs"].get("read")) == record["inputs"]:
        return
    cards: dict[str, Card] = {}
    for entry, node in trees(suite):
        for leaf, data in zip(node.leaves(), bind(entry, node).values(), strict=True):
            if project.data_dir(root, data).is_dir():
                cards.setdefault(data, Card.read(root, data)).check(leaf.name, leaf.config)
    folders = sorted({f for e in entries(suite) for t in e["tasks"] for f in resolve(t).read})
    files = read_files(folders)
    if files is not None:
        read = {"folders": [str(f) for f in folders], "files": [str(f) for f in files]}
        proven.remember(root, CARDS_CHECK, cards_inputs(root, suite, read))


def cards_inputs(root: Path, suite: dict, read: object) -> dict | None:
    """What check_cards reads, given the catalog files its resolution read (`read`: the folders it
    searched and indexed, and the files their YAMLs include): the suite's catalog entries, each of those
    files by sha256 (with any YAML now under those folders), the catalog's folder names (where a name is
    searched for), lm_eval's and PyYAML's versions, each dataset's card by sha256 and its file list, and
    evalpin's code. None when `read` is not such a record or something cannot be read."""
    ok = isinstance(read, dict) and set(read) == {"folders", "files"}
    if not ok or not all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in read.values()):
        return None
    try:
        catalog = catalog_dir()
        files = {Path(f) for f in read["files"]}
        files.update(p for folder in read["folders"] for p in Path(folder).rglob("*.yaml"))
        return {
            "entries": suite.get("catalog"),
            "read": read,
            "files": proven.digests(sorted(files)),
            "catalog": [str(catalog), sorted(d.name for d in os.scandir(catalog) if d.is_dir())],
            "versions": [package_version("lm_eval"), package_version("PyYAML")],
            "cards": {data: card_inputs(root, data) for data in datasets(suite)},
            "evalpin": proven.evalpin_code(),
        }
    except (EvalpinError, OSError):
        return None


def card_inputs(root: Path, data: str) -> dict | None:
    """What Card.read reads of a pinned dataset: its card (README.md) and its file list; None when the
    dataset is not on disk (check_cards leaves it to verify)."""
    directory = project.data_dir(root, data)
    if not directory.is_dir():
        return None
    return {"card": proven.sha256_of(directory / CARD), "files": list_delivery(directory)}


@dataclass(frozen=True)
class LeafSpec:
    """A catalog leaf as lm-eval is given it: a wrapper group (evalpin_NAME) listing the leaf with its
    dataset_path on its pinned snapshot (`config`); the YAML declaring it and the fields lm-eval builds it
    from (`path`, `fields`); the pinned dataset it reads and that config's splits (split -> data_files
    patterns, from the dataset card: the datasets library loads a config whole)."""

    task: str
    data: str
    config: dict
    path: str
    fields: dict
    splits: dict[str, list[str]]

    @property
    def wrapped(self) -> dict:
        return {"group": f"{GROUP_PREFIX}{self.task}", "task": [self.config]}

    @property
    def folder(self) -> str:
        """The catalog folder TaskManager must index for this leaf."""
        return str(Path(self.path).parent)

    @property
    def dataset_config(self) -> str:
        return str(self.fields.get("dataset_name") or "default")


def leaf_specs(root: Path, suite: dict) -> dict[str, LeafSpec]:
    """Every catalog leaf the suite runs, each on its own (a task's result depends on its inputs only):
    what its groups set on it, its pinned snapshot and the datasets cache of that snapshot's lock. Each
    leaf's pinned dataset must declare the config and splits it reads (Card.check)."""
    specs: dict[str, LeafSpec] = {}
    cards: dict[str, tuple[Card, str]] = {}
    for entry, node in trees(suite):
        check_gen_kwargs(entry, node)
        for leaf, data in zip(node.leaves(), bind(entry, node).values(), strict=True):
            if data not in cards:
                cards[data] = Card.read(root, data), cache_dir(root, data)
            card = cards[data][0]
            card.check(leaf.name, leaf.config)
            check_leaf_kwargs(root, leaf, data)
            config = leaf_spec(root, leaf, data, cards[data][1], entry["gen_kwargs"])
            splits = card.configs[str(leaf.config.get("dataset_name") or "default")]
            specs[leaf.name] = LeafSpec(leaf.name, data, config, leaf.path, leaf.config, splits)
    return specs


def check_leaf_kwargs(root: Path, leaf: Node, data: str) -> None:
    """A catalog task that sets its own data_files or data_dir reads them under the pinned snapshot: only
    locked files (delivery/card_files.py)."""
    kwargs = leaf.config.get("dataset_kwargs") or {}
    if "data_files" in kwargs or "data_dir" in kwargs:
        locked = frozenset(load_data_lock(root, data).by_path())
        check_task_kwargs(
            str(leaf.path or leaf.name), leaf.name, kwargs, project.data_dir(root, data), locked
        )


def leaf_spec(root: Path, leaf: Node, data: str, cache: str, gen_kwargs: dict) -> dict:
    """A leaf as a group lists it: the catalog task, what its groups set on it, its pinned snapshot, and
    the entry's gen_kwargs merged over its generation_kwargs (lm-eval replaces that field whole)."""
    kwargs = {**(leaf.config.get("dataset_kwargs") or {}), "cache_dir": cache}
    snapshot = str(project.data_dir(root, data))
    spec = {**leaf.overrides, "task": leaf.name, "dataset_path": snapshot, "dataset_kwargs": kwargs}
    if gen_kwargs and leaf.config.get("output_type") == "generate_until":
        merged = {
            **(leaf.config.get("generation_kwargs") or {}),
            **(leaf.overrides.get("generation_kwargs") or {}),
        }
        spec["generation_kwargs"] = {**merged, **gen_kwargs}
    return spec


def check_gen_kwargs(entry: dict, node: Node) -> None:
    """An entry's gen_kwargs must reach a task: refused where none of its leaves generates."""
    if entry["gen_kwargs"] and all(
        leaf.config.get("output_type") != "generate_until" for leaf in node.leaves()
    ):
        raise EvalpinError(
            f"conf/suite/: catalog entry {node.name!r} sets gen_kwargs, and none of its tasks is "
            "generate_until (they score loglikelihoods); remove `gen_kwargs` from the entry."
        )


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
    filter), as evaluation/harness.py reports it."""
    metrics, filters = fields.get("metric_list") or [{}], fields.get("filter_list") or [{"name": "none"}]
    return str(metrics[0].get("metric")), str(filters[0]["name"])


def cache_dir(root: Path, data: str) -> str:
    """The datasets library's cache for one pinned lock of `data` (one per Slurm array job). Its own cache
    is keyed by the folder's name and the README's configs, not by content (measured: a re-pinned
    eval/data/arc with other answer keys was served from the old arrow cache), so each lock digest gets
    a cache of its own."""

    digest = load_data_lock(root, data).digest
    hf_home = Path(os.environ.get("HF_HOME") or offline_environment(root)["HF_HOME"])
    # Slurm array jobs on one shared clone build and prove caches at the same time: each job its own
    # (data_cache.py would otherwise see another job's half-built cache as tampered and remove it)
    job = os.environ.get("SLURM_ARRAY_TASK_ID")
    return str(hf_home / "datasets" / "evalpin" / f"{data}-{digest[:16]}{f'-job{job}' if job else ''}")
