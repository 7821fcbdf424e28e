"""Several pinned models evaluated in parallel through DVC's experiment queue, compared in `dvc exp show`,
by experiment name with evalpin, and one of them kept (docs/experiments.md)."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest

from support import committed_scores, dvc, evalpin, git, pin_demo, pipeline_changes

pytestmark = pytest.mark.slow
# The scores-only table of docs/experiments.md: --drop and --keep take regexes matched against the whole
# column name.
SCORES_ONLY = "dvc exp show --drop '.*' --keep 'Experiment|model\\.name|.*\\.score' --md"
DOC = Path(__file__).resolve().parents[2] / "docs" / "experiments.md"


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


@pytest.mark.slow
@pytest.mark.walkthrough  # 49-63 s, two queued pipeline runs: `make walkthrough` (CI), for make test's budget
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
    kept = template_repo / ".evalpin/results/demo_color_mc"  # both runs' results, kept in the repository
    assert len(list(kept.glob("*.json"))) == 2  # the workspace's next run of either model is a lookup
    by_model = {run["model"]: name for name, run in experiments(template_repo).items()}
    scores_only_table_shows_the_experiments(template_repo, by_model)
    compared_and_kept_by_name(template_repo, by_model["demo-tiny"], by_model["demo-tiny-r3"])


def scores_only_table_shows_the_experiments(repo, by_model: dict[str, str]) -> None:
    assert SCORES_ONLY in DOC.read_text()
    table = dvc(repo, *shlex.split(SCORES_ONLY)[1:]).stdout.splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[0] == "Experiment" and header[1] == "suite.score" and header[-1] == "model.name"
    assert all(column.endswith(".score") for column in header[1:-1]) and len(header) > 3, header
    rows = "\n".join(table[2:])
    assert all(name in rows for name in by_model.values()), table


def compared_and_kept_by_name(repo, r1: str, r3: str) -> None:
    """The names `dvc exp show` prints are revisions for compare and outputs-diff; `evalpin keep` applies
    one and writes its parameters into conf/, so the workspace passes `compose --check`, and `dvc repro`
    re-verifies (verify runs on every `dvc repro`) without evaluating again."""
    compared = evalpin(repo, "compare", "--baseline", r1, "--candidate", r3, check=False)
    assert compared.returncode != 2 and f"{r3} against baseline {r1}" in compared.stdout, compared.stderr
    assert "demo_color_mc" in evalpin(repo, "outputs-diff", r1, r3).stdout
    missing = evalpin(repo, "keep", "lush-ovoid", check=False)
    assert missing.returncode == 2 and "lush-ovoid: no DVC experiment of that name" in missing.stderr
    kept = evalpin(repo, "keep", r3).stdout
    assert "conf/config.yaml: model: demo-tiny-r3" in kept
    changed = git(repo, "diff", "-U0", "conf").stdout.splitlines()
    edits = [line.split("#")[0] for line in changed if line.startswith(("+ ", "- "))]
    assert edits == ["-  - model: demo-tiny          ", "+  - model: demo-tiny-r3       "]  # comment kept
    assert evalpin(repo, "compose", "--check").returncode == 0
    metrics = (repo / "eval/metrics.json").read_text()
    rerun = dvc(repo, "repro").stdout  # conf/ changed: verify reruns (seconds); the scores are kept
    assert "Running stage 'verify'" in rerun and "Running stage 'evaluate'" not in rerun, rerun
    assert (repo / "eval/metrics.json").read_text() == metrics
    assert pipeline_changes(repo) == {}
    git(repo, "tag", r1, "HEAD")  # a git revision of the same name wins: HEAD has no committed metrics
    shadowed = evalpin(repo, "compare", "--baseline", r1, "--candidate", r3, check=False)
    assert shadowed.returncode == 2 and f"{r1}: cannot read eval/metrics.json from git" in shadowed.stderr
