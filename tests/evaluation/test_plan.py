"""The evaluation's plan (evaluation/plan.py): built once per run, every leaf keyed and looked up once,
the inputs verified once, and the merge written from the results in memory, reading none again."""

from __future__ import annotations

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.config.compose import load_typed_params
from evalpin.evaluation import evaluate_stage, task_key, task_store
from evalpin.evaluation import plan as planning
from support import evalpin_in_process
from support.outputs import forget_results, output_bytes

pytestmark = pytest.mark.slow
MISSING = ("demo_behaviour", "demo_chat_home")  # two of the demo's five leaf tasks run, three are reused


def counted(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    """`module.name` wrapped to count its calls; the count is the returned list's length."""
    calls: list[int] = []
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def refused(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> None:
    def fail(*args, **kwargs):
        raise AssertionError(f"{name} called again")

    monkeypatch.setattr(module, name, fail)


def test_a_local_evaluation_builds_its_plan_once(reproduced_repo, reproduced_repo_origin, monkeypatch):
    """`evalpin evaluate` with two tasks to run: one plan, one key and one lookup per leaf, one
    verification of the delivery; the outputs those of the uninterrupted run."""
    forget_results(reproduced_repo, *MISSING)
    builds = counted(monkeypatch, planning, "build_plan")
    keys = counted(monkeypatch, task_key, "task_key")
    lookups = counted(monkeypatch, task_store, "lookup")
    verified = counted(monkeypatch, evaluate_stage, "require_verified")  # its own binding
    proc = evalpin_in_process(reproduced_repo, "evaluate")
    assert "evaluate: 3 of 5 tasks reused, 2 to run" in proc.stdout
    assert (len(builds), len(keys), len(lookups), len(verified)) == (1, 5, 5, 1)
    assert output_bytes(reproduced_repo) == output_bytes(reproduced_repo_origin)


def test_the_merge_reads_no_stored_result_again(reproduced_repo, reproduced_repo_origin, monkeypatch):
    """run() keeps each result it stores in the plan, the plan holds the reused ones: the merge neither
    reads eval/results nor keys a task again, and writes what a merge from the files writes."""
    forget_results(reproduced_repo, *MISSING)
    plan = planning.build_plan(reproduced_repo, load_typed_params(reproduced_repo))
    assert plan.pending == list(MISSING) and set(plan.stored) == set(plan.leaves) - set(MISSING)
    evaluate_stage.run(plan, plan.pending)
    assert plan.pending == [] and set(plan.stored) == set(plan.leaves)  # kept as they were stored
    for module, name in ((task_store, "read"), (task_store, "lookup"), (task_key, "task_key")):
        refused(monkeypatch, module, name)
    monkeypatch.setattr(planning, "build_plan", None)
    metrics = evaluate_stage.merge(plan)
    assert set(metrics["tasks"]) == set(plan.leaves)
    assert output_bytes(reproduced_repo) == output_bytes(reproduced_repo_origin)


def test_a_shard_plans_only_its_tasks_and_refuses_a_task_not_in_the_suite(reproduced_repo):
    """What a Slurm job builds for its shard: its tasks, in the shard's order, keyed and looked up."""
    params = load_typed_params(reproduced_repo)
    shard = ["demo_chat_home", "demo_color_mc"]
    plan = planning.build_plan(reproduced_repo, params, shard)
    assert list(plan.leaves) == list(plan.keys) == shard and plan.pending == [] and plan.data == {}
    with pytest.raises(EvalpinError, match=r"\['nonesuch'\] are not leaf tasks of the suite"):
        planning.build_plan(reproduced_repo, params, ["nonesuch"])
