"""`evalpin samples TASK`: each sample of a task as a person reads it (question, choices or gold answer, the
model's answer, its score), at any revision, in the terminal or as JSON.

The words come from eval/samples itself (recorded at evaluation time: readable.py), so a past revision
needs only its samples (the DVC cache or remote), not lm-eval, its datasets or the model. A sample scores
"missed" below 1: less than full marks on the task's metric.
"""

from __future__ import annotations

import json
from pathlib import Path

from evalpin.base.errors import EvalpinError
from evalpin.results.sample_changes import groups_at
from evalpin.results.samples_at import read_samples

NOT_RECORDED = (
    "(not recorded: samples written before evalpin recorded questions; rerun them: "
    "`rm -rf eval/results && dvc repro`)"
)


def task_samples(root: Path, task: str, rev: str) -> list[dict]:
    """The task's sample records at `rev`, by doc_id; a group or an unknown name is refused with the
    names that work."""
    samples = read_samples(root, rev)
    if not samples:
        raise EvalpinError(
            f"{rev}: no eval/samples there (nothing evaluated and committed at that revision). Evaluate "
            "with `dvc repro`, or name a revision that has them (`git log -- dvc.lock`)."
        )
    if task in samples:
        return [samples[task][doc_id] for doc_id in sorted(samples[task])]
    groups = groups_at(root, rev)
    if task in groups:
        raise EvalpinError(
            f"{task}: a group at {rev}; its samples are per task. Name one: "
            + ", ".join(f"`evalpin samples {t}`" for t in groups[task][:3])
            + (f" (all {len(groups[task])}: {', '.join(groups[task])})" if len(groups[task]) > 3 else "")
        )
    raise EvalpinError(
        f"eval/samples at {rev}: no task {task!r}. Tasks there: {', '.join(sorted(samples)) or 'none'}."
    )


def missed(record: dict) -> bool:
    return float(record.get("score", 0.0)) < 1.0


def view(record: dict) -> dict:
    """One sample in words: what `--json` prints, and what the terminal shows."""
    response, choices = record.get("response"), record.get("choices")
    out = {"doc_id": record["doc_id"], "score": record.get("score"), "question": record.get("question")}
    if isinstance(response, dict):  # multiple choice: the highest-loglikelihood option
        pick = response["choice"]
        out["choices"] = choices
        out["gold"] = record.get("gold")
        out["answer"] = pick
        out["answer_text"] = choices[pick] if choices and 0 <= pick < len(choices) else None
        out["loglikelihoods"] = response.get("loglikelihoods")
    else:
        out["gold"], out["answer"] = record.get("gold"), response
    if record.get("truncated"):
        out["truncated"] = record["truncated"]
    return out


def select(records: list[dict], failed: bool, limit: int | None) -> list[dict]:
    chosen = [r for r in records if missed(r)] if failed else records
    return chosen[:limit] if limit is not None else chosen


def render_json(task: str, rev: str, views: list[dict]) -> str:
    return json.dumps({"task": task, "rev": rev, "samples": views}, indent=2, ensure_ascii=False)


def render_text(task: str, rev: str, records: list[dict], views: list[dict]) -> str:
    misses = sum(missed(r) for r in records)
    head = f"{task} at {rev}: {len(records)} samples, {misses} missed (score < 1); showing {len(views)}"
    return "\n\n".join([head, *(sample_text(v) for v in views)])


def sample_text(v: dict) -> str:
    verdict = "missed" if float(v["score"] or 0.0) < 1.0 else "ok"
    lines = [f"doc {v['doc_id']}  score {v['score']:g}  {verdict}"]
    lines += labelled("question", NOT_RECORDED if v["question"] is None else v["question"])
    if "choices" in v:
        lines += choice_lines(v)
    else:
        lines += labelled("gold", "-" if v["gold"] is None else str(v["gold"]))
        lines += labelled("answer", json.dumps(v["answer"], ensure_ascii=False))
    if cut := v.get("truncated"):
        lines.append(f"  prompt    cut: {cut['tokens']} tokens, the model saw the last {cut['kept']}")
    return "\n".join(lines)


def choice_lines(v: dict) -> list[str]:
    choices, gold, pick = v["choices"], v["gold"], v["answer"]
    if not choices:
        return [f"  answer    choice {pick} (choices not recorded)"]
    golds = gold if isinstance(gold, list) else [gold]
    width = max(len(text) for text in choices)
    lines = []
    for i, text in enumerate(choices):
        marks = [m for m, on in (("gold", i in golds), ("model's answer", i == pick)) if on]
        label = "choices" if i == 0 else ""
        mark = f"  <- {', '.join(marks)}" if marks else ""
        lines.append(f"  {label:<9} {i}. {text:<{width}}{mark}".rstrip())
    return lines


def labelled(label: str, text: str) -> list[str]:
    """`label` then the text, continuation lines indented under its first line."""
    first, *rest = text.splitlines() or [""]
    return [f"  {label:<9} {first}", *(f"  {'':<9} {line}" for line in rest)]
