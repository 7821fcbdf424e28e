"""Progress of a long evaluation: one rewritten line on a terminal, a line per task in a log."""

import io

from evalpin.base.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def clock(times: list[float]):
    return lambda: times.pop(0)


def test_a_log_gets_a_line_per_task_with_done_total_and_an_eta():
    log = io.StringIO()
    progress = Progress(3, log, clock([0.0, 10.0, 10.0, 20.0, 20.0]))  # start, then per ETA
    for task in ("a", "b", "c"):
        progress.start(task)
        progress.finish(task, 10.0)
    lines = log.getvalue().splitlines()
    assert lines[0] == "evaluate: [1/3] running a (0 done, ETA after the first task)"
    assert lines[1] == "evaluate: [1/3] a done in 10.0 s (ETA 0m20s)"  # 10 s a task, two left
    assert lines[2] == "evaluate: [2/3] running b (1 done, ETA 0m20s)"
    assert lines[-1] == "evaluate: [3/3] c done in 10.0 s" and len(lines) == 6


def test_a_terminal_gets_one_line_rewritten_in_place():
    tty = Terminal()
    progress = Progress(2, tty, clock([0.0, 5.0, 5.0]))
    progress.start("a")
    progress.finish("a", 5.0)
    progress.start("b")
    progress.finish("b", 5.0)
    text = tty.getvalue()
    assert text.count("\n") == 1 and text.endswith("b done in 5.0 s\n")
    assert text.count("\r\x1b[2K") == 4  # each update rewrites the line
