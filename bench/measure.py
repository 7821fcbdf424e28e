"""Run a command and measure it: wall time, CPU time and peak RSS of that process and what it waited for.

Peak RSS comes from GNU time (`/usr/bin/time -f %M`), which forks the command from a tiny process. Reading
ru_maxrss of our own child directly is wrong twice over: RUSAGE_CHILDREN is a maximum over every earlier
child, and a child that subprocess starts with vfork inherits this (larger) process's peak at exec.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = shutil.which("time", path="/usr/bin:/bin")  # the binary, not the shell keyword


@dataclass(frozen=True)
class Run:
    wall: float  # seconds, as the user waits for it
    cpu: float  # user + system seconds of the process and the children it waited for
    max_rss_mb: float  # peak resident set of the command (its largest process), MiB
    stdout: str


class CommandFailed(RuntimeError):
    pass


def run(
    cmd: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    cpus: set[int] | None = None,
) -> Run:
    """Run `cmd` to completion; raise CommandFailed (with its stderr) on a non-zero exit."""
    args = [str(c) for c in cmd]
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    with (
        tempfile.NamedTemporaryFile("w+") as rss,
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
    ):
        timed = [GNU_TIME, "-f", "%M", "-o", rss.name, *args] if GNU_TIME else args
        start = time.perf_counter()
        proc = subprocess.Popen(timed, cwd=cwd, env=env, stdout=out, stderr=err, preexec_fn=preexec)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, tell Popen
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
        peak_kib = int(rss.read().split()[-1]) if GNU_TIME and proc.returncode == 0 else usage.ru_maxrss
    if proc.returncode != 0:
        raise CommandFailed(f"`{' '.join(args)}` exited {proc.returncode}:\n{stderr.strip()[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, peak_kib / 1024, stdout)


def run_parallel(commands: Sequence[Sequence[str | Path]], cpus: set[int] | None = None) -> Run:
    """Start every command at once and wait for all: wall to the last, CPU summed, RSS the largest."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        runs = list(pool.map(lambda c: run(c, cpus=cpus), commands))
    wall = time.perf_counter() - start
    return Run(
        wall, sum(r.cpu for r in runs), max(r.max_rss_mb for r in runs), "".join(r.stdout for r in runs)
    )


def interleaved(commands: Mapping[str, Callable[[], Run]], repeats: int) -> dict[str, list[Run]]:
    """Run each command `repeats` times, alternating them, so that a slow spell on a shared machine
    hits subject and reference alike rather than one of them."""
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            runs[name].append(command())
    return runs


def median_wall(runs: Sequence[Run]) -> float:
    return statistics.median(r.wall for r in runs)


def median_cpu(runs: Sequence[Run]) -> float:
    return statistics.median(r.cpu for r in runs)


def peak_rss(runs: Sequence[Run]) -> float:
    return max(r.max_rss_mb for r in runs)
