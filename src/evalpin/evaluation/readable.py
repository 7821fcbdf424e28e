"""What each sample asked, offered and expected, in words, and whether its prompt was cut to fit the model.

Recorded in eval/samples at evaluation time (question, choices, gold; prompt_tokens, truncated), from
the task's own doc_to_text / doc_to_choice / doc_to_target applied to the doc lm-eval read from the pinned
data: so `evalpin samples` reads any revision without lm-eval, the datasets or a model. The question is
the task's rendering of the doc alone (no few-shot examples, no chat template); the choices are exactly
what was scored; prompt_tokens is the longest request's length in the model's tokens.

A prompt is "truncated" when it has more tokens than lm-eval's hf backend keeps (the model's max_length,
minus max_gen_toks for generation): the backend then silently drops its start, which changes the score.
Counted per task in eval/fingerprint.json (null for a backend that does not say: a server truncates or
refuses on its side) and named by `evalpin report`.
"""

from __future__ import annotations

import sys

CHOICE = "multiple_choice"


def keeping_task_manager(**kwargs):
    """lm-eval's TaskManager, keeping the Task objects that simple_evaluate loads through it (its
    `load` result), so their doc_to_* methods can describe the samples after the run without building
    the tasks (and their datasets) a second time."""
    from lm_eval.tasks import TaskManager

    class KeepingTaskManager(TaskManager):
        loaded: dict | None = None

        def load(self, *args, **kw):  # lm-eval's signature
            self.loaded = super().load(*args, **kw)
            return self.loaded

    return KeepingTaskManager(**kwargs)


def describe(results: dict, task_manager, lm) -> dict[str, dict[int, dict]]:
    """task -> doc_id -> the readable fields of its sample (none for a task lm-eval did not keep). A task
    whose doc_to_* fails here keeps its samples without words: they are for reading, never worth the
    evaluation just run."""
    tasks = (getattr(task_manager, "loaded", None) or {}).get("tasks", {})
    described: dict[str, dict[int, dict]] = {}
    for name, samples in results.get("samples", {}).items():
        if name not in tasks:
            continue
        try:
            described[name] = task_fields(tasks[name], samples, lm)
        except Exception as exc:  # a task's own code: any error
            print(
                f"evalpin: warning: {name}: samples recorded without their words ({exc!r})", file=sys.stderr
            )
    return described


def task_fields(task, samples: list[dict], lm) -> dict[int, dict]:
    rows: dict[int, dict] = {}
    for sample in samples:
        if sample["doc_id"] not in rows:  # a task with several filters logs each doc per filter
            rows[sample["doc_id"]] = fields(task, sample, lm)
    return rows


def fields(task, sample: dict, lm) -> dict:
    doc = sample["doc"]
    out: dict = {"question": str(task.doc_to_text(doc))}
    if task.config.output_type == CHOICE:
        choices = [str(c) for c in task.doc_to_choice(doc)]
        out["choices"], out["gold"] = choices, gold_index(task.doc_to_target(doc), choices)
    else:
        target = sample["target"]
        out["gold"] = target if isinstance(target, (str, int, float)) else str(target)
    measured = prompt_tokens(lm, task.config.output_type, sample["arguments"])
    if measured:
        out["prompt_tokens"], limit = measured
        if out["prompt_tokens"] > limit:
            out["truncated"] = {"tokens": out["prompt_tokens"], "kept": limit}
    return out


def gold_index(target: object, choices: list[str]) -> object:
    """The gold choice as an index into `choices`, as lm-eval scores it (an int, a choice's text, or a
    list of either for several correct answers)."""
    if isinstance(target, list):
        return [gold_index(t, choices) for t in target]
    if isinstance(target, str) and target in choices:
        return choices.index(target)
    return target


def context_limit(lm, output_type: str, arguments: list) -> int | None:
    """How many tokens of a request lm-eval's hf backend keeps, or None for a backend that does not say
    (a server truncates or refuses on its side)."""
    if getattr(lm, "backend", None) != "causal" or not hasattr(lm, "tok_encode"):
        return None
    if output_type == "generate_until":
        gen_kwargs = arguments[0][1] if len(arguments[0]) > 1 else {}
        return int(lm.max_length) - int((gen_kwargs or {}).get("max_gen_toks", lm.max_gen_toks))
    return int(lm.max_length) + 1


def prompt_tokens(lm, output_type: str, arguments: list) -> tuple[int, int] | None:
    """(tokens of the sample's longest request, how many the backend keeps), or None when not counted."""
    limit = context_limit(lm, output_type, arguments)
    if limit is None:
        return None
    if output_type == "generate_until":
        return len(lm.tok_encode(arguments[0][0])), limit
    return max(sum(len(part) for part in lm._encode_pair(*args[:2])) for args in arguments), limit


def truncated_count(rows: list[dict]) -> dict:
    """A task's count for eval/fingerprint.json: how many of its prompts were cut, to how many tokens;
    `prompts: null` when the backend does not say (no sample has prompt_tokens: a server's)."""
    if rows and not any("prompt_tokens" in r for r in rows):
        return {"prompts": None}
    cut = [r["truncated"] for r in rows if r.get("truncated")]
    return {"prompts": len(cut), "kept_tokens": min(c["kept"] for c in cut)} if cut else {"prompts": 0}
