"""The task is the unit of evaluation: each leaf task (a local task, a catalog task, a catalog group's
leaf) is evaluated on its own requests, its result stored under a key of everything it depends on
(task_key.py) in eval/results (task_store.py), and the suite's outputs are merged from the stored results,
groups aggregated from their leaves' results as lm-eval aggregates them.

    pending(root, params) -> list[str]          the leaf tasks without a valid stored result for their key
    run_tasks(root, params, names) -> None      verify the delivery and the datasets these tasks read (fail
                                                closed), load the model once, evaluate each task, store each
                                                result as it finishes
    merge(root, params) -> dict                 write eval/metrics.json, scores, samples, fingerprint from
                                                the store: byte-identical whatever ran where, and when
    evaluate(root, params) -> dict              pending -> run the pending tasks -> merge

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

from evalpin.base import numerics, project
from evalpin.base.errors import EvalpinError
from evalpin.base.outs import RESULTS_DIR
from evalpin.base.progress import Progress
from evalpin.config.params import section
from evalpin.config.params_check import check_settings
from evalpin.delivery.lock import Lock, load_lock
from evalpin.evaluation import task_key, task_store
from evalpin.evaluation.backends import base_of
from evalpin.evaluation.harness import (
    build_fingerprint,
    check_base,
    check_gguf,
    check_gguf_server_tasks,
    group_fingerprints,
    load_model,
    run_lm_eval,
    sample_records,
    set_wait_policy,
    suite_tasks,
    summarize_results,
    task_manager,
)
from evalpin.evaluation.output_set import write_set
from evalpin.evaluation.task_key import Leaf
from evalpin.serving.check_server import check_before_evaluation
from evalpin.suite import catalog, data_cache


def leaves(root: Path, params: dict) -> dict[str, Leaf]:
    """Every task evaluated on its own, in the order reported: local tasks, catalog leaves, chat tasks."""
    suite, chat = section(params, "suite"), bool(section(params, "inference")["apply_chat_template"])
    found = {t: Leaf(t, chat) for t in suite.get("tasks") or []}
    found.update({t: Leaf(t, chat, spec) for t, spec in catalog.leaf_specs(root, suite).items()})
    found.update({t: Leaf(t, True) for t in suite.get("chat_tasks") or []})
    return found


def delivery_locks(root: Path, model: dict) -> tuple[Lock, Lock | None]:
    """The evaluated delivery's lock and, for an adapter, its base's (as recorded: run_tasks verifies)."""
    lock = load_lock(project.lock_path(root, model["name"]))
    base = base_of(model)
    return lock, (load_lock(project.lock_path(root, base)) if base != model["name"] else None)


def data_locks(root: Path, plan: dict[str, Leaf]) -> dict[str, Lock]:
    from evalpin.delivery.verify import load_data_lock

    names = sorted({leaf.spec.data for leaf in plan.values() if leaf.spec})
    return {name: load_data_lock(root, name) for name in names}


def keys(root: Path, params: dict, plan: dict[str, Leaf]) -> dict[str, dict]:
    lock, base = delivery_locks(root, section(params, "model"))
    delivered, data = task_key.delivery(lock, base), data_locks(root, plan)
    return {
        name: task_key.task_key(root, params, leaf, delivered, data[leaf.spec.data] if leaf.spec else None)
        for name, leaf in plan.items()
    }


def status(root: Path, params: dict) -> dict[str, str]:
    """Each leaf task -> why it must be evaluated ("" when its stored result is reused)."""
    plan = leaves(root, params)
    return {name: task_store.lookup(root, name, key)[1] for name, key in keys(root, params, plan).items()}


def pending(root: Path, params: dict) -> list[str]:
    return [name for name, why in status(root, params).items() if why]


def verify_inputs(root: Path, params: dict, plan: dict[str, Leaf], server: bool = True) -> dict | None:
    """Fail closed before anything loads: the delivery (and its base) match their locks, conf/model agrees
    with the lock, each dataset these tasks read matches its lock, and (`server`) a server backend serves
    the pin: what the fingerprint records of that check."""
    from evalpin.delivery.verify import check_identity, require_verified, require_verified_dataset

    model, backend = section(params, "model"), section(params, "backend")
    lock = require_verified(root, model["name"])
    check_identity(lock, model, "params.yaml (section model)")  # `dvc exp run -S` skips compose --check
    check_base(lock, model)
    check_gguf(lock, model)
    for name in sorted({leaf.spec.data for leaf in plan.values() if leaf.spec}):
        require_verified_dataset(root, name)
    return check_before_evaluation(root, model["name"], backend) if server else None


def run_tasks(root: Path, params: dict, names: list[str]) -> None:
    """Evaluate `names` (leaf tasks of the suite), one lm-eval run each on one loaded model; each result
    is stored the moment its task finishes."""
    everything = leaves(root, params)
    if unknown := [n for n in names if n not in everything]:
        raise EvalpinError(
            f"params.yaml: {unknown} are not leaf tasks of the suite (it has {list(everything)})."
        )
    plan = {n: everything[n] for n in names}
    if not plan:
        return
    model, inference, suite, backend = (
        section(params, k) for k in ("model", "inference", "suite", "backend")
    )
    numerics.apply(inference)  # a Slurm job's own process: before torch loads
    import torch  # heavy: imported only when evaluating

    server_check = verify_inputs(root, params, plan)
    if backend.get("name") == "gguf":
        runs = [([n for n, leaf in plan.items() if leaf.chat == chat], chat) for chat in (False, True)]
        check_gguf_server_tasks(root, suite, runs)
    task_keys = keys(root, params, plan)
    torch.set_num_threads(int(inference["torch_threads"]))
    lm = load_model(root, model, inference, backend)
    computed_by = numerics.describe(inference) if backend["name"] == "hf" else numerics.server_record(backend)
    cpu = numerics.machine()
    print(f"evaluate: numerics class {computed_by['class']} on {cpu.get('model', cpu['arch'])}", flush=True)
    progress = Progress(len(plan))
    read = sorted({leaf.spec.data for leaf in plan.values() if leaf.spec})
    caches = {data: Path(catalog.cache_dir(root, data)) for data in read}
    managers: dict[tuple[str, ...], object] = {}  # one TaskManager per catalog folder (57 mmlu leaves: one)
    with without_env_info(), templates_compiled_once(), data_cache.proven(caches):  # proven before use
        for name, leaf in plan.items():
            progress.start(name)
            started = time.monotonic()
            folders = (leaf.spec.folder,) if leaf.spec else ()
            if folders not in managers:
                managers[folders] = task_manager(root, suite, folders)
            stored = evaluate_one(lm, params, leaf, task_keys[name], server_check, managers[folders])
            task_store.write(root, replace(stored, numerics=computed_by))
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
    lm, params: dict, leaf: Leaf, key: dict, server_check: dict | None, manager
) -> task_store.Stored:
    """One task on its own requests: a local task by name, a catalog leaf in its wrapper group."""
    tasks = [leaf.spec.wrapped] if leaf.spec else [leaf.name]
    inference, suite = section(params, "inference"), section(params, "suite")
    results = run_lm_eval(lm, inference, suite, tasks, leaf.chat, manager)
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

    from evalpin.evaluation.harness import first_leaf_filter

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


def merge(root: Path, params: dict) -> dict:
    """Write the suite's outputs from the stored results of its leaf tasks; every one must be stored
    under its current key (fail closed, naming the tasks and why)."""
    model, inference, suite, backend = (
        section(params, k) for k in ("model", "inference", "suite", "backend")
    )
    plan = leaves(root, params)
    found, missing = {}, {}
    for name, key in keys(root, params, plan).items():
        found[name], why = task_store.lookup(root, name, key)
        if why:
            missing[name] = why
    if missing:
        raise EvalpinError(
            f"{RESULTS_DIR}/: no result stored for the current inputs of "
            + "; ".join(f"{t} ({why})" for t, why in missing.items())
            + ". Evaluate them: `evalpin evaluate` (or `dvc repro`)."
        )
    groups = catalog.groups(suite)
    results = results_of(found, groups)
    tasks = [*suite_tasks(suite), *(suite.get("chat_tasks") or [])]
    metrics = summarize_results(results, tasks, groups)
    records = {task: found[task].records for task in tasks}
    lock, _ = delivery_locks(root, model)
    data = data_by_task(root, plan)
    fingerprint = build_fingerprint(root, lock, results, records, suite, inference, backend, data)
    for name, leaf in plan.items():
        if leaf.spec:
            fingerprint["suite"]["tasks"][name]["data"]["files_sha256"] = task_key.files_digest(
                found[name].key
            )
    fingerprint["suite"]["tasks"].update(group_fingerprints(results, fingerprint, groups))
    if server_check := next((s.server_check for s in found.values() if s.server_check), None):
        fingerprint["server_check"] = server_check
    fingerprint["numerics"] = numerics.summary({name: found[name].numerics for name in plan})
    scores = [{"task": t, "score": row["score"]} for t, row in metrics["tasks"].items()]
    write_set(root, records, fingerprint, scores, metrics)  # one set, or a mark the rerun removes
    task_store.prune(root, list(plan))
    return metrics


def data_by_task(root: Path, plan: dict[str, Leaf]) -> dict[str, Lock]:
    locks = data_locks(root, plan)
    return {name: locks[leaf.spec.data] for name, leaf in plan.items() if leaf.spec}


def run_pending(root: Path, params: dict, names: list[str]) -> None:
    """Where the pending tasks run, as conf/launcher/ says (launcher.py): in this process, or in shards
    of a Slurm job array, each job running run_tasks (which verifies its inputs on its node)."""
    from evalpin.evaluation import launcher

    cfg = section(params, "launcher")
    launcher.run(root, cfg, launcher.shards(cfg, names), functools.partial(run_tasks, root, params))


def evaluate(root: Path, params: dict) -> dict:
    """Verify, say what is reused and why each other task runs, evaluate only those, merge."""
    set_wait_policy(root)
    check_settings(root, params)  # fail closed even when called outside the pipeline (verify checks it too)
    numerics.apply(section(params, "inference"))  # before anything imports torch
    why = status(root, params)
    todo = [name for name, reason in why.items() if reason]
    for name, reason in why.items():
        print(f"evaluate: {name}: " + (f"runs ({reason})" if reason else "reused (every input unchanged)"))
    print(
        f"evaluate: {len(why) - len(todo)} of {len(why)} tasks reused, {len(todo)} to run",
        file=sys.stdout,
        flush=True,
    )
    # the delivery and every dataset the suite reads, whatever runs: the merge reports them all (fail closed)
    verify_inputs(root, params, leaves(root, params), server=False)
    if todo:
        run_pending(root, params, todo)  # each run verifies its own inputs again, on its node
    return merge(root, params)
