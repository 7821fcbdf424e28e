"""Reading the YAML files a user edits (params.yaml, conf/**.yaml, lm-eval task YAMLs): a file that is not
UTF-8, not YAML, not a mapping or not a file at all is one line naming it, its line and a fix, never a
parser's traceback or its "<unicode string>". A task YAML's tags (`!function MODULE.NAME`) are read as
their text by the one task loader here (libyaml): nothing is imported."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from evalpin.base.errors import EvalpinError

MAX_EXPANDED = 100_000  # nodes once aliases are expanded: real configs have hundreds


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """json's object_pairs_hook: a key given twice is refused (json.loads would keep the last silently,
    so a lock could say one sha256 to a reader and another to evalpin)."""
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def load_bounded(text: str, loader: type, where: str) -> object:
    """yaml.load(text, Loader=loader), refused with EvalpinError when its aliases (`*name`) expand to more
    than MAX_EXPANDED nodes: nested aliases grow exponentially in whatever walks the result (a YAML alias
    bomb, "billion laughs"). Measured on the node graph, where an alias is one shared node, between
    composing and constructing: one parse, nothing built from a bomb."""
    parser = loader(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return None
        if (size := expanded(node, {})) > MAX_EXPANDED:
            raise EvalpinError(
                f"{where}: its YAML aliases expand to {size:,} values (more than {MAX_EXPANDED:,}): an "
                "alias bomb. Write the values out instead of nesting `*alias` references."
            )
        return parser.construct_document(node)
    finally:
        parser.dispose()


def expanded(node: yaml.Node, sizes: dict[int, int]) -> int:
    """The number of nodes `node` stands for with every alias written out (memoized: linear time)."""
    if id(node) not in sizes:
        sizes[id(node)] = 1  # a cycle (a recursive alias) counts once
        if isinstance(node, yaml.SequenceNode):
            sizes[id(node)] = 1 + sum(expanded(child, sizes) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            sizes[id(node)] = 1 + sum(expanded(k, sizes) + expanded(v, sizes) for k, v in node.value)
    return sizes[id(node)]


def read_json(path: Path, fix: str) -> dict:
    """The JSON object in `path`; EvalpinError naming it and `fix` when it is missing, not UTF-8 JSON
    or not an object."""
    import json

    try:
        data = json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=unique_keys)
    except FileNotFoundError:
        raise EvalpinError(f"{path}: not found. Fix: {fix}.") from None
    except (ValueError, IsADirectoryError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise EvalpinError(f"{path}: not valid JSON ({exc}). Fix: {fix}.") from exc
    if not isinstance(data, dict):
        raise EvalpinError(
            f"{path}: holds a {type(data).__name__}, where a JSON object is expected. Fix: {fix}."
        )
    return data


def switch(data: dict, key: str, where: str) -> bool:
    """A true/false setting (a safety switch): absent is false; a string such as "no" is refused, since
    Python's bool("no") is True and would open the switch it meant to close."""
    value = data.get(key, False)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise EvalpinError(f"{where}: field {key!r} is {value!r}; expected true or false (unquoted).")


def read_yaml(path: Path, fix: str, missing_ok: bool = False, loader: type | None = None) -> dict:
    """The mapping in `path` ({} for an empty file, or a missing one when `missing_ok`). `fix`: the
    command that repairs it, e.g. "`evalpin compose`" or "`git checkout conf/model/NAME.yaml`";
    `loader`: a yaml Loader (default: SafeLoader)."""
    if missing_ok and not path.exists():
        return {}
    if not path.is_file():
        what = "a directory" if path.is_dir() else "not found"
        raise EvalpinError(f"{path}: {what}, where a YAML file is expected. Fix: {fix}.")
    try:
        data = load_bounded(path.read_bytes().decode("utf-8"), loader or yaml.SafeLoader, str(path))
    except UnicodeDecodeError as exc:
        raise EvalpinError(
            f"{path}: not UTF-8 (byte {exc.start}: {exc.reason}). Save it as UTF-8 (`iconv -f latin1 -t "
            f"utf-8`). Fix: {fix}."
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise EvalpinError(f"{where}: not valid YAML ({problem}). Fix: {fix}.") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EvalpinError(
            f"{path}: holds a {type(data).__name__}, where a mapping (key: value lines) is expected. "
            f"Fix: {fix}."
        )
    return data


class TaskLoader(yaml.CSafeLoader):
    """An lm-eval task YAML's fields, `!function MODULE.NAME` kept as that text (a task key hashes the
    module it names); another tag on a scalar as "!TAG VALUE", on a list or mapping as "!TAG"."""


TaskLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        f"!{suffix} {loader.construct_scalar(node)}" if isinstance(node, yaml.ScalarNode) else f"!{suffix}"
    ),
)


def read_task_yaml(path: Path, fix: str) -> dict:
    """A task YAML's own fields (read_yaml with the TaskLoader): EvalpinError naming it when unreadable."""
    return read_yaml(path, fix, loader=TaskLoader)


@functools.lru_cache(maxsize=1024)
def parsed_task(text: str) -> object:
    """A task YAML's text parsed once (each of a group's leaves includes the same templates, for each key):
    callers only read it, or copy it."""
    return load_bounded(text, TaskLoader, "a task YAML")
