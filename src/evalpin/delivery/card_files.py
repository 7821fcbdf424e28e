"""A pinned dataset's README card: the `configs:` of its YAML header (config -> split -> data_files
patterns, and a config's data_dir), which is what the datasets library loads, and the proof that every
file it would read is a locked file of the snapshot.

The datasets library resolves a config's data_files (and data_dir) against the snapshot folder, but it
takes an absolute path, a `../` or a URL just as well: a card could make an evaluation read files no lock
covers while every locked file verifies. So each pattern must stay inside the snapshot and everything it
matches there must be in the lock; checked at pin-data, verify-data, verify and evaluate.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from evalpin.base import project
from evalpin.base.errors import EvalpinError
from evalpin.delivery.card import CARD, REPIN, config_name, front_matter, splits_of
from evalpin.delivery.inventory import list_delivery

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//|:)|::")  # hf://, https://, zip::..., C:/ is caught below


@dataclass(frozen=True)
class Card:
    """A pinned dataset's README `configs:` (config -> split -> data_files patterns, card.splits_of: none
    for a config that lists no data_files) and its files."""

    path: Path
    configs: dict[str, dict[str, list[str]]]
    pinned: tuple[str, ...]
    data_dirs: dict[str, str] | None = None  # config -> its data_dir, where one is set

    @classmethod
    def read(cls, root: Path, data: str) -> Card:
        return cls.of(project.data_dir(root, data))

    @classmethod
    def of(cls, directory: Path, shown: Path | None = None) -> Card:
        """The card of the snapshot in `directory` (no README: no configs), named `shown` in messages (a
        staged copy by where it will be installed)."""
        header = front_matter(directory / CARD)
        path = shown or directory / CARD
        configs, data_dirs = {}, {}
        listed = header.get("configs") or []
        if not isinstance(listed, list) or not all(isinstance(c, dict) for c in listed):
            raise EvalpinError(f"{path}: field 'configs' is {listed!r}; expected a list of mappings{REPIN}")
        for config in listed:
            name = config_name(config)
            configs[name] = splits_of(path, name, config.get("data_files"))
            if config.get("data_dir") is not None:
                data_dirs[name] = str(config["data_dir"])
        pinned = tuple(list_delivery(directory)) if directory.is_dir() else ()
        return cls(path, configs, pinned, data_dirs)

    def missing(self, config: str) -> list[str]:
        """The config's splits that no pinned file matches."""
        return [s for s, patterns in self.configs[config].items() if not pinned_any(self.pinned, patterns)]

    def check(self, task: str, fields: dict) -> None:
        """The card declares the config and the split the task reads, and every split of that config has
        a pinned file (the datasets library loads a config whole)."""
        config = fields.get("dataset_name") or "default"
        split = fields.get("test_split") or fields.get("validation_split")
        fix = (
            f"re-pin it with `evalpin pin-data` including that {{}} (--include), or bind {task!r} elsewhere."
        )
        if config not in self.configs:
            raise EvalpinError(
                f"{self.path}: field 'configs' has no config_name {config!r} (has {sorted(self.configs)}), "
                f"which catalog task {task!r} reads (dataset_name); " + fix.format("config")
            )
        missing = self.missing(config)
        if split in missing:
            raise EvalpinError(
                f"{self.path}: config {config!r} has no pinned file for split {split!r} (splits "
                f"{sorted(self.configs[config])}), which catalog task {task!r} evaluates on; "
                + fix.format("split")
            )
        if missing:
            raise EvalpinError(
                f"{self.path}: config {config!r} lists split(s) {missing} with no pinned file; the datasets "
                f"library loads every split of a config, so catalog task {task!r} cannot load it. Re-pin "
                "with `evalpin pin-data` including those splits too: "
                + " ".join(f"--include '{p}'" for s in missing for p in self.configs[config][s])
            )

    def check_read_path(self, snapshot: Path, locked: set[str] | frozenset[str]) -> None:
        """Every file the datasets library could read in `snapshot` for any config is a file of `locked`
        (the lock's paths): EvalpinError naming README.md, the config, the field and the pattern."""
        for config, splits in self.configs.items():
            where = f"{self.path}: config {config!r} field"
            read_path(where, (self.data_dirs or {}).get(config), splits, snapshot, locked, FIX)


