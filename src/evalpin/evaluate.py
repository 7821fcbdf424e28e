"""Run the fixed suite with lm-eval on the verified delivery; write stable, untimestamped outputs.

eval/metrics.json        per task: metric, score, stderr, n; the suite mean (DVC metrics, in git)
eval/scores.json         per-task scores as rows, for `dvc plots show`
eval/fingerprint.json    what was measured: delivery, suite identity, effective generation
                         parameters, chat templates, runtime, and a hash over all greedy outputs
eval/samples/TASK.jsonl  per sample: doc/prompt/target hashes, response, score (DVC-tracked)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from evalpin import catalog, project
from evalpin.adapter import base_name
from evalpin.atomic import replace_dir, write_atomic
from evalpin.backends import GGUF_SERVER_OUTPUT_TYPES, base_of, lm_eval_model
from evalpin.errors import EvalpinError
from evalpin.lock import Lock, current_runtime
from evalpin.verify import require_verified, require_verified_dataset

METRICS_FILE = "eval/metrics.json"
SCORES_FILE = "eval/scores.json"
FINGERPRINT_FILE = "eval/fingerprint.json"
SAMPLES_DIR = "eval/samples"
LOGLIK_DECIMALS = 6  # per-sample loglikelihoods are rounded: below this, CPU kernels may differ
CHOICE_TYPES = ("multiple_choice", "loglikelihood")


def evaluate(root: Path, params: dict) -> dict:
    # Idle OpenMP threads otherwise spin: two evaluations sharing 2 cores (`dvc queue start -j 2`) took 33 s
    # instead of 10 s. Set before torch loads; the thread count stays pinned, results do not change.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    model, inference, suite, backend = (
        section(params, key) for key in ("model", "inference", "suite", "backend")
    )
    check_suite(suite)
    lock = require_verified(root, model["name"])  # fail closed even when called outside the pipeline
    check_base(lock, model)
    check_gguf(lock, model)
    data = {e["task"]: require_verified_dataset(root, e["data"]) for e in catalog.entries(suite)}
    results = run_suite(root, model, inference, suite, backend)
    tasks = [*suite_tasks(suite), *(suite.get("chat_tasks") or [])]
    metrics = summarize_results(results, tasks)
    records = {task: sample_records(results, task) for task in tasks}
    write_samples(root / SAMPLES_DIR, records)
    fingerprint = build_fingerprint(root, lock, results, records, suite, inference, backend, data)
    write_json(root / FINGERPRINT_FILE, fingerprint)
    write_json(
        root / SCORES_FILE, [{"task": t, "score": row["score"]} for t, row in metrics["tasks"].items()]
    )
    write_json(root / METRICS_FILE, metrics)
    return metrics


def section(params: dict, key: str) -> dict:
    value = params.get(key)
    if not isinstance(value, dict):
        raise EvalpinError(
            f"params.yaml: section {key!r} is missing. It comes from conf/{key}/; run `evalpin compose`."
        )
    return value


def gguf_file_of(lock: Lock) -> str | None:
    from evalpin.ggufinfo import evaluated_file

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
    return [*(suite.get("tasks") or []), *(e["task"] for e in catalog.entries(suite))]


def check_suite(suite: dict) -> None:
    plain, chat = suite_tasks(suite), list(suite.get("chat_tasks") or [])
    if not plain and not chat:
        raise EvalpinError("conf/suite/: the suite lists no tasks; add task names under `tasks:`.")
    if both := sorted(set(plain) & set(chat)):
        raise EvalpinError(f"conf/suite/: {both} listed under both `tasks` and `chat_tasks`; keep one.")


def check_base(lock: Lock, model: dict) -> None:
    """conf/model's `base` must be the base the lock certifies (a full model is its own base)."""
    certified = base_name(lock)
    if base_of(model) != certified:
        raise EvalpinError(
            f"conf/model/{lock.name}.yaml: base is {base_of(model)!r}, but models/{lock.name}.lock.json "
            f"is certified on {certified!r}. Set `base: {certified}` (or re-pin with --base)."
        )


def write_json(path: Path, data: object) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def run_suite(root: Path, model: dict, inference: dict, suite: dict, backend: dict) -> dict:
    """Plain tasks as inference.apply_chat_template says; suite.chat_tasks always through the template.
    One model load serves both runs: on a 7B model a second load is another 15 GB read."""
    import torch  # heavy: imported only when evaluating

    torch.set_num_threads(int(inference["torch_threads"]))
    catalog_configs, folders = catalog.task_configs(root, suite)
    runs = [([*(suite.get("tasks") or []), *catalog_configs], bool(inference["apply_chat_template"]))]
    if suite.get("chat_tasks"):
        runs.append((list(suite["chat_tasks"]), True))
    if backend.get("name") == "gguf":
        check_gguf_server_tasks(root, suite, runs)
    lm = load_model(root, model, inference, backend)
    merged: dict = {}
    for tasks, chat in runs:
        results = run_lm_eval(root, lm, inference, suite, tasks, chat, folders)
        for key in ("results", "configs", "versions", "n-shot", "n-samples", "samples"):
            merged.setdefault(key, {}).update(results[key])
    return merged


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
    return get_model(name).create_from_arg_obj(model_args, settings)


def run_lm_eval(
    root: Path, lm, inference: dict, suite: dict, tasks: list, chat: bool, folders: list[str]
) -> dict:
    """`folders`: the catalog folders holding the suite's catalog tasks (indexed, nothing else)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    task_manager = TaskManager(
        include_path=[str(root / suite["include_path"]), *folders], include_defaults=False
    )
    seed = int(inference["seed"])
    return lm_eval.simple_evaluate(
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


def primary_metric(results: dict, task: str) -> str:
    metric_list = results["configs"][task].get("metric_list") or []
    if not metric_list:
        raise EvalpinError(f"eval/tasks: task {task!r} declares no metric_list; add one to its YAML.")
    return metric_list[0]["metric"]


def summarize_results(results: dict, tasks: list[str]) -> dict:
    per_task = {}
    for task in tasks:
        metric = primary_metric(results, task)
        scores = results["results"][task]
        stderr = scores.get(f"{metric}_stderr,none")
        per_task[task] = {
            "metric": metric,
            "score": float(scores[f"{metric},none"]),
            "stderr": None if stderr in (None, "N/A") else float(stderr),
            "n": int(results["n-samples"][task]["effective"]),
        }
    mean = sum(t["score"] for t in per_task.values()) / len(per_task)
    return {"tasks": per_task, "suite": {"score": mean, "tasks": len(per_task)}}


def sample_records(results: dict, task: str) -> list[dict]:
    metric = primary_metric(results, task)
    choice = results["configs"][task]["output_type"] in CHOICE_TYPES
    records = []
    for sample in results["samples"][task]:
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
            }
        )
    return sorted(records, key=lambda r: r["doc_id"])


def write_samples(directory: Path, records: dict[str, list[dict]]) -> None:
    """Write every task's samples into a fresh directory, then swap it in whole."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    for task, rows in records.items():
        (fresh / f"{task}.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    os.chmod(fresh, 0o755)
    replace_dir(fresh, directory)


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


def delivery_identity(lock: Lock) -> dict:
    """What names a pinned delivery (a model or a dataset) in the fingerprint."""
    return {"name": lock.name, "revision": lock.source.revision, "lock_digest": lock.digest}


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
