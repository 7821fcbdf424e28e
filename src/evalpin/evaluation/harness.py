"""lm-eval on the verified delivery: the model loaded as the backend says, one task run, its scores and
its sample records (stable, untimestamped: base/outs.py says what eval/ holds; fingerprint.py builds
eval/fingerprint.json)."""

from __future__ import annotations

import os
from pathlib import Path

from evalpin.base import numerics
from evalpin.base.errors import EvalpinError
from evalpin.base.time_limit import time_limit
from evalpin.config.params import Backend, Inference, Model, Suite
from evalpin.delivery.adapter import base_name
from evalpin.delivery.gguf_file import evaluated_file
from evalpin.delivery.golden import RENDER_LIMIT_S
from evalpin.delivery.lock import Lock
from evalpin.evaluation import readable
from evalpin.evaluation.backends import GGUF_SERVER_OUTPUT_TYPES, base_of, lm_eval_model
from evalpin.suite import catalog, local_tasks

LOGLIK_DECIMALS = 6  # per-sample loglikelihoods are rounded: below this, CPU kernels may differ
CHOICE_TYPES = ("multiple_choice", "loglikelihood")


def set_wait_policy(root: Path) -> None:
    """OMP_WAIT_POLICY=PASSIVE for an experiment DVC's queue runs (in a temporary copy of the repository,
    DVC_ROOT naming the repository): idle OpenMP threads otherwise spin, and two evaluations sharing 2 cores
    (`dvc queue start -j 2`) took 33 s instead of 10 s. Alone, PASSIVE costs a single evaluation 1.3-1.45x
    (full-size MMLU, docs/performance.md), so it keeps OpenMP's default. A policy set by the user wins.
    Set before torch loads; results do not change (the thread count stays pinned)."""
    queued = os.environ.get("DVC_ROOT") and Path(os.environ["DVC_ROOT"]).resolve() != root.resolve()
    if queued:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def gguf_file_of(lock: Lock) -> str | None:

    return evaluated_file([f.path for f in lock.files])


def check_gguf(lock: Lock, model: Model) -> None:
    """conf/model's gguf_file must be the GGUF file the lock summarized (and none for a HF delivery)."""
    locked = gguf_file_of(lock)
    if model.gguf_file != locked:
        raise EvalpinError(
            f"conf/model/{lock.name}.yaml: gguf_file is {model.gguf_file!r}, but "
            f"models/{lock.name}.lock.json pins {locked!r}. "
            + (f"Set `gguf_file: {locked}` (or re-pin)." if locked else "Remove the gguf_file field.")
        )
    if locked and lock.gguf[locked].split:
        raise EvalpinError(
            f"models/{lock.name}/{locked}: field split.count is {lock.gguf[locked].split[1]}: a split GGUF, "
            "and transformers loads one file. Merge the parts (llama.cpp: `llama-gguf-split --merge "
            "FIRST_PART MERGED.gguf`) and pin the merged file."
        )


def suite_tasks(suite: Suite) -> list[str]:
    """The plain tasks whose scores are reported: local tasks, then catalog tasks."""
    return [*suite.tasks, *catalog.task_data(suite.raw)]


def check_base(lock: Lock, model: Model) -> None:
    """conf/model's `base` must be the base the lock certifies (a full model is its own base)."""
    certified = base_name(lock)
    if base_of(model) != certified:
        raise EvalpinError(
            f"conf/model/{lock.name}.yaml: base is {base_of(model)!r}, but models/{lock.name}.lock.json "
            f"is certified on {certified!r}. Set `base: {certified}` (or re-pin with --base)."
        )


def check_gguf_server_tasks(root: Path, suite: dict, runs: list[tuple[list, bool]]) -> None:
    """Refuse what lm-eval's gguf backend cannot score correctly, before anything loads or connects."""
    if catalog.entries(suite):
        raise EvalpinError(
            "params.yaml: suite.catalog lists catalog tasks; the gguf backend runs the suite's own "
            "generation tasks only (docs/backends.md). Evaluate catalog tasks with `backend=hf`, or set "
            "`suite.catalog=[]`."
        )
    declared = local_tasks.declared(root / suite["include_path"], root)
    for tasks, chat in runs:
        for task in tasks:
            found = declared.get(task)
            output_type = local_tasks.output_type(found, root) if found else local_tasks.DEFAULT_OUTPUT_TYPE
            if chat or output_type not in GGUF_SERVER_OUTPUT_TYPES:
                reason = "through the chat template" if chat else f"output_type {output_type}"
                raise EvalpinError(
                    f"{suite['include_path']}/{task}.yaml: {reason}; the gguf backend scores generation "
                    "tasks only (llama-cpp-python's server shifts echo logprobs by one token and lm-eval's "
                    "gguf backend has no chat template: docs/backends.md). Evaluate it with `backend=hf`, or "
                    "list only generate_until tasks: `suite.tasks=[...] suite.chat_tasks=[]`."
                )


def load_model(root: Path, model: Model, inference: Inference, backend: Backend):
    """The lm-eval model object, built exactly as simple_evaluate builds it from a name and arguments."""
    from lm_eval.api.registry import get_model

    name, model_args = lm_eval_model(root, model, inference, backend)
    settings = {"batch_size": inference.batch_size, "max_batch_size": None, "device": inference.device}
    lm = get_model(name).create_from_arg_obj(model_args, settings)
    if name == "hf":  # in-process weights: portable numerics routes their linear layers (numerics.py)
        numerics.portable_model(lm.model, inference.raw)
    bound_rendering(lm, model.name)
    return lm


