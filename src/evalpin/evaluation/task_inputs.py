"""`evalpin why TASK`: the inputs one task's result depends on, each with its digest, and whether its
stored result is reused (or why it runs): the key's files and parameters, and what the task read while
it ran last (task_reads.py)."""

from __future__ import annotations

from pathlib import Path

from evalpin.base.errors import EvalpinError
from evalpin.config.compose import load_typed_params
from evalpin.evaluation import plan as planning
from evalpin.evaluation import task_store
from evalpin.evaluation.task_key import digest
from evalpin.evaluation.task_reads import change_of

PARAMETERS = ("model", "inference", "backend", "limit", "chat_template", "runtime", "format")


def explain(root: Path, task: str) -> list[str]:
    """The lines `evalpin why TASK` prints, for the suite params.yaml composes."""
    params = load_typed_params(root)
    leaves = planning.leaves(root, params)
    if task not in leaves:
        raise EvalpinError(
            f"params.yaml: {task!r} is no leaf task of the suite (it has {', '.join(leaves)}); "
            "a group's row is aggregated from its leaves: ask for one of them."
        )
    plan = planning.build_plan(root, params, [task])
    key = plan.keys[task]
    lines = [f"{task}: {plan.status(task)}"]
    lines.append(f"key sha256 {digest(key)[:16]} (eval/results/{task}.json)")
    delivery = key["delivery"]
    lines.append(f"  {'delivery':<13} {delivery.get('name')} lock {str(delivery.get('lock_digest'))[:16]}")
    if base := delivery.get("base"):
        lines.append(f"  {'':<13} base {base['name']} lock {str(base['lock_digest'])[:16]}")
    lines += files("definition", key["definition"].get("files", {}))
    dataset = key["data"].get("dataset")
    if dataset:
        lines.append(f"  {'data':<13} {dataset}, config {key['data'].get('config')}")
    lines += files("" if dataset else "data", key["data"].get("files", {}))
    lines += [f"  {name:<13} {digest(key.get(name))[:16]}  {short(key.get(name))}" for name in PARAMETERS]
    lines += read_lines(root, plan.stored.get(task) or task_store.read(root, task)[0])
    return lines


def files(label: str, found: dict[str, str]) -> list[str]:
    rows = enumerate(found.items())
    return [f"  {label if i == 0 else '':<13} {sha[:16]}  {path}" for i, (path, sha) in rows]


def short(value: object, width: int = 60) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def read_lines(root: Path, stored: task_store.Stored | None) -> list[str]:
    """What the task read when its stored result was computed, and whether each still hashes the same."""
    if stored is None or stored.reads is None:
        return [f"  {'read':<13} (no stored result: recorded when the task runs)"]
    if not stored.reads:
        return [f"  {'read':<13} nothing outside the key's files, the runtime and the proven caches"]
    lines = []
    for i, (name, sha) in enumerate(stored.reads.items()):
        state = change_of(root, name, sha).upper() or "unchanged"
        lines.append(f"  {'read' if i == 0 else '':<13} {(sha or 'absent')[:16]}  {name} ({state})")
    return lines
