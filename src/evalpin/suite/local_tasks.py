"""The suite's own tasks: the names the lm-eval YAMLs under its include_path (eval/tasks) declare, read
strictly. lm-eval's index skips a YAML it cannot read (not UTF-8, not YAML) and then fails on the missing
name with a KeyError; here such a file is one line naming it, before anything runs.

One index, name -> Declared (kind, YAML, fields), serves every reader of eval/tasks: the params check
(which names exist, as what), a task key (the YAML a task is declared in) and the gguf backend's check
(a task's output_type). It is built once per content of the folder's YAMLs."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from evalpin.base.documents import read_task_yaml
from evalpin.base.errors import EvalpinError

TASK, GROUP, TAG = "task", "group", "tag"
DEFAULT_OUTPUT_TYPE = "generate_until"  # lm-eval's TaskConfig default


@dataclass(frozen=True)
class Declared:
    """A name a YAML under include_path declares: as its task, its group or one of its tags (the first
    YAML, in path order, that declares it; a task's declaration wins over a group's or a tag's)."""

    kind: str  # task, group or tag
    path: Path  # the YAML (under the include_path folder as given)
    fields: dict  # its own fields (`!function` values as text, includes unresolved): read, never change


def declared_names(folder: Path, root: Path) -> set[str]:
    """Every task, group and tag name the YAMLs under `folder` declare (lm-eval indexes it recursively)."""
    return set(declared(folder, root))


def declared_kinds(folder: Path, root: Path) -> dict[str, str]:
    """Each name the YAMLs under `folder` declare -> "task", "group" or "tag"."""
    return {name: found.kind for name, found in declared(folder, root).items()}


def declared(folder: Path, root: Path) -> dict[str, Declared]:
    """The index of the YAMLs under `folder` (named relative to `root` in messages): each name they
    declare -> Declared. EvalpinError naming the YAML when one is unreadable, or when `folder` is none."""
    rel = folder.relative_to(root) if folder.is_relative_to(root) else folder
    if not folder.is_dir():
        raise EvalpinError(
            f"{rel}: suite.include_path is not a folder of task YAMLs. Point it at one (conf/suite/, "
            "`include_path: eval/tasks`), then `evalpin compose`."
        )
    paths = sorted(folder.rglob("*.yaml"))
    return index(tuple((path, path.read_bytes()) for path in paths), root)


@functools.lru_cache(maxsize=16)
def index(contents: tuple[tuple[Path, bytes], ...], root: Path) -> dict[str, Declared]:
    """The index of these YAMLs (path, bytes), in path order: keyed by content, built once per edit."""
    found: dict[str, Declared] = {}
    for path, _ in contents:
        fields = read_task_yaml(path, f"restore it (`git checkout {named(path, root)}`)")
        tags = fields.get("tag") or []
        for name in [*([tags] if isinstance(tags, str) else tags), fields.get("group")]:
            if isinstance(name, str):
                found.setdefault(name, Declared(GROUP if name == fields.get("group") else TAG, path, fields))
        task = fields.get("task")
        if isinstance(task, str) and (task not in found or found[task].kind != TASK):
            found[task] = Declared(TASK, path, fields)
    return found


def named(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path


def output_type(found: Declared, root: Path) -> str:
    """A local task's output_type as lm-eval builds it: its own field over those of the files it includes
    (in order, each over what it includes), else lm-eval's default."""
    return str(with_includes(found.path, found.fields, root).get("output_type") or DEFAULT_OUTPUT_TYPE)


def with_includes(path: Path, fields: dict, root: Path, seen: frozenset[Path] = frozenset()) -> dict:
    """`fields` (of the YAML `path`) over the files it includes, merged as lm-eval's loader merges them:
    a later include over an earlier one, the file's own fields over all. An include that is missing or
    circular adds nothing (lm-eval then refuses the task itself)."""
    includes = fields.get("include")
    merged: dict = {}
    for included in includes if isinstance(includes, list) else [includes] if includes else []:
        target = path.parent / str(included)
        if target.is_file() and target.resolve() not in seen | {path.resolve()}:
            below = read_task_yaml(target, f"restore it (`git checkout {named(target, root)}`)")
            merged.update(with_includes(target, below, root, seen | {path.resolve()}))
    merged.update({k: v for k, v in fields.items() if k != "include"})
    return merged