def bound_rendering(lm, name: str) -> None:
    """lm-eval renders each request's conversation through the delivery's chat template: each render
    gets the golden check's deadline, so a template that loops on some input stops the run with its name."""
    render = getattr(lm, "apply_chat_template", None)
    if render is None:
        return

    def bounded(*args, **kwargs):
        with time_limit(
            RENDER_LIMIT_S,
            f"models/{name}: the delivery's chat template, rendering a request,",
            "Fix the template upstream and re-pin, or run the suite without the chat template.",
        ):
            return render(*args, **kwargs)

    lm.apply_chat_template = bounded


def task_manager(root: Path, suite: Suite, folders: tuple[str, ...]):
    """lm-eval's TaskManager indexing the suite's local tasks and `folders` (the catalog folders holding
    the catalog tasks to run), nothing else."""
    return readable.keeping_task_manager(
        include_path=[str(root / suite.include_path), *folders], include_defaults=False
    )


def run_lm_eval(lm, inference: Inference, suite: Suite, tasks: list, chat: bool, task_manager) -> dict:
    """`task_manager`: from task_manager() (a run reuses one per set of folders)."""
    import lm_eval

    seed = inference.seed
    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=tasks,
        task_manager=task_manager,
        batch_size=inference.batch_size,
        device=inference.device,
        limit=suite.limit,
        log_samples=True,
        apply_chat_template=chat,
        system_instruction=inference.system_instruction if chat else None,
        gen_kwargs=inference.gen_kwargs or None,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
    )
    return {**results, "readable": readable.describe(results, task_manager, lm)}


def primary_metric(results: dict, task: str) -> str:
    metric_list = results["configs"][task].get("metric_list") or []
    if not metric_list:
        raise EvalpinError(f"eval/tasks: task {task!r} declares no metric_list; add one to its YAML.")
    return metric_list[0]["metric"]


def primary_filter(results: dict, task: str) -> str:
    """The filter whose score is reported: the task's first (gsm8k: strict-match), or lm-eval's "none"."""
    filters = results["configs"][task].get("filter_list") or []
    return filters[0]["name"] if filters else "none"


def score_row(scores: dict, metric: str, key: str, n: int) -> dict:
    stderr = scores.get(f"{metric}_stderr,{key}")
    return {
        "metric": metric if key == "none" else f"{metric},{key}",
        "score": float(scores[f"{metric},{key}"]),
        "stderr": None if stderr in (None, "N/A") else float(stderr),
        "n": n,
    }


def summarize_results(
    results: dict, tasks: list[str], groups: dict[str, catalog.Group] | None = None
) -> dict:
    """Per task its primary metric (under its primary filter); per catalog group and subgroup lm-eval's
    aggregate (n: its tasks' samples). The suite mean counts a group once, not its members again."""
    per_task = {
        task: score_row(
            results["results"][task],
            primary_metric(results, task),
            primary_filter(results, task),
            int(results["n-samples"][task]["effective"]),
        )
        for task in tasks
    }
    for name, group in (groups or {}).items():  # members before the groups that hold them
        n = sum(per_task[t]["n"] for t in group.members)
        kept = group.filter or first_leaf_filter(results, group.members, groups or {})
        per_task[name] = score_row(results["results"][name], group.metric, kept, n)
    grouped = {t for group in (groups or {}).values() for t in group.members}
    counted = [row["score"] for task, row in per_task.items() if task not in grouped]
    return {"tasks": per_task, "suite": {"score": sum(counted) / len(counted), "tasks": len(counted)}}


def first_leaf_filter(results: dict, members: tuple[str, ...], groups: dict[str, catalog.Group]) -> str:
    """The filter lm-eval aggregates a group under when the group names none: its leaves' (the first's)."""
    first = members[0]
    return (
        first_leaf_filter(results, groups[first].members, groups)
        if first in groups
        else (primary_filter(results, first))
    )


def sample_records(results: dict, task: str) -> list[dict]:
    metric, kept = primary_metric(results, task), primary_filter(results, task)
    choice = results["configs"][task]["output_type"] in CHOICE_TYPES
    records = []
    for sample in results["samples"][task]:
        if sample.get("filter", "none") != kept:  # a task with several filters logs each sample per filter
            continue
        response = sample["filtered_resps"]
        if choice:
            logliks = [round(float(r[0]), LOGLIK_DECIMALS) for r in response]
            response = {"choice": logliks.index(max(logliks)), "loglikelihoods": logliks}
        elif isinstance(response, list) and len(response) == 1:
            response = response[0]
        records.append(
            {
                "doc_id": sample["doc_id"],
                "doc_hash": sample["doc_hash"],
                "prompt_hash": sample["prompt_hash"],
                "target_hash": sample["target_hash"],
                "response": response,
                "score": float(sample[metric]),
                **results.get("readable", {}).get(task, {}).get(sample["doc_id"], {}),
            }
        )
    return sorted(records, key=lambda r: r["doc_id"])
