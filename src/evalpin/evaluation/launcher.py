"""Where the pending tasks run: in this process (`launcher: local`, the default) or as a Slurm job array
through submitit (`launcher: slurm`), one array job per shard of `tasks_per_job` tasks.

A worker is a picklable callable taking a shard (a list of task names); it writes each task's result into
the keyed store itself, so a failed shard loses only its own tasks and the rerun submits only what is
missing. Job states come from `squeue` (every cluster has it), never from `sacct`: without accounting
submitit's sacct poll warns on every call ("Bypassing sacct error") and never sees a job that died without
a result. A job that leaves the queue without a result within GRACE_S is failed, named with its log.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from evalpin.base import quiet
from evalpin.base.errors import EvalpinError

Worker = Callable[[list[str]], None]
LAUNCHERS = ("local", "slurm")
SLURM_KEYS = (
    "tasks_per_job",
    "partition",
    "time_min",
    "cpus_per_task",
    "gpus_per_node",
    "mem_gb",
    "array_parallelism",
    "additional_parameters",
    "folder",
    "poll_s",
)
QUEUED = ("PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED")  # squeue states not yet running
SQUEUE_RETRY_S = 60.0
GRACE_S = 15.0  # a result file may reach a shared filesystem after its job left the queue (submitit: 15 s)
EXCEPTION_LINE = re.compile(r"^((?:\w+\.)*)(\w*(?:Error|Exception|Interrupt)\b)")
FIX = "conf/launcher/slurm.yaml lists every field (or select `launcher: local`)"


def name_of(cfg: dict) -> str:
    name = cfg.get("name", "local")
    if name not in LAUNCHERS:
        raise EvalpinError(
            f"params.yaml: launcher.name is {name!r}; conf/launcher/ offers {', '.join(LAUNCHERS)}. "
            "Select one in conf/config.yaml (`- launcher: local`), then `evalpin compose`."
        )
    return name


def shards(cfg: dict, names: list[str]) -> list[list[str]]:
    """Local: every task in one shard (one model load). Slurm: `tasks_per_job` tasks per array job."""
    if not names:
        return []
    if name_of(cfg) == "local":
        return [list(names)]
    size = int(slurm_cfg(cfg)["tasks_per_job"])
    if size < 1:
        raise EvalpinError(f"params.yaml: launcher.tasks_per_job is {size}; it must be 1 or more ({FIX}).")
    return [list(names[i : i + size]) for i in range(0, len(names), size)]


def run(root: Path, cfg: dict, shards: list[list[str]], worker: Worker) -> None:
    """Run `worker` on every shard, here or on Slurm; raise naming every failed shard after all ended."""
    if not shards:
        return
    if name_of(cfg) == "local":
        for shard in shards:
            worker(shard)
        return
    run_slurm(root, slurm_cfg(cfg), shards, worker)


def slurm_cfg(cfg: dict) -> dict:
    if missing := [key for key in SLURM_KEYS if key not in cfg]:
        raise EvalpinError(f"params.yaml: launcher has no {', '.join(missing)}; {FIX}.")
    return cfg


def on_node(worker: Worker, shard: list[str]) -> None:
    """What an array job runs: the worker, its errors (of the same type) naming the node they happened on;
    lm-eval's chatter filtered as in a local run (EVALPIN_VERBOSE=1 keeps it)."""

    quiet.install(False)
    try:
        worker(shard)
    except EvalpinError as exc:
        raise type(exc)(f"node {socket.gethostname()}: {exc}") from exc


def slurm_parameters(cfg: dict) -> dict:
    """The conf's fields as submitit's update_parameters() names them (unset ones left to the cluster)."""
    params = {
        "name": "evalpin",
        "timeout_min": int(cfg["time_min"]),
        "cpus_per_task": int(cfg["cpus_per_task"]),
        "slurm_array_parallelism": int(cfg["array_parallelism"]),
        "slurm_additional_parameters": dict(cfg["additional_parameters"] or {}),
    }
    if cfg["partition"]:
        params["slurm_partition"] = str(cfg["partition"])
    if cfg["gpus_per_node"]:
        params["gpus_per_node"] = int(cfg["gpus_per_node"])
    if cfg["mem_gb"]:
        params["mem_gb"] = cfg["mem_gb"]
    return params


def run_slurm(root: Path, cfg: dict, shards: list[list[str]], worker: Worker) -> None:
    import submitit

    if not shutil.which("sbatch"):
        raise EvalpinError(
            "params.yaml: launcher.name is 'slurm', but sbatch is not on PATH. Run on the cluster's login "
            "node, start a one-node cluster here (`make slurm-up`), or select `launcher: local`."
        )
    folder = root / cfg["folder"]
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(**slurm_parameters(cfg))
    try:
        jobs = executor.map_array(on_node, [worker] * len(shards), shards)
    except submitit.core.utils.FailedJobError as exc:  # sbatch refused the array: nothing was submitted
        raise EvalpinError(
            f"params.yaml: sbatch refused the job array: {' '.join(str(exc).split())}. Fix the launcher "
            "fields it names (conf/launcher/slurm.yaml, or conf/local/default.yaml), then rerun."
        ) from exc
    where = folder.relative_to(root) if folder.is_relative_to(root) else folder
    say(f"slurm: job array {jobs[0].job_id.split('_')[0]}: {len(jobs)} jobs, logs in {where}/")
    try:
        failures = watch(jobs, shards, float(cfg["poll_s"]))
    except BaseException:  # Ctrl-C, a kill of the pipeline: leave no job running for nothing
        cancel(jobs)
        raise
    if failures:
        raise EvalpinError(
            f"{len(failures)} of {len(jobs)} Slurm jobs failed; the other jobs' results are kept and a "
            "rerun (`dvc repro`) submits only the missing tasks:\n  " + "\n  ".join(failures)
        )