def check_task_kwargs(
    task_file: str, task: str, kwargs: dict, snapshot: Path, locked: frozenset[str]
) -> None:
    """A catalog task's own dataset_kwargs (data_files, data_dir) are read under its pinned snapshot too:
    the same rule as a card's."""
    where = f"{task_file}: catalog task {task!r} field dataset_kwargs."
    files = splits_of(Path(task_file), task, kwargs.get("data_files"))
    base = kwargs.get("data_dir")
    fix = (
        " A catalog task may read only locked files of the dataset it is bound to: evaluate it as a task of "
        "your own in eval/tasks, on data pinned with `evalpin pin-data`."
    )
    read_path(where.rstrip("."), None if base is None else str(base), files, snapshot, locked, fix, ".")


def read_path(
    where: str,
    base: str | None,
    splits: dict[str, list[str]],
    snapshot: Path,
    locked: set[str] | frozenset[str],
    fix: str,
    dot: str = " ",
) -> None:
    """The data_dir `base` and every split's patterns (below `base`) stay inside `snapshot` and match
    only `locked` files there."""
    if base is not None:
        check_pattern(f"{where}{dot}data_dir", base, locked, snapshot, fix, whole=True)
    for split, patterns in splits.items():
        for pattern in patterns:
            joined = pattern if base is None else f"{base.rstrip('/')}/{pattern}"
            check_pattern(f"{where}{dot}data_files (split {split!r})", joined, locked, snapshot, fix)


def check_pattern(
    where: str, pattern: str, locked: set[str] | frozenset[str], snapshot: Path, fix: str, whole: bool = False
) -> None:
    """One pattern (a data_dir with `whole`: every file below it): inside the snapshot, and matching only
    locked files there."""
    if escapes(pattern):
        raise EvalpinError(
            f"{where} lists {pattern!r}, outside the snapshot: the datasets library would read it and no "
            f"lock covers it.{fix}"
        )
    matched = matches(snapshot, f"{pattern.rstrip('/')}/**" if whole else pattern)
    if stray := sorted(matched - set(locked)):
        more = f" (and {len(stray) - 1} more)" if len(stray) > 1 else ""
        raise EvalpinError(
            f"{where} lists {pattern!r}, which matches {stray[0]!r} in {snapshot}, a file its lock does not "
            f"hold{more}.{fix}"
        )


FIX = (
    " Only locked files of the snapshot may be read: fix the card at its source (relative paths inside the "
    "dataset, no '..', no absolute path or URL), then pin it again with `evalpin pin-data`."
)


def escapes(pattern: str) -> bool:
    """Whether a data_files pattern can name a file outside the snapshot folder: absolute (POSIX, Windows
    drive or UNC), a URL or fsspec chain, a home directory, or a '..' segment."""
    posix = pattern.replace("\\", "/")
    return (
        posix.startswith(("/", "~"))
        or bool(re.match(r"^[A-Za-z]:", posix))
        or bool(URL.search(posix))
        or ".." in PurePosixPath(posix).parts
    )


def matches(snapshot: Path, pattern: str) -> set[str]:
    """The files (POSIX, relative to `snapshot`) a pattern matches there, hidden ones included, as the
    datasets library's glob would find them; what resolves outside the snapshot is kept by its real path."""
    base = os.path.realpath(snapshot)
    found = set()
    for hit in glob.glob(
        os.path.join(glob.escape(str(snapshot)), pattern), recursive=True, include_hidden=True
    ):
        if os.path.isdir(hit):
            continue
        real = os.path.realpath(hit)
        inside = real.startswith(base + os.sep)
        found.add(Path(os.path.relpath(real, base)).as_posix() if inside else real)
    return found


def pinned_any(pinned: tuple[str, ...] | list[str], patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(p, pattern) for p in pinned for pattern in patterns)
