"""eval/'s outputs: read whole (to compare two runs byte for byte), or rewritten as another evaluation
would have written them (other scores, another model's name) through the real writer (output_set.write_set),
so the set stays bound by its digests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from evalpin.evaluation.output_set import DIGESTS, write_set

STAGE_OUTPUTS = (
    "eval/metrics.json",
    "eval/scores.json",
    "eval/fingerprint.json",
    "eval/samples",
    "eval/results",
)


def forget_results(repo: Path, *tasks: str) -> None:
    """Remove the stored results of `tasks` (default: all), in eval/results and those kept by key in
    .evalpin/results (evaluation/earlier_results.py), so that they are evaluated again."""
    if not tasks:
        for folder in ("eval/results", ".evalpin/results"):
            shutil.rmtree(repo / folder, ignore_errors=True)
    for task in tasks:
        (repo / "eval/results" / f"{task}.json").unlink()
        shutil.rmtree(repo / ".evalpin/results" / task, ignore_errors=True)


def output_bytes(repo: Path) -> dict[str, bytes]:
    """Every file of the evaluate stage's outputs, by path."""
    found = {}
    for rel in STAGE_OUTPUTS:
        path = repo / rel
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            found[file.relative_to(repo).as_posix()] = file.read_bytes()
    return found


def rewrite_outputs(repo: Path, scores: dict[str, float], model: str | None = None) -> None:
    """The workspace's eval/ with `scores` (task -> score) and, given `model`, that delivery name: each
    task's samples too, right answers turned wrong until they give the score (the gate checks that a
    score is its samples' mean), so the set is one a worse delivery's evaluation could have written."""
    eval_dir = repo / "eval"
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    fingerprint = json.loads((eval_dir / "fingerprint.json").read_text())
    fingerprint.pop(DIGESTS, None)
    for task, score in scores.items():
        metrics["tasks"][task]["score"] = score
    if model:
        fingerprint["delivery"]["name"] = model
    records = {
        f.stem: [json.loads(line) for line in f.read_text().splitlines()]
        for f in sorted((eval_dir / "samples").glob("*.jsonl"))
    }
    for task, score in scores.items():
        lower(records[task], score)
    rows = [{"task": t, "score": row["score"]} for t, row in metrics["tasks"].items()]
    write_set(repo, records, fingerprint, rows, metrics)


def lower(samples: list[dict], score: float) -> None:
    """Turn right answers wrong, first documents first, until the mean score is `score` (exactly)."""
    target = round(score * len(samples))
    assert target / len(samples) == score, f"{score} is not a mean over {len(samples)} samples"
    right = [row for row in samples if row["score"] == 1.0]
    assert len(right) >= target, f"only {len(right)} right answers: cannot lower the score to {score}"
    for row in right[target:]:
        row["score"] = 0.0