def watch(jobs: list, shards: list[list[str]], poll_s: float) -> list[str]:
    """Poll until every job has ended; print pending / running / done on each change. The failures,
    one line per failed shard: its tasks, the reason, its log."""
    progress = ArrayProgress(len(jobs))
    ended: dict[str, str | None] = {}  # job id -> None (succeeded) or the failure line
    gone: dict[str, float] = {}  # job id -> when it was first missing from squeue without a result
    while True:
        states = queue_states(jobs)
        for index, (job, shard) in enumerate(zip(jobs, shards, strict=True)):
            if job.job_id not in ended and job.job_id not in states:
                outcome = ended_outcome(job, f"shard {index} ({', '.join(shard)})", gone)
                if outcome is not False:
                    ended[job.job_id] = outcome
        waiting = [s for j, s in states.items() if j not in ended]
        queued = sum(1 for state in waiting if state in QUEUED)
        failed = sum(1 for line in ended.values() if line)
        progress.show(queued, len(waiting) - queued, len(ended), failed)
        if len(ended) == len(jobs):
            progress.close()
            return [line for line in ended.values() if line]
        time.sleep(poll_s)


def ended_outcome(job, label: str, gone: dict[str, float]) -> str | bool | None:
    """None: the job succeeded; a line: it failed; False: no result yet (within GRACE_S of leaving)."""
    if job.paths.result_pickle.exists():
        try:
            job.result()
        except Exception as exc:  # the job's own exception, pickled by submitit
            return f"{label}: {failure_line(exc)}; log: {job.paths.stderr}"
        return None
    first = gone.setdefault(job.job_id, time.monotonic())
    if time.monotonic() - first < GRACE_S:
        return False
    return (
        f"{label}: the job ended without a result (killed: time limit, memory, node failure?); "
        f"log: {job.paths.stderr}"
    )


def failure_line(exc: BaseException) -> str:
    """The job's exception as its traceback ends ("EvalpinError: node n1: ..." and the lines of a
    multi-line message), from submitit's error text; the module path of the type left out."""
    parts = str(exc).split("----------------------")
    lines = (parts[1] if len(parts) > 2 else str(exc)).strip().splitlines()
    starts = [i for i, line in enumerate(lines) if EXCEPTION_LINE.match(line)]
    if not starts:
        return lines[-1].strip() if lines else type(exc).__name__
    found = [EXCEPTION_LINE.sub(r"\2", lines[starts[-1]]), *lines[starts[-1] + 1 :]]
    return "\n    ".join(line.rstrip() for line in found if line.strip())


def queue_states(jobs: list) -> dict[str, str]:
    """job id (ARRAY_TASK) -> squeue state, for the jobs still in the queue. squeue is retried for
    SQUEUE_RETRY_S (a controller restarting) before the wait gives up."""
    arrays = sorted({job.job_id.split("_")[0] for job in jobs})
    command = ["squeue", "--noheader", "--array", "--jobs", ",".join(arrays), "--format", "%i|%T"]
    deadline = time.monotonic() + SQUEUE_RETRY_S
    while True:
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            return dict(line.split("|", 1) for line in proc.stdout.split())
        if "Invalid job id" in proc.stderr:  # some versions forget a finished array at once
            return {}
        if time.monotonic() > deadline:
            raise EvalpinError(
                f"squeue failed for {SQUEUE_RETRY_S:.0f} s (exit {proc.returncode}: {proc.stderr.strip()}); "
                "check the controller (`scontrol ping`), then rerun: stored results are kept."
            )
        say(f"slurm: squeue failed ({proc.stderr.strip()}); retrying")
        time.sleep(5)


def cancel(jobs: list) -> None:
    arrays = sorted({job.job_id.split("_")[0] for job in jobs})
    subprocess.run(["scancel", *arrays], check=False)
    say(f"slurm: cancelled job array {', '.join(arrays)}")


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class ArrayProgress:
    """`slurm: N jobs: a pending, b running, c done (d failed)`: on a TTY one line rewritten in place;
    in a log, one line per change."""

    def __init__(self, total: int) -> None:
        self.total, self.last = total, ""
        self.tty = sys.stderr.isatty()

    def show(self, pending: int, running: int, done: int, failed: int) -> None:
        line = f"slurm: {self.total} jobs: {pending} pending, {running} running, {done} done"
        line += f" ({failed} failed)" if failed else ""
        if line == self.last:
            return
        self.last = line
        sys.stderr.write(f"\r\033[K{line}" if self.tty else f"{line}\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
