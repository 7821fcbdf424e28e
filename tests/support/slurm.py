"""The one-node Slurm cluster the launcher's tests and bench share: `make slurm-up`'s script, run once.
Without Slurm installed (or not as root) there is no cluster, and the reason says how to get one."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evalpin.base.errors import EvalpinError
from support.repos import TEMPLATE

INSTALL = "apt-get install -y slurm-wlm munge, then make slurm-up (as root)"


def missing() -> str | None:
    """Why this machine cannot run a one-node cluster, or None."""
    absent = [cmd for cmd in ("slurmctld", "slurmd", "munged", "sbatch", "squeue") if not shutil.which(cmd)]
    if absent:
        return f"Slurm is not installed ({', '.join(absent)} not on PATH): {INSTALL}"
    if os.geteuid() != 0 and subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        return f"no Slurm cluster is up, and starting one needs root: {INSTALL}"
    conf = Path("/etc/slurm/slurm.conf")
    if conf.is_file() and "evalpin's scripts/slurm_up.sh" not in conf.read_text().split("\n", 1)[0]:
        return f"{conf} is this machine's own Slurm (not make slurm-up's): the tests do not submit to it"
    return None


def cluster_up() -> str:
    """Start the cluster (idempotent, under a second when up) and return its one line; RuntimeError
    with the script's output when it cannot."""
    proc = subprocess.run(
        [str(TEMPLATE / "scripts" / "slurm_up.sh")], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/slurm_up.sh failed: {proc.stdout}{proc.stderr}")
    return proc.stdout.strip()


def slurm_launcher(folder: str, tasks_per_job: int = 1) -> dict:
    """conf/launcher/slurm.yaml's fields, sized for the tests' one node (1 CPU per job, fast polls)."""
    return {
        "name": "slurm",
        "tasks_per_job": tasks_per_job,
        "partition": None,
        "time_min": 10,
        "cpus_per_task": 1,
        "gpus_per_node": 0,
        "mem_gb": None,
        "array_parallelism": 8,
        "additional_parameters": {},
        "folder": folder,
        "poll_s": 0.3,
    }


@dataclass(frozen=True)
class FileWorker:
    """A launcher worker with a keyed store of its own: task T's result is `store/T` (what ran it: the
    Slurm job id, or "local"). A task named in `store/broken` raises, as a failing evaluation would; one
    named in `store/slow` takes a minute (longer than any interrupt needs; a missed one costs no more).
    Imported on the node by name (tests/ on the job's PYTHONPATH)."""

    store: Path

    def listed(self, marker: str) -> list[str]:
        path = self.store / marker
        return path.read_text().split() if path.is_file() else []

    def pending(self, tasks: list[str]) -> list[str]:
        return [task for task in tasks if not (self.store / task).is_file()]

    def __call__(self, shard: list[str]) -> None:
        for task in shard:
            if task in self.listed("broken"):
                raise EvalpinError(f"task {task}: the worker failed on purpose ({self.store / 'broken'})")
            if task in self.listed("slow"):
                time.sleep(60)
            (self.store / task).write_text(os.environ.get("SLURM_ARRAY_JOB_ID", "local"))


def when_running(action: Callable[[str], object]) -> threading.Thread:
    """In a thread: wait until a job named evalpin runs, then `action(its job id)` (a kill, a Ctrl-C)."""

    def wait_then_act() -> None:
        for _ in range(600):
            running = ["squeue", "--noheader", "--name", "evalpin", "--states", "R", "--format", "%i"]
            if job := subprocess.run(running, capture_output=True, text=True).stdout.split():
                action(job[0])
                return
            time.sleep(0.1)

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread
