"""A name in lm-eval's task catalog (a task, a group or a tag) as lm-eval's own index defines it: a tree
of groups over leaf tasks, with the fields each leaf is built from.

Only the catalog folders that declare the name and its members are indexed (TaskManager over the whole
catalog, 14,000+ YAML files, takes 5-16 s); the YAML declaring a name is found by a text search that
reads the folders whose name the catalog name starts with or contains first (mmlu/ for mmlu_anatomy,
arc/ for ai2_arc), then the whole catalog.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from evalpin.base.documents import parsed_task, read_task_yaml
from evalpin.base.errors import EvalpinError

TASK, GROUP, TAG = "task", "group", "tag"


@dataclass(frozen=True)
class Node:
    """`config`: a leaf's fields as lm-eval builds the task (its YAML over the file it includes, under the
    task-level fields its groups set); a group's own YAML fields; nothing for a tag."""

    name: str
    kind: str  # task, group or tag
    config: dict
    children: tuple[Node, ...] = ()
    overrides: dict = field(default_factory=dict)  # what its groups set on it (lm-eval merges them)
    path: str = ""  # the YAML declaring it ("" for a tag or the suite's own group)
    read: tuple[Path, ...] = field(default=(), compare=False, repr=False)  # resolve's: the folders it read

    def leaves(self) -> list[Node]:
        return [self] if self.kind == TASK else [leaf for c in self.children for leaf in c.leaves()]

    @property
    def aggregated(self) -> bool:
        """A group lm-eval reports a score for: one with an aggregate_metric_list."""
        return self.kind == GROUP and bool(self.config.get("aggregate_metric_list"))


def catalog_dir() -> Path:
    """lm-eval's task catalog, found without importing lm_eval (an import costs seconds)."""
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise EvalpinError("lm_eval is not installed; run `make setup`.")
    return Path(next(iter(spec.submodule_search_locations))) / "tasks"


def own_fields(path: Path) -> dict:
    """A catalog YAML's own fields; {} for one that does not read as a mapping (lm-eval skips it too)."""
    try:
        return read_task_yaml(path, "reinstall lm_eval (`make setup`)")
    except EvalpinError:
        return {}


def declares(fields_: dict, name: str) -> bool:
    """Whether a catalog YAML's own fields name `name` as their task, group or one of their tags."""
    tags = fields_.get("tag") or []
    return name in (fields_.get("task"), fields_.get("group")) or name in (
        [tags] if isinstance(tags, str) else tags
    )


def search_order(name: str, catalog: Path) -> list[Path]:
    """The folders to search for `name`: those it starts with or contains, longest (most specific)
    first, then the whole catalog."""
    likely = [d for d in catalog.iterdir() if d.is_dir() and d.name in name]
    likely.sort(key=lambda d: (not name.startswith(d.name), -len(d.name), d.name))
    return [*likely, catalog]


def locate(name: str, catalog: Path | None = None, searched: list[Path] | None = None) -> Path:
    """The catalog YAML declaring `name` as a task, group or tag; each folder it reads is added to
    `searched`."""
    catalog = catalog or catalog_dir()
    word = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    for folder in search_order(name, catalog):
        if searched is not None:
            searched.append(folder)
        for path in sorted(folder.rglob("*.yaml")):
            text = path.read_text(encoding="utf-8", errors="replace")
            if word.search(text) and declares(own_fields(path), name):
                return path
    raise EvalpinError(
        f"conf/suite/: {name!r} is no task, group or tag in lm-eval's catalog ({catalog})"
        f"{near(name, catalog)}. "
        f"Check the name: `lm_eval ls tasks | grep {name.split('_')[0]}`, or write it as a local task "
        "under the suite's include_path."
    )


def near(name: str, catalog: Path) -> str:
    """Names in the folders `name` would be in that are spelled like it: '; did you mean ...'."""
    folders = search_order(name, catalog)[:-1]
    known = index_of(folders) if folders else {}
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.75)
    return f"; did you mean {', '.join(close)}" if close else ""


