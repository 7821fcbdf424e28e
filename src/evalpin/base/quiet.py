"""Quiet by default, loud on demand: third-party log lines that say nothing to an evalpin user are dropped
from a normal run; `evalpin evaluate -v` (or EVALPIN_VERBOSE=1, for `dvc repro`) keeps them.

Dropped, by logger and message start: lm-eval's advice to pass `--metadata` (printed once per task that
loads its data through a `custom_dataset` function, as every local task does) and the hf backend's
per-batch truncation warnings (evalpin counts truncated prompts per task instead: evaluation/readable.py)."""

from __future__ import annotations

import logging
import os

VERBOSE_ENV = "EVALPIN_VERBOSE"
CHATTER = {
    "lm_eval.api.task": ("Custom kwargs can be passed to `--metadata`",),
    "lm_eval.models.huggingface": ("Left truncation applied", "Combined length of context"),
}


class Chatter(logging.Filter):
    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        text = message.split(": ", 1)[1] if ": " in message[:80] else message  # "TASK: Custom kwargs..."
        return not any(message.startswith(s) or text.startswith(s) for s in self.starts)


def verbose_requested(flag: bool) -> bool:
    return flag or os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def install(verbose: bool) -> None:
    """Filter the chatter out (once per process), unless verbose."""
    if verbose_requested(verbose):
        return
    for name, starts in CHATTER.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, Chatter) for f in logger.filters):
            logger.addFilter(Chatter(starts))
