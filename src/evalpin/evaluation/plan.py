"""One evaluation's plan, built once per run (`build_plan`; a Slurm job builds its own, once, for its
shard): the suite's leaf tasks, the delivery's and the datasets' locks, each leaf's key (task_key.py),
each leaf's stored result for that key or why it must run (one lookup each, task_store.py), and the data
caches its catalog tasks read. Running a task stores its result and keeps it in the plan
(`Plan.keep`), so the merge reads nothing again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evalpin.base import project
from evalpin.base.errors import EvalpinError
from evalpin.config.params import Model, Params
from evalpin.delivery.lock import Lock, load_lock
from evalpin.delivery.verify import load_data_lock
from evalpin.evaluation import task_key, task_store
from evalpin.evaluation.backends import base_of
from evalpin.evaluation.task_key import Leaf
from evalpin.evaluation.task_store import Stored
from evalpin.suite import catalog


@dataclass
class Plan:
    """What one evaluation (or one Slurm job's shard of it) evaluates, and what is known of each task."""

    root: Path
    params: Params
    leaves: dict[str, Leaf]  # the planned leaf tasks, in the order they are reported and evaluated
    lock: Lock  # the evaluated delivery's
    base: Lock | None  # an adapter's base (None for a full model)
    data: dict[str, Lock]  # pinned dataset -> its lock, for the datasets the planned tasks read
    keys: dict[str, dict]  # leaf -> its key: everything its result depends on
    stored: dict[str, Stored]  # leaf -> its result stored under its key (reused, or just evaluated)
    why: dict[str, str]  # leaf -> why it must be evaluated ("" once a result is stored for its key)
    caches: dict[str, Path]  # pinned dataset -> the datasets library's cache of it, proven before use
    verified: bool = False  # its delivery and datasets checked against their locks (evaluate.verify_inputs)
    recalled: dict[str, str] = field(default_factory=dict)  # leaf -> the text of a result recalled by key

    @property
    def pending(self) -> list[str]:
        return [name for name, why in self.why.items() if why]

    def status(self, name: str) -> str:
        """What a run does with a task, in words: why it runs, or where its result is reused from."""
        if why := self.why[name]:
            return f"runs ({why})"
        if name in self.recalled:
            return "reused (evaluated before with these inputs: .evalpin/results)"
        return "reused (every input unchanged)"

    def data_of(self, name: str) -> Lock | None:
        """The lock of the pinned dataset a catalog task reads (None for a local task)."""
        spec = self.leaves[name].spec
        return self.data[spec.data] if spec else None

    def datasets(self, names: list[str] | None = None) -> list[str]:
        """The pinned datasets the tasks `names` (default: every planned task) read, sorted."""
        planned = [self.leaves[n] for n in (self.leaves if names is None else names)]
        return sorted({leaf.spec.data for leaf in planned if leaf.spec})

    def keep(self, stored: Stored) -> None:
        """A result just stored for its task's key: what the merge writes the outputs from."""
        self.stored[stored.task] = stored
        self.why[stored.task] = ""

    def look_up(self, names: list[str]) -> None:
        """Read the stored results of `names` (evaluated elsewhere: Slurm jobs) under their planned keys."""
        for name in names:
            found, self.why[name], recalled = task_store.lookup(self.root, name, self.keys[name])
            if found is not None:
                self.stored[name] = found
            if recalled is not None:
                self.recalled[name] = recalled


def build_plan(root: Path, params: Params, names: list[str] | None = None) -> Plan:
    """The plan of every leaf task of the suite, or of `names` only (a Slurm job's shard, in its order)."""
    found = leaves(root, params)
    if names is not None:
        if unknown := [n for n in names if n not in found]:
            raise EvalpinError(
                f"params.yaml: {unknown} are not leaf tasks of the suite (it has {list(found)})."
            )
        found = {n: found[n] for n in names}
    lock, base = delivery_locks(root, params.model)
    data = data_locks(root, found)
    delivered = task_key.delivery(lock, base)
    keys = {
        name: task_key.task_key(root, params, leaf, delivered, data[leaf.spec.data] if leaf.spec else None)
        for name, leaf in found.items()
    }
    caches = {name: Path(catalog.cache_dir(root, name)) for name in data}
    plan = Plan(root, params, found, lock, base, data, keys, {}, {}, caches)
    plan.look_up(list(found))
    return plan


def leaves(root: Path, params: Params) -> dict[str, Leaf]:
    """Every task evaluated on its own, in the order reported: local tasks, catalog leaves, chat tasks."""
    suite, chat = params.suite, params.inference.apply_chat_template
    found = {t: Leaf(t, chat) for t in suite.tasks}
    found.update({t: Leaf(t, chat, spec) for t, spec in catalog.leaf_specs(root, suite.raw).items()})
    found.update({t: Leaf(t, True) for t in suite.chat_tasks})
    return found


def delivery_locks(root: Path, model: Model) -> tuple[Lock, Lock | None]:
    """The evaluated delivery's lock and, for an adapter, its base's (as recorded: the run verifies)."""
    lock = load_lock(project.lock_path(root, model.name))
    base = base_of(model)
    return lock, (load_lock(project.lock_path(root, base)) if base != model.name else None)


def data_locks(root: Path, planned: dict[str, Leaf]) -> dict[str, Lock]:

    names = sorted({leaf.spec.data for leaf in planned.values() if leaf.spec})
    return {name: load_data_lock(root, name) for name in names}
