"""The task is the unit (issue #24): the rerun after a kill at about half of a full evaluation against the
full evaluation, adding one task to the suite against that task evaluated alone, and a rerun whose every
key matches (no model loaded). All `evalpin evaluate` in a scratch copy, each a fresh process, after an
untimed warm-up run (the datasets library's arrow caches)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench import report
from bench.eval_bench import offline_env, scratch_repo
from bench.measure import Run, run
from bench.report import Section, Verdict

KILL_LIMIT = 0.6  # rerun after a kill at about half / the full evaluation
ADD_LIMIT = 1.2  # adding one task / that task evaluated alone (start-up included)
REUSE_LIMIT_S = 3.0  # a rerun whose every key matches


def evaluate_cmd() -> list[str]:
    return [str(Path(sys.executable).with_name("evalpin")), "evaluate"]


def fresh(repo: Path) -> None:
    shutil.rmtree(repo / "eval" / "results", ignore_errors=True)


def set_suite(repo: Path, params: dict, suite: dict) -> None:
    params["suite"] = {**params["suite"], **suite}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def kill_at_half(repo: Path, env: dict[str, str], total: int) -> int:
    """Start a full evaluation, SIGKILL its process group once half the tasks are stored; the count."""
    results = repo / "eval" / "results"
    proc = subprocess.Popen(
        evaluate_cmd(),
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while len(list(results.glob("*.json"))) < total // 2 and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return len(list(results.glob("*.json")))


def measure(repo: Path, params: dict, env: dict[str, str]) -> dict[str, Run | int | str]:
    names = [*(params["suite"].get("tasks") or []), *(params["suite"].get("chat_tasks") or [])]
    run(evaluate_cmd(), cwd=repo, env=env)  # warm-up: caches
    fresh(repo)
    found: dict[str, Run | int | str] = {"full": run(evaluate_cmd(), cwd=repo, env=env)}
    total = len(list((repo / "eval" / "results").glob("*.json")))
    fresh(repo)
    found["stored at kill"], found["total"] = kill_at_half(repo, env, total), total
    found["rerun after kill"] = run(evaluate_cmd(), cwd=repo, env=env)
    found["every key matches"] = run(evaluate_cmd(), cwd=repo, env=env)
    added = found["task"] = names[-1]  # the last local or chat task
    suite = {k: list(params["suite"].get(k) or []) for k in ("tasks", "chat_tasks")}
    without = {k: [t for t in v if t != added] for k, v in suite.items()}
    set_suite(repo, params, without)
    run(evaluate_cmd(), cwd=repo, env=env)  # the suite without it: nothing evaluated
    set_suite(repo, params, suite)
    found["adding one task"] = run(evaluate_cmd(), cwd=repo, env=env)
    alone = {k: [t for t in v if t == added] for k, v in suite.items()}
    set_suite(repo, params, {**alone, "catalog": []})
    fresh(repo)
    found["that task alone"] = run(evaluate_cmd(), cwd=repo, env=env)
    return found


def task_unit(root: Path, scratch: Path, suite: dict | None = None) -> Section:
    """`suite`: overrides of params.yaml's suite (the small scale evaluates the local tasks only)."""
    repo, params = scratch_repo(root, scratch / "tasks-repo", suite or {})
    found = measure(repo, params, offline_env(root))
    full, rerun = found["full"], found["rerun after kill"]
    reuse, added, alone = found["every key matches"], found["adding one task"], found["that task alone"]
    assert isinstance(full, Run) and isinstance(rerun, Run) and isinstance(reuse, Run)
    assert isinstance(added, Run) and isinstance(alone, Run)
    killed, add_ratio = rerun.wall / full.wall, added.wall / alone.wall
    rows = [
        ["full evaluation, empty store (ref)", report.seconds(full.wall), "1.00x"],
        [
            f"rerun after kill -9 with {found['stored at kill']} of {found['total']} tasks stored",
            report.seconds(rerun.wall),
            report.ratio(killed),
        ],
        [
            "rerun, every key matching (no model loaded)",
            report.seconds(reuse.wall),
            report.ratio(reuse.wall / full.wall),
        ],
        [
            f"adding {found['task']} to the suite",
            report.seconds(added.wall),
            report.ratio(added.wall / full.wall),
        ],
        [
            f"{found['task']} alone, empty store",
            report.seconds(alone.wall),
            report.ratio(alone.wall / full.wall),
        ],
    ]
    names = ", ".join(params["suite"].get("tasks") or []) + (
        " + catalog" if params["suite"].get("catalog") else ""
    )
    return Section(
        "The task is the unit: resume, incremental suites, reuse",
        f"`evalpin evaluate` on the suite ({names}), each task evaluated on its own and stored in "
        "eval/results; the rerun after its process group was SIGKILLed once half the tasks were stored; "
        "adding a task to a suite whose other results are stored, against that task alone on an empty store "
        "(both start a process and load the model).",
        ["run", "wall", "vs full"],
        rows,
        [
            Verdict(
                f"rerun after a kill at half <= {KILL_LIMIT}x full",
                report.ratio(killed),
                killed <= KILL_LIMIT,
                "the tasks left were the longer ones",
            ),
            Verdict(
                f"adding one task <= {ADD_LIMIT}x that task alone",
                report.ratio(add_ratio),
                add_ratio <= ADD_LIMIT,
                "merging and key computation over the whole suite",
            ),
            Verdict(
                f"every key matching <= {REUSE_LIMIT_S:.0f} s",
                report.seconds(reuse.wall),
                reuse.wall <= REUSE_LIMIT_S,
                "resolving catalog names imports lm_eval.tasks (~3 s)",
            ),
        ],
    )


def main() -> None:  # `python -m bench.task_bench [--small]`: this section alone, printed
    import tempfile

    root = Path(__file__).resolve().parent.parent
    suite = {"catalog": []} if "--small" in sys.argv else None
    with tempfile.TemporaryDirectory(prefix="evalpin-bench-") as scratch:
        print(report.render_section(task_unit(root, Path(scratch), suite)))


if __name__ == "__main__":
    main()
