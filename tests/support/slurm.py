"""The one-node Slurm cluster the launcher's tests and bench share: `make slurm-up`'s script, run once.
Without Slurm installed (or not as root) there is no cluster, and the reason says how to get one."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from evalpin.errors import EvalpinError
from support.repos import TEMPLATE

INSTALL = "apt-get install -y slurm-wlm munge, then make slurm-up (as root)"


def missing() -> str | None:
    """Why this machine cannot run a one-node cluster, or None."""
    absent = [cmd for cmd in ("slurmctld", "slurmd", "munged", "sbatch", "squeue") if not shutil.which(cmd)]
    if absent:
        return f"Slurm is not installed ({', '.join(absent)} not on PATH): {INSTALL}"
    if os.geteuid() != 0 and subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        return f"no Slurm cluster is up, and starting one needs root: {INSTALL}"
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
    Slurm job id, or "local"). A task named in `store/broken` raises, as a failing evaluation would.
    Imported on the node by name (tests/ must be on the job's PYTHONPATH)."""

    store: Path

    def pending(self, tasks: list[str]) -> list[str]:
        return [task for task in tasks if not (self.store / task).is_file()]

    def __call__(self, shard: list[str]) -> None:
        broken = self.store / "broken"
        for task in shard:
            if broken.is_file() and task in broken.read_text().split():
                raise EvalpinError(f"task {task}: the worker failed on purpose ({broken})")
            (self.store / task).write_text(os.environ.get("SLURM_ARRAY_JOB_ID", "local"))
