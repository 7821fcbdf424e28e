"""Run the fixed suite with lm-eval on the verified delivery; write stable, untimestamped outputs
(eval/metrics.json, scores.json, fingerprint.json, samples/: base/outs.py says what each holds)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from evalpin.base import numerics, project
from evalpin.base.errors import EvalpinError
from evalpin.delivery.adapter import base_name
from evalpin.delivery.inventory import current_runtime
from evalpin.delivery.lock import Lock, delivery_identity
from evalpin.evaluation import readable
from evalpin.evaluation.backends import GGUF_SERVER_OUTPUT_TYPES, base_of, lm_eval_model
from evalpin.suite import catalog

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
    from evalpin.delivery.gguf_file import evaluated_file

    return evaluated_file([f.path for f in lock.files])


def check_gguf(lock: Lock, model: dict) -> None:
    """conf/model's gguf_file must be the GGUF file the lock summarized (and none for a HF delivery)."""
    locked = gguf_file_of(lock)
    if model.get("gguf_file") != locked:
        raise EvalpinError(
            f"conf/model/{lock.name}.yaml: gguf_file is {model.get('gguf_file')!r}, but "
            f"models/{lock.name}.lock.json pins {locked!r}. Set `gguf_file: {locked}` (or re-pin)."
        )
    if locked and lock.gguf[locked].split:
        raise EvalpinError(
            f"models/{lock.name}/{locked}: field split.count is {lock.gguf[locked].split[1]}: a split GGUF, "
            "and transformers loads one file. Merge the parts (llama.cpp: `llama-gguf-split --merge "
            "FIRST_PART MERGED.gguf`) and pin the merged file."
        )


def suite_tasks(suite: dict) -> list[str]:
    """The plain tasks whose scores are reported: local tasks, then catalog tasks."""
    return [*(suite.get("tasks") or []), *catalog.task_data(suite)]


def check_base(lock: Lock, model: dict) -> None:
    """conf/model's `base` must be the base the lock certifies (a full model is its own base)."""
    certified = base_name(lock)
    if base_of(model) != certified:
        raise EvalpinError(
            f"conf/model/{lock.name}.yaml: base is {base_of(model)!r}, but models/{lock.name}.lock.json "
            f"is certified on {certified!r}. Set `base: {certified}` (or re-pin with --base)."
        )


def check_gguf_server_tasks(root: Path, suite: dict, runs: list[tuple[list, bool]]) -> None:
    """Refuse what lm-eval's gguf backend cannot score correctly, before anything loads or connects."""
    from lm_eval.tasks import TaskManager

    index = TaskManager(include_path=str(root / suite["include_path"]), include_defaults=False).task_index
    if catalog.entries(suite):
        raise EvalpinError(
            "params.yaml: suite.catalog lists catalog tasks; the gguf backend runs the suite's own "
            "generation tasks only (docs/backends.md). Evaluate catalog tasks with `backend=hf`, or set "
            "`suite.catalog=[]`."
        )
    for tasks, chat in runs:
        for task in tasks:
            cfg = index[task].cfg if task in index else {}
            output_type = cfg.get("output_type") or ("generate_until" if "include" not in cfg else None)
            if chat or output_type not in GGUF_SERVER_OUTPUT_TYPES:
                reason = "through the chat template" if chat else f"output_type {output_type}"
                raise EvalpinError(
                    f"{suite['include_path']}/{task}.yaml: {reason}; the gguf backend scores generation "
                    "tasks only (llama-cpp-python's server shifts echo logprobs by one token and lm-eval's "
                    "gguf backend has no chat template: docs/backends.md). Evaluate it with `backend=hf`, or "
                    "list only generate_until tasks: `suite.tasks=[...] suite.chat_tasks=[]`."
                )


