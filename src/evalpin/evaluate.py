"""Run the fixed suite with lm-eval on the verified delivery; write stable, untimestamped outputs.

eval/metrics.json      per task: metric, score, stderr, n; the suite mean (DVC metrics, in git)
eval/samples/TASK.jsonl  per sample: doc/prompt/target hashes, response, score (DVC-tracked)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from evalpin import project
from evalpin.atomic import replace_dir, write_atomic
from evalpin.errors import EvalpinError
from evalpin.verify import require_verified

METRICS_FILE = "eval/metrics.json"
SAMPLES_DIR = "eval/samples"
LOGLIK_DECIMALS = 6  # per-sample loglikelihoods are rounded: below this, CPU kernels may differ


def evaluate(root: Path, params: dict) -> dict:
    model, inference, suite, backend = (
        section(params, key) for key in ("model", "inference", "suite", "backend")
    )
    require_verified(root, model["name"])  # fail closed even when called outside the pipeline
    results = run_lm_eval(root, model, inference, suite, backend)
    metrics = summarize_results(results, suite["tasks"])
    write_samples(root / SAMPLES_DIR, results)
    write_atomic(root / METRICS_FILE, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def section(params: dict, key: str) -> dict:
    value = params.get(key)
    if not isinstance(value, dict):
        raise EvalpinError(
            f"params.yaml: section {key!r} is missing. It comes from conf/{key}/; run `evalpin compose`."
        )
    return value


def run_lm_eval(root: Path, model: dict, inference: dict, suite: dict, backend: dict) -> dict:
    import lm_eval
    import torch  # heavy: imported only when evaluating
    from lm_eval.tasks import TaskManager

    torch.set_num_threads(int(inference["torch_threads"]))
    if backend["name"] != "hf":
        raise EvalpinError(f"params.yaml: backend.name {backend['name']!r} is not supported yet; use 'hf'.")
    model_args = {
        "pretrained": str(project.model_dir(root, model["name"])),
        "dtype": inference["dtype"],
        "trust_remote_code": bool(model["trust_remote_code"]),
        "add_bos_token": bool(model["add_bos_token"]),
        **(backend.get("model_args") or {}),
    }
    task_manager = TaskManager(include_path=str(root / suite["include_path"]), include_defaults=False)
    seed = int(inference["seed"])
    return lm_eval.simple_evaluate(
        model="hf",
        model_args=model_args,
        tasks=list(suite["tasks"]),
        task_manager=task_manager,
        batch_size=inference["batch_size"],
        device=inference["device"],
        limit=suite.get("limit"),
        log_samples=True,
        apply_chat_template=bool(inference["apply_chat_template"]),
        system_instruction=inference.get("system_instruction"),
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


def sample_record(sample: dict, metric: str, output_type: str) -> dict:
    response = sample["filtered_resps"]
    if output_type in ("multiple_choice", "loglikelihood"):
        logliks = [round(float(r[0]), LOGLIK_DECIMALS) for r in response]
        response = {"loglikelihoods": logliks}
    else:
        response = response[0] if isinstance(response, list) and len(response) == 1 else response
    return {
        "doc_id": sample["doc_id"],
        "doc_hash": sample["doc_hash"],
        "prompt_hash": sample["prompt_hash"],
        "target_hash": sample["target_hash"],
        "response": response,
        "score": float(sample[metric]),
    }


def write_samples(directory: Path, results: dict) -> None:
    """Write every task's samples into a fresh directory, then swap it in whole."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    for task, samples in results["samples"].items():
        metric = primary_metric(results, task)
        output_type = results["configs"][task]["output_type"]
        records = sorted((sample_record(s, metric, output_type) for s in samples), key=lambda r: r["doc_id"])
        lines = (json.dumps(r, sort_keys=True) for r in records)
        (fresh / f"{task}.jsonl").write_text("".join(f"{line}\n" for line in lines))
    os.chmod(fresh, 0o755)
    replace_dir(fresh, directory)
