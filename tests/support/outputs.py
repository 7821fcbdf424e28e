"""eval/'s outputs rewritten as another evaluation would have written them: other scores (or another
model's name), through the real writer (output_set.write_set), so the set stays bound by its digests."""

from __future__ import annotations

import json
from pathlib import Path

from evalpin.output_set import DIGESTS, write_set


def rewrite_outputs(repo: Path, scores: dict[str, float], model: str | None = None) -> None:
    """The workspace's eval/ with `scores` (task -> score) and, given `model`, that delivery name."""
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
    rows = [{"task": t, "score": row["score"]} for t, row in metrics["tasks"].items()]
    write_set(repo, records, fingerprint, rows, metrics)
