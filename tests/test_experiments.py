"""Several pinned models evaluated in parallel through DVC's experiment queue, compared in `dvc exp show`."""

from __future__ import annotations

import json
import time

import pytest

from support import committed_scores, dvc, evalpin, git, pin_demo

pytestmark = pytest.mark.slow


def experiments(repo) -> dict[str, dict]:
    """name -> {"model": model.name, "metrics": eval/metrics.json} for every finished experiment."""
    found: dict[str, dict] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            data = node.get("data") or {}
            metrics = (data.get("metrics") or {}).get("eval/metrics.json", {}).get("data")
            params = (data.get("params") or {}).get("params.yaml", {}).get("data")
            if node.get("name") and metrics and params:
                found[node["name"]] = {"model": params["model"]["name"], "metrics": metrics}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(dvc(repo, "exp", "show", "--json").stdout))
    return found


def experiment_refs(repo) -> list[str]:
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/exps").stdout.split()
    return [ref for ref in refs if "/exec/" not in ref]


def test_queued_experiments_evaluate_two_pinned_models_in_parallel(template_repo):
    pin_demo(template_repo, "r1")  # demo-tiny: the default model in conf/config.yaml
    pin_demo(template_repo, "r3", "--name", "demo-tiny-r3")
    evalpin(template_repo, "compose")
    git(template_repo, "add", "-A")
    git(template_repo, "commit", "-qm", "pin r1 and r3")

    queued = dvc(template_repo, "exp", "run", "--queue", "-S", "model=demo-tiny,demo-tiny-r3")
    assert queued.stdout.count("Queued experiment") == 2
    started = time.monotonic()
    dvc(template_repo, "queue", "start", "-j", "2")  # two workers, one per experiment
    while len(experiment_refs(template_repo)) < 2 and time.monotonic() - started < 420:
        time.sleep(0.5)  # polling git refs costs nothing; `dvc queue status` costs a second of CPU
    status = dvc(template_repo, "queue", "status").stdout
    assert status.count("Success") == 2, status
    print(f"two queued evaluations with -j 2: {time.monotonic() - started:.1f} s")

    runs = {run["model"]: run["metrics"] for run in experiments(template_repo).values()}
    assert set(runs) == {"demo-tiny", "demo-tiny-r3"}
    assert runs["demo-tiny"]["tasks"] == committed_scores(runs["demo-tiny"])  # parallel = the baseline
    assert runs["demo-tiny-r3"] != runs["demo-tiny"]  # r3 is another fine-tune: its scores differ
    assert git(template_repo, "status", "--porcelain").stdout == ""  # the workspace was never touched
