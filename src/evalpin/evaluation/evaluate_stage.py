"""The task is the unit of evaluation: each leaf task (a local task, a catalog task, a catalog group's
leaf) is evaluated on its own requests, its result stored under a key of everything it depends on
(task_key.py) in eval/results (task_store.py), and the suite's outputs are merged from the stored results,
groups aggregated from their leaves' results as lm-eval aggregates them.

    build_plan(root, params) -> Plan       (plan.py) once per run: the leaf tasks, the locks, each task's
                                           key, its stored result or why it must run
    verify_inputs(plan)                    the delivery and the datasets the planned tasks read match their
                                           locks (fail closed), once per plan
    run(plan, names)                       load the model once, evaluate each task, store each result as it
                                           finishes and keep it in the plan
    merge(plan) -> dict                    write eval/metrics.json, scores, samples, fingerprint from the
                                           plan's stored results: byte-identical whatever ran where, and when
    evaluate(root, params) -> dict         build_plan -> say what is reused -> verify -> run the pending
                                           tasks (here, or in Slurm jobs: run_tasks) -> merge

A kill at any moment loses at most the task that was running: the rerun evaluates only what is missing.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from evalpin.base import numerics
from evalpin.base.errors import EvalpinError
from evalpin.base.outs import RESULTS_DIR
from evalpin.base.progress import Progress
from evalpin.config.params import Params
from evalpin.config.params_check import check_settings
from evalpin.delivery.verify import check_conf_matches_lock, require_verified, require_verified_dataset
from evalpin.evaluation import fingerprint, launcher, task_reads, task_store
from evalpin.evaluation import plan as planning
from evalpin.evaluation.harness import (
    check_base,
    check_gguf,
    check_gguf_server_tasks,
    first_leaf_filter,
    load_model,
    run_lm_eval,
    sample_records,
    set_wait_policy,
    suite_tasks,
    summarize_results,
    task_manager,
)
from evalpin.evaluation.output_set import write_set
from evalpin.evaluation.plan import Plan
from evalpin.evaluation.task_key import Leaf
from evalpin.serving.check_server import check_before_evaluation
from evalpin.suite import catalog, data_cache


def verify_inputs(plan: Plan) -> None:
    """Fail closed before anything loads: the delivery (and its base) match their locks, conf/model agrees
    with the lock, and each dataset the planned tasks read matches its lock."""

    model = plan.params.model
    lock = require_verified(plan.root, model.name)
    # `dvc exp run -S` skips compose --check
    check_conf_matches_lock(lock, model.raw, "params.yaml (section model)")
    check_base(lock, model)
    check_gguf(lock, model)
    for name in plan.datasets():
        require_verified_dataset(plan.root, name)
    plan.verified = True


def run(plan: Plan, names: list[str]) -> None:
    """Evaluate `names` (leaf tasks of the plan), one lm-eval run each on one loaded model; each result is
    stored the moment its task finishes, and kept in the plan. A server backend must serve the pin."""
    if unknown := [n for n in names if n not in plan.leaves]:
        raise EvalpinError(
            f"params.yaml: {unknown} are not leaf tasks of the suite (it has {list(plan.leaves)})."
        )
    if not names:
        return
    model, inference, backend = plan.params.model, plan.params.inference, plan.params.backend
    numerics.apply(inference.raw)  # a Slurm job's own process: before torch loads
    import torch  # heavy: imported only when evaluating

    if not plan.verified:
        verify_inputs(plan)
    server_check = check_before_evaluation(plan.root, model.name, backend.raw)
    if backend.name == "gguf":
        runs = [([n for n in names if plan.leaves[n].chat == chat], chat) for chat in (False, True)]
        check_gguf_server_tasks(plan.root, plan.params.suite.raw, runs)
    torch.set_num_threads(inference.torch_threads)
    lm = load_model(plan.root, model, inference, backend)
    computed_by = (
        numerics.describe(inference.raw) if backend.name == "hf" else numerics.server_record(backend.raw)
    )
    cpu = numerics.machine()
    print(f"evaluate: numerics class {computed_by['class']} on {cpu.get('model', cpu['arch'])}", flush=True)
    evaluate_each(plan, names, lm, server_check, computed_by)


def evaluate_each(plan: Plan, names: list[str], lm, server_check: dict | None, computed_by: dict) -> None:
    progress = Progress(len(names))
    caches = {data: plan.caches[data] for data in plan.datasets(names)}
    managers: dict[tuple[str, ...], object] = {}  # one TaskManager per catalog folder (57 mmlu leaves: one)
    with without_env_info(), templates_compiled_once(), data_cache.proven(caches):  # proven before use
        for name in names:
            leaf = plan.leaves[name]
            progress.start(name)
            started = time.monotonic()
            folders = (leaf.spec.folder,) if leaf.spec else ()
            if folders not in managers:
                managers[folders] = task_manager(plan.root, plan.params.suite, folders)
            with task_reads.recording(plan.root) as reads:  # built and evaluated: what it opens keys it
                stored = evaluate_one(lm, plan.params, leaf, plan.keys[name], server_check, managers[folders])
            reads = task_reads.beyond_key(plan.keys[name], reads)
            plan.keep(task_store.write(plan.root, replace(stored, numerics=computed_by, reads=reads)))
            progress.finish(name, time.monotonic() - started)


@contextmanager
def without_env_info() -> Iterator[None]:
    """simple_evaluate ends with lm-eval's add_env_info: torch's collect_env, which runs subprocesses
    (`pip list` among them): measured 5.8 s here under load, paid once per call, so once per task. Nothing
    evalpin writes reads it (the fingerprint's runtime comes from package metadata), so it is skipped."""
    import lm_eval.evaluator as evaluator

    original = evaluator.add_env_info
    evaluator.add_env_info = lambda results: None
    try:
        yield
    finally:
        evaluator.add_env_info = original


@contextmanager
def templates_compiled_once() -> Iterator[None]:
    """lm-eval renders every doc_to_text, doc_to_target and doc_to_choice through jinja's
    `env.from_string`, which compiles the template again on each call: per document, and again when the
    samples are described (readable.py). A compiled template renders the same text, so each one is
    compiled once per run."""
    from lm_eval import utils

    original = utils.env.from_string
    utils.env.from_string = functools.lru_cache(maxsize=4096)(original)
    try:
        yield
    finally:
        utils.env.from_string = original


def evaluate_one(
    lm, params: Params, leaf: Leaf, key: dict, server_check: dict | None, manager
) -> task_store.Stored:
    """One task on its own requests: a local task by name, a catalog leaf in its wrapper group."""
    tasks = [leaf.spec.wrapped] if leaf.spec else [leaf.name]
    results = run_lm_eval(lm, params.inference, params.suite, tasks, leaf.chat, manager)
    records = sample_records(results, leaf.name)
    return task_store.Stored(
        leaf.name, key, task_store.result_slice(results, leaf.name), records, server_check
    )


def results_of(stored: dict[str, task_store.Stored], groups: dict[str, catalog.Group]) -> dict:
    """simple_evaluate's return value, as far as the outputs read it, rebuilt from stored results, with
    each group's aggregate computed from its leaves."""
    results: dict = {"results": {}, "configs": {}, "versions": {}, "n-shot": {}, "n-samples": {}}
    for name, item in stored.items():
        results["results"][name] = item.result["results"]
        results["configs"][name] = item.result["config"]
        results["versions"][name] = item.result["version"]
        results["n-shot"][name] = item.result["n-shot"]
        results["n-samples"][name] = item.result["n-samples"]
    for name, group in groups.items():  # members before the groups that hold them
        results["results"][name] = aggregate(results, group, groups)
        results["versions"][name] = group.version
    return results


def leaves_of(name: str, groups: dict[str, catalog.Group]) -> list[str]:
    if name not in groups:
        return [name]
    return [leaf for member in groups[name].members for leaf in leaves_of(member, groups)]


def aggregate(results: dict, group: catalog.Group, groups: dict[str, catalog.Group]) -> dict:
    """A group's score over its leaf tasks, with lm-eval's own helpers (lm_eval.api.group.Group.aggregate
    weighs each leaf by its sample_len; stderr pooled, or unweighted when not weighted by size)."""
    from lm_eval.api.metrics import aggregate_subtask_metrics, pooled_sample_stderr, unweighted_mean_stderr

    kept = group.filter or first_leaf_filter(results, group.members, groups)
    metric, stderr = f"{group.metric},{kept}", f"{group.metric}_stderr,{kept}"
    rows = [results["results"][leaf] for leaf in leaves_of_members(group, groups)]
    values, sizes = [r[metric] for r in rows], [r.get("sample_len", 0) for r in rows]
    stderrs = [r.get(stderr) for r in rows]
    found = {metric: aggregate_subtask_metrics(values, sizes, group.weight_by_size), "sample_len": sum(sizes)}
    if any(s is None or s == "N/A" for s in stderrs):
        found[stderr] = "N/A"
    elif group.weight_by_size:
        found[stderr] = float(pooled_sample_stderr(stderrs, sizes))
    else:
        found[stderr] = float(unweighted_mean_stderr(stderrs))
    return found


def leaves_of_members(group: catalog.Group, groups: dict[str, catalog.Group]) -> list[str]:
    return [leaf for member in group.members for leaf in leaves_of(member, groups)]


def merge(plan: Plan) -> dict:
    """Write the suite's outputs from the plan's stored results (in memory: looked up when it was built,
    or kept as they were stored); every leaf must have one under its key (fail closed, naming the tasks
    and why)."""
    if missing := {name: why for name, why in plan.why.items() if why}:
        raise EvalpinError(
            f"{RESULTS_DIR}/: no result stored for the current inputs of "
            + "; ".join(f"{t} ({why})" for t, why in missing.items())
            + ". Evaluate them: `evalpin evaluate` (or `dvc repro`)."
        )
    suite = plan.params.suite
    found = {name: plan.stored[name] for name in plan.leaves}  # in the order reported
    groups = catalog.groups(suite.raw)
    results = results_of(found, groups)
    tasks = [*suite_tasks(suite), *suite.chat_tasks]
    metrics = summarize_results(results, tasks, groups)
    records = {task: found[task].records for task in tasks}
    built = fingerprint.build(plan, found, results, records, groups)
    scores = [{"task": t, "score": row["score"]} for t, row in metrics["tasks"].items()]
    for name, text in plan.recalled.items():  # results of inputs evaluated before, kept by key
        task_store.recall(plan.root, name, text)
    write_set(plan.root, records, built, scores, metrics)  # one set, or a mark the rerun removes
    task_store.prune(plan.root, list(plan.leaves))
    return metrics


def run_pending(plan: Plan, names: list[str]) -> None:
    """Where the pending tasks run, as conf/launcher/ says (launcher.py): in this process on this plan, or
    in shards of a Slurm job array, each job building its own plan for its shard (run_tasks: it verifies
    its inputs on its node); their stored results are then read into this plan, once each."""
    cfg = plan.params.launcher.raw
    if launcher.name_of(cfg) == "local":
        launcher.run(plan.root, cfg, launcher.shards(cfg, names), functools.partial(run, plan))
        return
    launcher.run(
        plan.root, cfg, launcher.shards(cfg, names), functools.partial(run_tasks, plan.root, plan.params)
    )
    plan.look_up(names)


def run_tasks(root: Path, params: Params, names: list[str]) -> None:
    """A Slurm job's worker (picklable): the plan of its shard, built once on its node, then run."""
    run(planning.build_plan(root, params, names), names)


def say_status(plan: Plan) -> None:
    for name in plan.why:
        print(f"evaluate: {name}: {plan.status(name)}")
    todo = plan.pending
    print(
        f"evaluate: {len(plan.why) - len(todo)} of {len(plan.why)} tasks reused, {len(todo)} to run",
        file=sys.stdout,
        flush=True,
    )


def evaluate(root: Path, params: Params) -> dict:
    """Plan once, say what is reused and why each other task runs, verify, evaluate only those, merge."""
    set_wait_policy(root)
    check_settings(root, params.raw)  # fail closed even when called outside the pipeline (verify checks too)
    numerics.apply(params.inference.raw)  # before anything imports torch
    plan = planning.build_plan(root, params)
    say_status(plan)
    # the delivery and every dataset the suite reads, whatever runs: the merge reports them all (fail closed)
    verify_inputs(plan)
    if pending := plan.pending:
        run_pending(plan, pending)
    return merge(plan)
