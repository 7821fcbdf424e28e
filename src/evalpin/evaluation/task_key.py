"""A task's key: everything its result depends on, so that a stored result is reused only when every input
is the same, and a rerun can say which input changed.

The key holds the delivery's lock digest (and its base's, for an adapter); the files the task reads (a
catalog task: the files of the one config of its pinned dataset that it loads, matched by the dataset
card's data_files patterns, with their sha256 from the dataset's lock, never the whole lock, so a re-pin
that adds another config leaves it alone; a local task: the data files its YAML names); its definition
(its YAML and the files it includes, the `!function` modules they name, the fields lm-eval builds it
from); the model, inference and backend parameters; limit; the runtime's versions; and whether it runs
through the chat template.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from evalpin.base.documents import parsed_task
from evalpin.base.errors import EvalpinError
from evalpin.base.runtime import RESULT_PACKAGES, current_runtime
from evalpin.delivery.card_files import pinned_any
from evalpin.delivery.lock import Lock, delivery_identity
from evalpin.suite import catalog, local_tasks
from evalpin.suite.catalog_tree import catalog_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from evalpin.config.params import Params

# Bump when what a stored result holds, or how its records are derived (evaluate.sample_records), changes.
FORMAT = 3  # 3: a result records what its task read (task_reads.py)
MODEL_FIELDS_IGNORED = ("upstream",)  # where a pin was fetched from: the lock digest names the bytes


@dataclass(frozen=True)
class Leaf:
    """A task that is evaluated on its own: a local task (spec None) or a catalog leaf on pinned data."""

    name: str
    chat: bool  # through the delivery's chat template
    spec: catalog.LeafSpec | None = None


def digest(value: object) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def runtime() -> dict[str, str]:
    """The versions of what computes a score (base/runtime.py RESULT_PACKAGES)."""
    return current_runtime(RESULT_PACKAGES)


def delivery(lock: Lock, base: Lock | None) -> dict:
    """The delivery part of a key (delivery_identity without the revision: the lock digest names the
    bytes), with an adapter's base."""
    return delivery_identity(lock, base, revision=False)