def load_model(root: Path, model: dict, inference: dict, backend: dict):
    """The lm-eval model object, built exactly as simple_evaluate builds it from a name and arguments."""
    from lm_eval.api.registry import get_model

    name, model_args = lm_eval_model(root, model, inference, backend)
    settings = {"batch_size": inference["batch_size"], "max_batch_size": None, "device": inference["device"]}
    lm = get_model(name).create_from_arg_obj(model_args, settings)
    if name == "hf":  # in-process weights: portable numerics routes their linear layers (numerics.py)
        numerics.portable_model(lm.model, inference)
    return lm


def task_manager(root: Path, suite: dict, folders: tuple[str, ...]):
    """lm-eval's TaskManager indexing the suite's local tasks and `folders` (the catalog folders holding
    the catalog tasks to run), nothing else."""
    return readable.keeping_task_manager(
        include_path=[str(root / suite["include_path"]), *folders], include_defaults=False
    )


def run_lm_eval(lm, inference: dict, suite: dict, tasks: list, chat: bool, task_manager) -> dict:
    """`task_manager`: from task_manager() (a run reuses one per set of folders)."""
    import lm_eval

    seed = int(inference["seed"])
    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=tasks,
        task_manager=task_manager,
        batch_size=inference["batch_size"],
        device=inference["device"],
        limit=suite.get("limit"),
        log_samples=True,
        apply_chat_template=chat,
        system_instruction=inference.get("system_instruction") if chat else None,
        gen_kwargs=inference.get("gen_kwargs") or None,
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


def greedy_outputs(rows: list[dict]) -> str:
    """What the model chose, one line per doc: the generated text, or the argmax choice."""
    picks = (r["response"]["choice"] if isinstance(r["response"], dict) else r["response"] for r in rows)
    return "".join(json.dumps([r["doc_id"], p]) + "\n" for r, p in zip(rows, picks, strict=True))


def task_hash(rows: list[dict], fields: tuple[str, ...] = ("doc_hash", "prompt_hash", "target_hash")) -> str:
    """lm-eval's own task hash (as EvaluationTracker computes it): over doc, prompt and target hashes."""
    joined = "".join("".join(r[f] for f in fields) for r in rows)
    return hashlib.sha256(joined.encode()).hexdigest()


def task_identity(rows: list[dict], chat: bool) -> str:
    """What the task asks and expects, independent of the delivery. Through a chat template the prompt
    text is rendered by the delivery itself, so its hash belongs to the delivery, not to the task: a
    template change must show as a score change, not hide as "not comparable"."""
    return task_hash(
        rows, ("doc_hash", "target_hash") if chat else ("doc_hash", "prompt_hash", "target_hash")
    )


def effective_generation(root: Path, lock: Lock, results: dict, task: str, inference: dict) -> dict:
    """generation_config.json, then the task's generation_kwargs, then inference.gen_kwargs: the order
    in which transformers' generate() sees them (explicit kwargs win over the model's defaults)."""
    config = project.model_dir(root, base_name(lock)) / "generation_config.json"  # an adapter's: its base's
    defaults = json.loads(config.read_text()) if config.is_file() else {}
    task_kwargs = results["configs"][task].get("generation_kwargs") or {}
    return {**defaults, **task_kwargs, **(inference.get("gen_kwargs") or {})}


def gguf_fingerprint(lock: Lock, inference: dict, backend: dict) -> dict:
    """What was loaded from a GGUF delivery, and how: in-process, transformers dequantizes the tensors (the
    quantized weights computed in `dtype`); through the server, llama.cpp's quantized kernels score them."""
    path = gguf_file_of(lock)
    info = lock.gguf[path]
    loaded_as = f"dequantized by transformers to {inference['dtype']} (lm-eval hf backend, gguf_file)"
    if backend.get("name") == "gguf":
        loaded_as = "llama.cpp's quantized kernels (llama-cpp-python server, lm-eval gguf backend)"
    return {
        "file": path,
        "file_type": info.file_type,
        "tensors_sha256": info.tensors_sha256,
        "loaded_as": loaded_as,
    }


