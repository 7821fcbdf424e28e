"""Dataset loader for the demo suite: data paths resolve against this file, not the working directory."""

from pathlib import Path

import datasets

DATA_DIR = Path(__file__).resolve().parent / "data"


def load_jsonl(data_files: dict[str, str], **_ignored) -> datasets.DatasetDict:
    """Load local JSONL splits named relative to eval/tasks/data (lm-eval passes extra metadata; ignored)."""
    return datasets.load_dataset(
        "json", data_files={split: str(DATA_DIR / name) for split, name in data_files.items()}
    )


def answered(doc: dict, results: list[str]) -> dict[str, float]:
    """1.0 when the greedy output has any visible text (the verbatim output is what we keep)."""
    return {"answered": float(bool(results[0].strip()))}
