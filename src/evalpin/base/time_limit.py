"""A deadline for Python code that may never end on a bad input (a chat template that loops): SIGALRM
interrupts it between two bytecodes and the block raises EvalpinError naming what overran. Signals reach
only the main thread, so elsewhere (a server's worker thread) the block runs unbounded."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from evalpin.base.errors import EvalpinError


@contextmanager
def time_limit(seconds: float, what: str, fix: str) -> Iterator[None]:
    """Run the block for at most `seconds`; past that, EvalpinError("WHAT took over N s ... FIX")."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def overran(signum: int, frame: object) -> None:
        raise EvalpinError(f"{what} took over {seconds:g} s and was stopped (a loop?). {fix}")

    started, previous = time.monotonic(), signal.signal(signal.SIGALRM, overran)
    outer = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer[0]:  # an enclosing limit's time keeps running
            signal.setitimer(signal.ITIMER_REAL, max(outer[0] - (time.monotonic() - started), 0.001))
