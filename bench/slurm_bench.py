"""The Slurm launcher against the local one, on the same machine and suite (`--only slurm`): the demo's
local tasks evaluated by `evalpin evaluate` in this process, then as a job array on the one-node cluster
of `make slurm-up` (one job holding every task: the launcher's pure overhead; one job per task: fan-out
on one machine, each job loading the model). The overhead split: the scheduler's round trip for an empty
job, a no-op submitit job through the launcher, and the merge (a rerun with every result stored).
Every evaluation starts from an empty result store; the outputs must equal the local run's byte for byte.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench import report
from bench.eval_bench import offline_env, scratch_repo
from bench.measure import Run, interleaved, median_wall, run
from bench.report import Section, Verdict
from support.outputs import output_bytes
from support.slurm import cluster_up, missing, slurm_launcher

TITLE = "Slurm launcher vs local"


def with_launcher(repo: Path, params: dict, launcher: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump({**params, "launcher": launcher}, sort_keys=False))


def evaluate(repo: Path, params: dict, launcher: dict, fresh: bool = True) -> Run:
    """`evalpin evaluate` with `launcher`, from an empty result store unless `fresh` is False."""
    with_launcher(repo, params, launcher)
    if fresh:
        shutil.rmtree(repo / "eval/results", ignore_errors=True)
    return run([str(Path(sys.executable).with_name("evalpin")), "evaluate"], cwd=repo, env=offline_env(repo))


def empty_job_seconds() -> float:
    start = time.perf_counter()
    subprocess.run(["sbatch", "--wait", "--quiet", "--output=/dev/null", "--wrap", "true"], check=True)
    return time.perf_counter() - start


def noop_job_seconds(scratch: Path) -> float:
    """One submitit job whose worker does nothing, through launcher.run (its polls included)."""
    from evalpin.evaluation import launcher

    start = time.perf_counter()
    launcher.run(scratch, slurm_launcher("noop-jobs"), [["noop"]], print)
    return time.perf_counter() - start


def measure(root: Path, scratch: Path, repeats: int) -> dict:
    repo, params = scratch_repo(root, scratch / "slurm-repo", {"catalog": []})
    tasks = [*params["suite"]["tasks"], *params["suite"]["chat_tasks"]]
    configs = {
        "local": {"name": "local"},
        "slurm, 1 job": {**slurm_launcher(".evalpin/slurm", len(tasks)), "cpus_per_task": 2},
        f"slurm, {len(tasks)} jobs": slurm_launcher(".evalpin/slurm", 1),
    }
    evaluate(repo, params, configs["local"])  # warm-up: page cache, datasets' arrow cache
    expected, same = output_bytes(repo), {}

    def timed(label: str) -> Run:
        result = evaluate(repo, params, configs[label])
        same[label] = same.get(label, True) and output_bytes(repo) == expected
        return result

    runs = interleaved({label: (lambda label=label: timed(label)) for label in configs}, repeats)
    merge = evaluate(repo, params, configs["slurm, 1 job"], fresh=False)  # every result stored: no job
    return {
        "runs": runs,
        "same": same,
        "merge": merge.wall,
        "empty": empty_job_seconds(),
        "noop": noop_job_seconds(scratch),
        "tasks": len(tasks),
    }


def slurm_vs_local(root: Path, scratch: Path, repeats: int) -> Section:
    if reason := missing():
        return Section(TITLE, f"Not measured: {reason}.", ["", ""], [])
    cluster_up()
    return section(measure(root, scratch, repeats), repeats)


def section(found: dict, repeats: int) -> Section:
    runs, ref = found["runs"], median_wall(found["runs"]["local"])
    rows = [["`evalpin evaluate`, local (ref)", report.seconds(ref), "", "1.00x", "yes"]]
    verdicts = []
    for label in list(runs)[1:]:
        wall = median_wall(runs[label])
        rows.append(
            [
                f"`evalpin evaluate`, {label}",
                report.seconds(wall),
                f"{wall - ref:+.1f} s",
                report.ratio(wall / ref),
                "yes" if found["same"][label] else "**no**",
            ]
        )
        verdicts.append(
            Verdict(
                f"{label}: outputs byte-identical to local",
                "yes" if found["same"][label] else "no",
                found["same"][label],
            )
        )
    rows += [
        ["`sbatch --wait --wrap true` (scheduler round trip)", report.seconds(found["empty"]), "", "", ""],
        ["a no-op submitit job through launcher.run", report.seconds(found["noop"]), "", "", ""],
        ["rerun, every result stored (pending + merge, no job)", report.seconds(found["merge"]), "", "", ""],
    ]
    return Section(
        TITLE,
        f"The demo's {found['tasks']} local tasks, `evalpin evaluate` from an empty result store: in this "
        "process, then as a job array on the one-node cluster of `make slurm-up` "
        f"(one node, {os.cpu_count()} CPUs), 1 CPU per job unless one job holds every task (2 CPUs); "
        f"{repeats} interleaved run(s) each after a warm-up. Overhead = wall minus local wall.",
        ["command", "wall (median)", "overhead", "vs local", "outputs identical"],
        rows,
        verdicts,
        [
            "Each job is a fresh Python process that imports torch and lm-eval and loads the model: on one "
            "machine a job array only adds that start-up (and jobs of 1 CPU share the cores the local run "
            "has to itself); it pays where jobs land on separate nodes. Wall times on a shared machine: "
            "compare the ratios of one run."
        ],
    )


def main() -> None:  # `python -m bench.slurm_bench`: this section alone, printed
    import tempfile

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="evalpin-slurm-bench-") as scratch:
        print(report.render_section(slurm_vs_local(root, Path(scratch), 1)))


if __name__ == "__main__":
    main()