def group_fingerprints(results: dict, fingerprint: dict, groups: dict[str, catalog.Group]) -> dict:
    """A catalog group or subgroup in the fingerprint: what its members measure, so the gate can compare
    its aggregate (and calls it not comparable when a member's task, few-shot setting or dataset differs).
    A group over several pinned datasets records them under `datasets` (its identity covers their docs)."""
    tasks = fingerprint["suite"]["tasks"]
    found: dict[str, dict] = {}
    for group, members in ((name, list(g.members)) for name, g in groups.items()):
        rows = [found.get(t) or tasks[t] for t in members]
        data, datasets = group_data([r.get("data") for r in rows])
        found[group] = {
            "version": results["versions"].get(group),
            "tasks": members,
            "identity": hashlib.sha256("".join(r["identity"] for r in rows).encode()).hexdigest(),
            "num_fewshot": [r["num_fewshot"] for r in rows],
            "output_type": "group",
            "chat_template_applied": any(r["chat_template_applied"] for r in rows),
            "outputs_sha256": hashlib.sha256("".join(r["outputs_sha256"] for r in rows).encode()).hexdigest(),
            "data": data,
        }
        if datasets:
            found[group]["datasets"] = datasets
    return found


def group_data(data: list[dict | None]) -> tuple[dict | None, list[dict]]:
    """A group's pinned data: one dataset's identity when its members read one (its `files_sha256` over
    the files each member read), else none and each dataset's identity over its members'."""
    by_name: dict[str, list[dict]] = {}
    for item in data:
        if item:
            by_name.setdefault(item["name"], []).append(item)
    combined = [combine_data(items) for _, items in sorted(by_name.items())]
    return (combined[0], []) if len(combined) == 1 and None not in data else (None, combined)


def combine_data(items: list[dict]) -> dict:
    first = {k: v for k, v in items[0].items() if k != "files_sha256"}
    if all("files_sha256" in d for d in items):
        joined = "".join(d["files_sha256"] for d in items)
        first["files_sha256"] = hashlib.sha256(joined.encode()).hexdigest()
    return first


def build_fingerprint(
    root: Path,
    lock: Lock,
    results: dict,
    records: dict[str, list[dict]],
    suite: dict,
    inference: dict,
    backend: dict,
    data: dict[str, Lock] | None = None,
) -> dict:
    """`data`: catalog task -> the lock of the pinned dataset it ran on (recorded per task)."""
    chat_tasks = set(suite.get("chat_tasks") or []) | (
        set(records) if inference["apply_chat_template"] else set()
    )
    tasks = {
        task: {
            "version": results["versions"][task],
            "hash": task_hash(rows),
            "identity": task_identity(rows, task in chat_tasks),
            "num_fewshot": results["n-shot"][task],
            "output_type": results["configs"][task]["output_type"],
            "chat_template_applied": task in chat_tasks,
            "outputs_sha256": hashlib.sha256(greedy_outputs(rows).encode()).hexdigest(),
            "truncated": readable.truncated_count(rows),
        }
        for task, rows in records.items()
    }
    for task, data_lock in (data or {}).items():
        tasks[task]["data"] = delivery_identity(data_lock)
    generation = {
        task: effective_generation(root, lock, results, task, inference)
        for task in records
        if results["configs"][task]["output_type"] == "generate_until"
    }
    all_outputs = "".join(f"{task}:{tasks[task]['outputs_sha256']}\n" for task in sorted(tasks))
    delivery = delivery_identity(lock)
    if lock.base:
        delivery["base"] = asdict(lock.base)
    if gguf_file_of(lock):
        delivery["gguf"] = gguf_fingerprint(lock, inference, backend)
    return {
        "delivery": delivery,
        "chat_templates": lock.chat_templates,
        "suite": {"name": suite["name"], "tasks": tasks},
        "generation": generation,
        "runtime": current_runtime(),
        "output_fingerprint": hashlib.sha256(all_outputs.encode()).hexdigest(),
    }
