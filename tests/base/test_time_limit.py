"""A deadline for Python code that may never end (base/time_limit.py)."""

import threading
import time

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.base.time_limit import time_limit


def spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_a_block_past_its_deadline_is_stopped_with_what_and_the_fix():
    started = time.monotonic()
    with (
        pytest.raises(
            EvalpinError, match=r"^the loop took over 0.2 s and was stopped \(a loop\?\)\. Fix it\.$"
        ),
        time_limit(0.2, "the loop", "Fix it."),
    ):
        spin(30)
    assert time.monotonic() - started < 5


def test_a_block_within_its_deadline_runs_and_an_enclosing_deadline_keeps_running():
    with pytest.raises(EvalpinError, match=r"outer took over 0\.5 s"), time_limit(0.5, "outer", "."):
        with time_limit(5, "inner", "."):
            spin(0.1)
        spin(30)  # the outer deadline was restored when the inner block ended


def test_outside_the_main_thread_the_block_runs_unbounded():
    errors = []

    def work():
        try:
            with time_limit(0.05, "worker", "."):
                spin(0.2)
        except EvalpinError as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
