"""Progress of a long evaluation: the running task, tasks done out of total, and an ETA (the mean time of
the tasks done so far, times the tasks left). On a terminal one line is rewritten in place; in a log
(dvc repro's output piped, a CI or Slurm log), one line per task."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def clock_text(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    def __init__(
        self, total: int, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.clock = clock
        self.began = clock()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def eta(self) -> str:
        if not self.done:
            return "ETA after the first task"
        left = (self.clock() - self.began) / self.done * (self.total - self.done)
        return f"ETA {clock_text(left)}"

    def line(self, text: str, final: bool = False) -> None:
        if self.tty:
            self.stream.write(f"\r\x1b[2K{text}" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def start(self, task: str) -> None:
        self.line(f"evaluate: [{self.done + 1}/{self.total}] running {task} ({self.done} done, {self.eta()})")

    def finish(self, task: str, seconds: float) -> None:
        self.done += 1
        last = self.done == self.total
        self.line(
            f"evaluate: [{self.done}/{self.total}] {task} done in {seconds:.1f} s"
            + ("" if last else f" ({self.eta()})"),
            final=last,
        )
