"""eval/fingerprint.json, built in one place (`build`) from an evaluation's plan and its stored results:
what was evaluated (the delivery, its chat templates, each task's identity, few-shot setting, outputs and
the pinned data it read, each catalog group's over its members), how (generation settings, the runtime,
the numerics class, a server backend's check), and a digest of every task's outputs. output_set.write_set
adds the digests of the files written beside it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import evalpin
from evalpin.base import numerics, project
from evalpin.base.runtime import current_runtime
from evalpin.config.params import Backend, Inference
from evalpin.delivery.adapter import base_name
from evalpin.delivery.lock import Lock, delivery_identity
from evalpin.delivery.sources import asserted_origin
from evalpin.evaluation import readable, task_key
from evalpin.evaluation.harness import gguf_file_of
from evalpin.evaluation.plan import Plan
from evalpin.evaluation.task_store import Stored
from evalpin.suite import catalog


def build(
    plan: Plan,
    found: dict[str, Stored],
    results: dict,
    records: dict[str, list[dict]],
    groups: dict[str, catalog.Group],
) -> dict:
    """The fingerprint of the suite's outputs. `found`: each leaf's stored result; `results`: lm-eval's
    results rebuilt from them (groups aggregated); `records`: each task's samples."""
    tasks = task_fingerprints(plan, found, results, records)
    all_outputs = "".join(f"{task}:{tasks[task]['outputs_sha256']}\n" for task in sorted(tasks))
    with_groups = {**tasks, **group_fingerprints(results, tasks, groups)}
    fingerprint = {
        "delivery": delivery_fingerprint(plan),
        "chat_templates": plan.lock.chat_templates,
        "suite": {"name": plan.params.suite.name, "tasks": with_groups},
        "generation": {
            task: effective_generation(plan.root, plan.lock, results, task, plan.params.inference)
            for task in records
            if results["configs"][task]["output_type"] == "generate_until"
        },
        "runtime": {"evalpin": evalpin.__version__, **current_runtime()},  # the evalpin that wrote this
        "output_fingerprint": hashlib.sha256(all_outputs.encode()).hexdigest(),
        "numerics": numerics.summary({name: found[name].numerics for name in plan.leaves}),
    }
    if server_check := next((s.server_check for s in found.values() if s.server_check), None):
        fingerprint["server_check"] = server_check
    return fingerprint


def task_fingerprints(
    plan: Plan, found: dict[str, Stored], results: dict, records: dict[str, list[dict]]
) -> dict[str, dict]:
    """Per task what it measured; a catalog task's pinned data, with `files_sha256` over what it read."""
    suite, inference = plan.params.suite, plan.params.inference
    chat_tasks = set(suite.chat_tasks) | (set(records) if inference.apply_chat_template else set())
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
    for name in plan.leaves:
        tasks[name]["definition_sha256"] = definition_digest(found[name])
        if (data := plan.data_of(name)) is not None:
            tasks[name]["data"] = delivery_identity(data)
            tasks[name]["data"]["files_sha256"] = task_key.files_digest(found[name].key)
    return tasks


def definition_digest(stored: Stored) -> str:
    """What the task is, apart from the model and its data: its YAML and the fields lm-eval builds it from
    (prompt, targets, metrics, filters, generation settings), its `!function` modules and every other file
    it read while it ran (helpers). Two runs whose tasks differ here measure different things."""
    return task_key.digest({"definition": stored.key["definition"], "reads": stored.reads or {}})


def delivery_fingerprint(plan: Plan) -> dict:
    """The evaluated delivery's identity, an adapter's base, and a GGUF delivery's evaluated file."""
    lock = plan.lock
    delivery = delivery_identity(lock)
    if origin := asserted_origin(lock.source.provenance):
        delivery["origin"] = origin
    if lock.base:
        delivery["base"] = asdict(lock.base)
    if gguf_file_of(lock):
        delivery["gguf"] = gguf_fingerprint(lock, plan.params.inference, plan.params.backend)
    return delivery


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


def effective_generation(root: Path, lock: Lock, results: dict, task: str, inference: Inference) -> dict:
    """generation_config.json, then the task's generation_kwargs, then inference.gen_kwargs: the order
    in which transformers' generate() sees them (explicit kwargs win over the model's defaults)."""
    config = project.model_dir(root, base_name(lock)) / "generation_config.json"  # an adapter's: its base's
    defaults = json.loads(config.read_text()) if config.is_file() else {}
    task_kwargs = results["configs"][task].get("generation_kwargs") or {}
    return {**defaults, **task_kwargs, **inference.gen_kwargs}


def gguf_fingerprint(lock: Lock, inference: Inference, backend: Backend) -> dict:
    """What was loaded from a GGUF delivery, and how: in-process, transformers dequantizes the tensors (the
    quantized weights computed in `dtype`); through the server, llama.cpp's quantized kernels score them."""
    path = gguf_file_of(lock)
    info = lock.gguf[path]
    loaded_as = f"dequantized by transformers to {inference.dtype} (lm-eval hf backend, gguf_file)"
    if backend.name == "gguf":
        loaded_as = "llama.cpp's quantized kernels (llama-cpp-python server, lm-eval gguf backend)"
    return {
        "file": path,
        "file_type": info.file_type,
        "tensors_sha256": info.tensors_sha256,
        "loaded_as": loaded_as,
    }


def group_fingerprints(results: dict, tasks: dict[str, dict], groups: dict[str, catalog.Group]) -> dict:
    """A catalog group or subgroup in the fingerprint: what its members measure, so the gate can compare
    its aggregate (and calls it not comparable when a member's task, few-shot setting or dataset differs).
    A group over several pinned datasets records them under `datasets` (its identity covers their docs)."""
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
        if all("definition_sha256" in r for r in rows):
            joined = "".join(r["definition_sha256"] for r in rows)
            found[group]["definition_sha256"] = hashlib.sha256(joined.encode()).hexdigest()
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