def index_of(folders: list[Path]) -> dict:
    """lm-eval's own index (name -> Entry) over these catalog folders only."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=[str(f) for f in folders], include_defaults=False).task_index


@functools.lru_cache(maxsize=64)
def resolve(name: str) -> Node:
    """`name` as lm-eval builds it, with the folders it needs indexed: a member declared in another
    folder (a leaderboard subgroup) adds that folder. Its `read`: every catalog folder it read."""
    catalog = catalog_dir()
    searched: list[Path] = []
    folders = [locate(name, catalog, searched).parent]
    while True:
        index = index_of(folders)
        unknown = next(iter(referenced(name, index) - index.keys()), None)
        if unknown is None:
            return replace(build(name, index, {}), read=tuple(dict.fromkeys([*searched, *folders])))
        folders.append(locate(unknown, catalog, searched).parent)


def read_files(folders: list[Path]) -> list[Path] | None:
    """The files a resolution over `folders` reads: every YAML under them and, followed as lm-eval's
    loader follows them, the files those include (`include: ../template_yaml`); None when a YAML does not
    parse here (its includes are then unknown)."""
    found: set[Path] = set()
    todo = [path for folder in folders for path in folder.rglob("*.yaml")]
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found.add(path)
        try:
            data = path.read_bytes() if path.is_file() else b""
            # no `include` key without the word, or an escape that spells it: most files are not parsed
            fields_ = parsed_task(data.decode("utf-8")) if b"include" in data or b"\\" in data else None
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return None
        listed = fields_.get("include") if isinstance(fields_, dict) else None
        for include in listed if isinstance(listed, list) else [listed] if listed else []:
            todo.append((path.resolve().parent / str(include)).resolve())  # as lm-eval's loader does
    return sorted(found)


def members(config: dict) -> list:
    listed = config.get("task") or []
    return [listed] if isinstance(listed, str) else list(listed)


def member_name(member: str | dict) -> str:
    return member if isinstance(member, str) else str(member.get("task") or member.get("group"))


def referenced(name: str, index: dict) -> set[str]:
    """Every name reachable from `name` in this index, itself included (names not in it too)."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        entry = index.get(current)
        if entry is not None and entry.kind.name == "GROUP":
            todo.extend(member_name(m) for m in members(entry.cfg))
        elif entry is not None and entry.kind.name == "TAG":
            todo.extend(entry.tags)
    return seen


@functools.cache
def group_fields() -> frozenset[str]:
    from lm_eval.config.group import GroupConfig

    return frozenset(f.name for f in fields(GroupConfig))


def build(name: str, index: dict, inherited: dict) -> Node:
    """The node of `name`: a leaf's fields under `inherited` (the task-level fields of its groups), as
    lm-eval's TaskFactory merges them; a group's members in its order, tags expanded (sorted, as lm-eval
    expands them)."""
    entry = index[name]
    kind = entry.kind.name
    if kind == "TAG":
        return Node(name, TAG, {}, tuple(build(t, index, inherited) for t in sorted(entry.tags)), inherited)
    if kind == "GROUP":
        config = {k: v for k, v in entry.cfg.items() if k != "include"}
        below = {**{k: v for k, v in config.items() if k not in group_fields()}, **inherited}
        children: list[Node] = []
        for member in members(config):
            overrides = {**below, **member} if isinstance(member, dict) else below
            overrides.pop("group", None)
            child = build(member_name(member), index, {k: v for k, v in overrides.items() if k != "task"})
            children.extend(child.children if child.kind == TAG else [child])
        return Node(name, GROUP, config, tuple(children), inherited, str(entry.yaml_path))
    if kind != "TASK":
        raise EvalpinError(
            f"{entry.yaml_path}: {name!r} is a Python task (field 'class'); evalpin runs YAML tasks on "
            "pinned data only. Name a YAML task instead, or write it as a local task."
        )
    return Node(name, TASK, {**entry.cfg, **inherited}, (), inherited, str(entry.yaml_path))


def kind_word(node: Node) -> str:
    return {TASK: "a task", GROUP: "a group", TAG: "a tag"}[node.kind]
