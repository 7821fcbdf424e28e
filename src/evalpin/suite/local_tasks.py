"""The suite's own tasks: the names the lm-eval YAMLs under its include_path (eval/tasks) declare, read
strictly. lm-eval's index skips a YAML it cannot read (not UTF-8, not YAML) and then fails on the missing
name with a KeyError; here such a file is one line naming it, before anything runs."""

from __future__ import annotations

from pathlib import Path

from evalpin.base.errors import EvalpinError


def declared_names(folder: Path, root: Path) -> set[str]:
    """Every task, group and tag name the YAMLs under `folder` declare (lm-eval indexes it recursively)."""
    return set(declared_kinds(folder, root))


def declared_kinds(folder: Path, root: Path) -> dict[str, str]:
    """Each name the YAMLs under `folder` declare -> "task", "group" or "tag"."""
    rel = folder.relative_to(root) if folder.is_relative_to(root) else folder
    if not folder.is_dir():
        raise EvalpinError(
            f"{rel}: suite.include_path is not a folder of task YAMLs. Point it at one (conf/suite/, "
            "`include_path: eval/tasks`), then `evalpin compose`."
        )
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.yaml")):
        fields = read_task_yaml(path, path.relative_to(root) if path.is_relative_to(root) else path)
        tags = fields.get("tag") or []
        for name in [*([tags] if isinstance(tags, str) else tags), fields.get("group")]:
            if isinstance(name, str):
                found.setdefault(name, "group" if name == fields.get("group") else "tag")
        if isinstance(fields.get("task"), str):
            found[fields["task"]] = "task"
    return found


def read_task_yaml(path: Path, rel: Path) -> dict:
    """A task YAML's own fields (`!function` values as strings); EvalpinError naming it when unreadable."""
    from evalpin.base.documents import read_yaml
    from evalpin.suite.catalog_tree import TagTolerantLoader

    return read_yaml(path, f"restore it (`git checkout {rel}`)", loader=TagTolerantLoader)