def task_fields(path: Path) -> dict:
    """A task YAML's fields, read from the file each time (a copy: keys hold them)."""
    try:
        found = parsed_task(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EvalpinError(f"{path}: not valid YAML ({exc}); fix the task's YAML.") from exc
    return copy.deepcopy(found) if isinstance(found, dict) else {}


def relative(path: Path, base: Path) -> str:
    """`path` named relative to `base` (the repository, or lm-eval's catalog): keys do not depend on
    where the repository or the virtual environment lives."""
    for a, b in ((path, base), (path.resolve(), base.resolve())):
        if a.is_relative_to(b):
            return a.relative_to(b).as_posix()
    return path.as_posix()


def definition_files(yaml_path: Path, base: Path) -> dict[str, str]:
    """The task's YAML, the YAMLs it includes (in order), and the modules the `!function` fields of
    any of them name, each found beside the YAML declaring it: path (relative to `base`) -> sha256."""
    chain, current = [yaml_path], yaml_path
    while isinstance(included := task_fields(current).get("include"), str):
        current = current.parent / included
        if not current.is_file() or current in chain:
            break
        chain.append(current)
    found = {relative(p, base): file_digest(p) for p in chain}
    for path in chain:
        for module in sorted(functions(task_fields(path))):
            source = path.parent / f"{module.replace('.', '/')}.py"
            if source.is_file():
                found[relative(source, base)] = file_digest(source)
    return found


def functions(value: object) -> set[str]:
    """The modules named by `!function MODULE.NAME` values anywhere in a task's fields."""
    if isinstance(value, str) and value.startswith("!function "):
        target = value.removeprefix("!function ").strip()
        return {target.rsplit(".", 1)[0]} if "." in target else set()
    if isinstance(value, dict):
        return set().union(*(functions(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(functions(v) for v in value))
    return set()


def portable(fields: dict, base: Path) -> dict:
    """Fields with `base` (lm-eval's catalog: `!function` values are absolute paths there) written as
    `lm_eval/tasks`, whichever way the path is spelled."""
    text = canonical(fields)
    for spelled in sorted({str(base.resolve()), str(base)}, key=len, reverse=True):
        text = text.replace(spelled, "lm_eval/tasks")
    return json.loads(text)


def catalog_task(spec: catalog.LeafSpec, data: Lock) -> tuple[dict, dict]:
    """A catalog leaf's definition and the files of its pinned dataset it reads."""

    base = catalog_dir()
    given = {k: v for k, v in spec.config.items() if k not in ("dataset_path", "dataset_kwargs")}
    definition = {
        "files": definition_files(Path(spec.path), base),
        "fields": portable(spec.fields, base),
        "given": portable(given, base),  # what the suite's entry sets on it (gen_kwargs) and its groups
    }
    reads = {
        "dataset": spec.data,
        "config": spec.dataset_config,
        "splits": spec.splits,
        "files": files_read(spec, data),  # not the card's whole header: another config's entry is no change
    }
    return definition, reads


def files_read(spec: catalog.LeafSpec, data: Lock) -> dict[str, str]:
    """The locked data files the leaf's config and splits match; every data file of the lock where the
    card's patterns are not the whole story (no patterns, a data_dir, the task's own data_files): a key
    may hold more than the task reads, never less."""
    patterns = [p for split in spec.splits.values() for p in split]
    kwargs = spec.fields.get("dataset_kwargs") or {}
    files = {f.path: f.sha256 for f in data.files if pinned_any([f.path], patterns)}
    if files and "data_files" not in kwargs and "data_dir" not in kwargs:
        return files
    return {f.path: f.sha256 for f in data.files if f.role == "data"}


def local_yaml(root: Path, suite: dict, task: str) -> Path:
    """The YAML under the suite's include_path that declares `task` (suite/local_tasks.py's index)."""
    declared = local_tasks.declared(root / suite["include_path"], root).get(task)
    if declared is not None and declared.kind == local_tasks.TASK:
        return declared.path
    raise EvalpinError(
        f"conf/suite/: task {task!r} is declared by no YAML under {suite['include_path']}/ "
        f"(`task: {task}`). Add it there, or remove it from the suite's tasks."
    )


def named_files(fields: dict) -> list[str]:
    """The data files a local task's YAML names: dataset_kwargs.data_files (a name, a list, or a split
    mapping of either)."""
    named = (fields.get("dataset_kwargs") or {}).get("data_files") or {}
    values = named.values() if isinstance(named, dict) else [named]
    return [n for v in values for n in ([v] if isinstance(v, str) else list(v))]


def local_task(root: Path, suite: dict, task: str) -> tuple[dict, dict]:
    """A local task's definition and the data files its YAML names, found beside the YAML, in its data/
    folder or from the repository root. A file found nowhere makes the key cover every non-YAML file
    under include_path (the task may read any of them)."""
    path = local_yaml(root, suite, task)
    fields = task_fields(path)
    definition = {"files": definition_files(path, root), "fields": fields}
    files: dict[str, str] = {}
    for name in named_files(fields):
        places = (path.parent / name, path.parent / "data" / name, root / name)
        found = next((p for p in places if p.is_file()), None)
        if found is None:
            return definition, {"files": every_data_file(root / suite["include_path"])}
        files[relative(found, root)] = file_digest(found)
    return definition, {"files": files}


def every_data_file(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): file_digest(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix not in (".yaml", ".pyc")
    }


def task_key(root: Path, params: Params, leaf: Leaf, delivered: dict, data: Lock | None) -> dict:
    """The key of one task. `delivered`: the delivery part (`delivery()`), shared by every task. The
    sections as params.yaml holds them (`raw`): the key of a stored result never depends on their typing."""
    if leaf.spec is not None and data is not None:
        definition, reads = catalog_task(leaf.spec, data)
    else:
        definition, reads = local_task(root, params.suite.raw, leaf.name)
    model = {k: v for k, v in params.model.raw.items() if k not in MODEL_FIELDS_IGNORED}
    key = {
        "format": FORMAT,
        "task": leaf.name,
        "chat_template": leaf.chat,
        "delivery": delivered,
        "definition": definition,
        "data": reads,
        "model": model,
        "inference": params.inference.raw,
        "backend": params.backend.raw,
        "limit": params.suite.raw.get("limit"),
        "runtime": runtime(),
    }
    return json.loads(canonical(key))  # as a stored key reads back from JSON


def files_digest(key: dict) -> str:
    """The identity of what a task read from its pinned dataset: the config, its splits and their files."""
    return digest({k: v for k, v in key["data"].items() if k != "dataset"})


def flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict) and value:
        found: dict[str, object] = {}
        for k, v in value.items():
            found.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return found
    return {prefix: value}


def changes(old: dict, new: dict, limit: int = 3) -> str:
    """Why `old` (a stored result's key) is not `new`, in words: the first `limit` changed fields."""
    if old.get("format") != new.get("format"):
        return f"stored result format {old.get('format')} -> {new.get('format')}"
    words: list[str] = []
    for part in ("delivery", "data", "definition"):
        if old.get(part) != new.get(part):
            words.append(describe(part, old.get(part) or {}, new.get(part) or {}))
    a, b = (
        flatten({k: v for k, v in old.items() if k not in ("delivery", "data", "definition")}),
        flatten({k: v for k, v in new.items() if k not in ("delivery", "data", "definition")}),
    )
    words += [
        f"{f} {a.get(f)!r} -> {b.get(f)!r}".replace("'", "")
        for f in sorted(a.keys() | b.keys())
        if a.get(f) != b.get(f)
    ]
    shown = "; ".join(words[:limit])
    return shown + (f" (and {len(words) - limit} more)" if len(words) > limit else "")


def changed_files(old: dict, new: dict) -> list[str]:
    before, after = old.get("files", {}), new.get("files", {})
    return sorted(f for f in before.keys() | after.keys() if before.get(f) != after.get(f))


def describe(part: str, old: dict, new: dict) -> str:
    """A changed delivery, task definition or data part of a key, in words."""
    if part == "delivery":
        return f"delivery {new.get('name')}: lock {short(old)} -> {short(new)}"
    changed = changed_files(old, new)
    if part == "definition":
        return f"task definition: {', '.join(changed) or 'its fields'} changed"
    if "dataset" not in new:
        return f"data: {', '.join(changed) or 'its files'} changed"
    splits = sorted({s for f in changed for s, p in new["splits"].items() if pinned_any([f], p)})
    where = ", ".join(f"{new['config']}/{s}" for s in splits) or f"{new['config']} files"
    return f"dataset {new['dataset']}: {where} changed"


def short(delivery: dict) -> str:
    text = str(delivery.get("lock_digest", "?"))[:12]
    if base := delivery.get("base"):
        text += f" (base {base['name']} {str(base['lock_digest'])[:12]})"
    return text
