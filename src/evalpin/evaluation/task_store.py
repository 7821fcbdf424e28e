"""Stored task results (eval/results/TASK.json): one file per task, holding the task's key, what it read
while it ran (task_reads.py), lm-eval's result slice for it, its sample records and a digest of all of
that. A result is reused only when its key equals the task's current key, every file it read still
hashes the same, and its digest matches its content: a hand-edited or truncated file is evaluated again,
never reused. Files are written whole (temporary file, then rename), so a kill at any
moment leaves each file complete or absent.

eval/results is the evaluate stage's persisted output (dvc.yaml: `persist: true`): DVC neither deletes it
before the stage runs nor forgets it (it is cached, so `dvc checkout` of a tag restores its results).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from evalpin.base.atomic import write_atomic
from evalpin.base.leftovers import LEFTOVER, stale
from evalpin.base.names import check_task_name
from evalpin.base.outs import RESULTS_DIR
from evalpin.evaluation import earlier_results
from evalpin.evaluation.task_key import canonical, changes, digest
from evalpin.evaluation.task_reads import unchanged

CONFIG_FIELDS = ("output_type", "metric_list", "filter_list", "generation_kwargs")


@dataclass(frozen=True)
class Stored:
    """One task's stored result: `result` is lm-eval's slice for the task (results, config, version,
    n-shot, n-samples); `records`, its samples as eval/samples/TASK.jsonl holds them."""

    task: str
    key: dict
    result: dict
    records: list[dict]
    server_check: dict | None = None
    numerics: dict | None = None  # numerics.describe(): what computed it (not part of the key)
    reads: dict[str, str | None] | None = None  # task_reads.recording(): what it read -> sha256 (or None)


def path_of(root: Path, task: str) -> Path:
    return root / RESULTS_DIR / f"{check_task_name(task, 'the suite')}.json"


def result_slice(results: dict, task: str) -> dict:
    """What of simple_evaluate's return value the task's score, fingerprint and group aggregates need
    (the config's functions and dataset paths are not kept: they are in the key, as file digests)."""
    config = results["configs"][task]
    kept = {f: config.get(f) for f in CONFIG_FIELDS if config.get(f) is not None}
    kept["metric_list"] = [{"metric": m.get("metric")} for m in config.get("metric_list") or []]
    if config.get("filter_list"):
        kept["filter_list"] = [{"name": f.get("name")} for f in config["filter_list"]]
    return json.loads(
        canonical(
            {
                "results": results["results"][task],
                "config": kept,
                "version": results["versions"][task],
                "n-shot": results["n-shot"][task],
                "n-samples": results["n-samples"][task],
            }
        )
    )


def content(stored: Stored) -> dict:
    return {
        "task": stored.task,
        "key": stored.key,
        "key_sha256": digest(stored.key),
        "result": stored.result,
        "records": stored.records,
        "server_check": stored.server_check,
        "reads": stored.reads or {},
        **({"numerics": stored.numerics} if stored.numerics else {}),
    }


def write(root: Path, stored: Stored) -> Stored:
    """Store `stored` whole, in eval/results and under its key (earlier_results.py); returned as `read`
    would return it from the file (JSON's types: lists, text keys), so that the merge writes a result it
    just stored as it writes one it reuses, reading neither."""
    body = content(stored)
    text = json.dumps({**body, "content_sha256": digest(body)}, indent=1, sort_keys=True) + "\n"
    write_atomic(path_of(root, stored.task), text)
    earlier_results.keep(root, stored.task, stored.key, text)
    return of_body(json.loads(text))


def of_body(body: dict) -> Stored:
    fields = ("task", "key", "result", "records", "server_check", "numerics", "reads")
    return Stored(**{f: body.get(f) for f in fields})


def read(root: Path, task: str) -> tuple[Stored | None, str]:
    """The stored result of `task` in eval/results, or None and why it cannot be used."""
    path = path_of(root, task)
    if not path.is_file():
        return None, "no stored result"
    return parse(path.read_bytes(), task, path.relative_to(root).as_posix())


def parse(text: bytes | str, task: str, where: str) -> tuple[Stored | None, str]:
    """A stored result's text, checked: readable, its digests matching its content, of `task`."""
    try:
        data = json.loads(text)
        body = {k: data[k] for k in ("task", "key", "key_sha256", "result", "records", "server_check")}
        # older formats hold neither (their key's format then says why they are evaluated again)
        body.update({k: data[k] for k in ("reads", "numerics") if k in data})
    except (ValueError, KeyError, TypeError):
        return None, f"{where} is not a stored result (unreadable); evaluating it again"
    if data.get("content_sha256") != digest(body) or body["key_sha256"] != digest(body["key"]):
        return None, f"{where} was changed after it was stored (digest mismatch)"
    return (of_body(body), "") if body["task"] == task else (None, f"{where} holds task {body['task']!r}")


def usable(root: Path, stored: Stored | None, why: str, key: dict) -> tuple[Stored | None, str]:
    """`stored` when it is for exactly `key` and everything it read is unchanged, else None and why."""
    if stored is None:
        return None, why
    if stored.key != key:
        return None, changes(stored.key, key)
    if why := unchanged(root, stored.reads or {}):
        return None, why
    return stored, ""


def lookup(root: Path, task: str, key: dict) -> tuple[Stored | None, str, str | None]:
    """The stored result for exactly this key, or None and why the task must run; and, for a result
    recalled from those kept by key (earlier_results.py), its text, for `recall` to put back."""
    stored, why = usable(root, *read(root, task), key)
    if stored is not None:
        return stored, "", None
    if (kept := earlier_results.find(root, task, key)) is not None:
        text, where = kept
        recalled, _ = usable(root, *parse(text, task, where), key)
        if recalled is not None:
            return recalled, "", text
    return None, why, None


def recall(root: Path, task: str, text: str) -> None:
    """Put a result recalled by key back into eval/results, as the bytes it was stored with."""
    write_atomic(path_of(root, task), text)


def prune(root: Path, tasks: list[str]) -> list[str]:
    """Remove what is not a stored result of one of `tasks` (a task left the suite, a temporary file a
    kill left behind; a live writer's temporary stays): eval/results then holds what an uninterrupted run
    of this suite leaves. The results kept by key are pruned to their bound too."""
    folder = root / RESULTS_DIR
    keep = {f"{t}.json" for t in tasks}
    removed = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        live = LEFTOVER.search(path.name) and not stale(path.name)  # a running writer's (a Slurm job's)
        if path.name not in keep and path.is_file() and not live:
            path.unlink()
            removed.append(path.name)
    earlier_results.prune(root)
    return removed
