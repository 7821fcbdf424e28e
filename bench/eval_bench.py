"""Evaluation overhead (`evalpin evaluate` vs the bare `lm_eval` CLI) and CLI start-up.

Both evaluations run in a scratch copy of the parts of this repository that evaluation reads, so the
benchmark never rewrites eval/metrics.json or eval/samples/ here.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import yaml

from bench import report
from bench.measure import Run, interleaved, median_wall, run
from bench.report import Section, Verdict
from evalpin.base.environment import offline_environment
from evalpin.suite import catalog
from evalpin.suite.catalog_tree import locate, resolve
from support.repos import copy_paths

EVAL_LIMIT = 1.05
STARTUP_LIMIT_S = 0.3
RESOLVE_LIMIT_S = 1.0
COPIED = (
    "dvc.yaml",
    "params.yaml",
    "conf",
    "eval/tasks",
    "eval/data",
    "models/{name}",
    "models/{name}.lock.json",
)
HEAVY = ("torch", "lm_eval", "transformers", "dvc", "datasets")


def offline_env(root: Path) -> dict[str, str]:
    """This process's environment made offline, with `root`'s Hugging Face cache
    (src/evalpin/base/offline.env)."""
    return {**os.environ, **offline_environment(root)}


def lm_eval_command(repo: Path, params: dict, output: Path) -> list[str]:
    """The bare CLI with the settings `evalpin evaluate` takes from params.yaml."""
    model, inference, suite = params["model"], params["inference"], params["suite"]
    model_args = (
        f"pretrained={repo / 'models' / model['name']},dtype={inference['dtype']},"
        f"trust_remote_code={model['trust_remote_code']},add_bos_token={model['add_bos_token']}"
    )
    seed = inference["seed"]
    return [
        sys.executable,
        "-m",
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        model_args,
        "--tasks",
        ",".join(suite["tasks"]),
        "--include_path",
        str(repo / suite["include_path"]),
        "--batch_size",
        str(inference["batch_size"]),
        "--device",
        inference["device"],
        "--seed",
        f"{seed},{seed},{seed},{seed}",
        "--log_samples",
        "--output_path",
        str(output),
    ]


def scratch_repo(root: Path, target: Path, suite: dict) -> tuple[Path, dict]:
    """A scratch copy evaluating `suite` (params.yaml's suite, updated), with the pinned data restored."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    if any(not (root / "eval/data" / name).is_dir() for name in catalog.datasets(params["suite"])):
        run([str(Path(sys.executable).with_name("evalpin")), "restore"], cwd=root, env=offline_env(root))
    model = params["model"]["name"]
    repo = copy_paths(root, target, [path.format(name=model) for path in COPIED], symlinks=False)
    params["suite"] = {**params["suite"], **suite}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return repo, params


def evaluation(root: Path, scratch: Path, repeats: int) -> Section:
    repo, params = scratch_repo(root, scratch / "eval-repo", {"catalog": []})  # the local tasks
    env = offline_env(root)
    evalpin = [str(Path(sys.executable).with_name("evalpin")), "evaluate"]
    bare = lm_eval_command(repo, params, scratch / "lm_eval-out")
    runs = interleaved(
        {"lm_eval": lambda: run(bare, cwd=repo, env=env), "evalpin": lambda: run(evalpin, cwd=repo, env=env)},
        repeats,
    )
    ref, ours = median_wall(runs["lm_eval"]), median_wall(runs["evalpin"])
    rss = {k: max(r.max_rss_mb for r in v) for k, v in runs.items()}
    index = task_index_seconds(repo, str(repo / params["suite"]["include_path"]), env)
    return Section(
        "Evaluation overhead",
        f"`evalpin evaluate` (verify the delivery, run the suite through `lm_eval.simple_evaluate`, write "
        f"metrics and samples) against the bare `lm_eval` CLI on the same model, tasks and settings "
        f"(dtype, batch size, device, seeds, `--log_samples`), offline. Medians of {repeats} interleaved "
        "runs, each a fresh process.",
        ["command", "wall (median)", "all runs", "vs lm_eval", "peak RSS"],
        [
            timing_row("`python -m lm_eval ...` (ref)", runs["lm_eval"], ref, rss["lm_eval"]),
            timing_row("`evalpin evaluate`", runs["evalpin"], ref, rss["evalpin"]),
        ],
        [
            Verdict(
                f"evaluate <= {EVAL_LIMIT}x lm_eval",
                report.ratio(ours / ref),
                ours / ref <= EVAL_LIMIT,
                f"{100 * (ours / ref - EVAL_LIMIT):.0f} points over.",
            )
        ],
        [
            f"The bare CLI indexes lm-eval's built-in tasks as well as the local suite "
            f"({index['built-in']:.1f} s in this run) where `evalpin evaluate` indexes only eval/tasks "
            f"(`include_defaults=False`, {index['local']:.2f} s). That is most of the difference on a model "
            "this small; on a real model the forward passes dominate both and the ratio tends to 1."
        ],
    )


def task_index_seconds(repo: Path, include_path: str, env: dict[str, str]) -> dict[str, float]:
    """How long lm-eval takes to index tasks: the local suite alone, and with its built-in tasks too."""
    code = (
        "import sys, time\nfrom lm_eval.tasks import TaskManager\nt = time.perf_counter()\n"
        "TaskManager(include_path=sys.argv[1], include_defaults=sys.argv[2] == '1')\n"
        "print(time.perf_counter() - t)"
    )
    return {
        label: float(
            run([sys.executable, "-c", code, include_path, flag], cwd=repo, env=env).stdout.split()[-1]
        )
        for label, flag in (("local", "0"), ("built-in", "1"))
    }


def timing_row(label: str, runs: list[Run], ref: float, rss: float) -> list[str]:
    """command, median wall, every run's wall, median against the reference's, peak RSS."""
    wall = median_wall(runs)
    return [
        label,
        report.seconds(wall),
        ", ".join(f"{r.wall:.1f}" for r in runs),
        report.ratio(wall / ref),
        f"{rss:.0f} MiB",
    ]


def heavy_imports(root: Path) -> list[str]:
    """Modules from HEAVY that `evalpin --help` imports (there should be none)."""
    code = (
        "import sys\nfrom evalpin.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    last = run([sys.executable, "-c", code], cwd=root).stdout.strip().splitlines()[-1]
    return last.removeprefix("HEAVY:").split()


def startup(root: Path, repeats: int) -> Section:
    evalpin = Path(sys.executable).with_name("evalpin")
    runs = interleaved(
        {
            "pass": lambda: run([sys.executable, "-c", "pass"]),
            "help": lambda: run([evalpin, "--help"], cwd=root),
        },
        repeats,
    )
    ref, ours = median_wall(runs["pass"]), median_wall(runs["help"])
    heavy = heavy_imports(root)
    return Section(
        "CLI start-up",
        f"`evalpin --help` against `python -c pass` (the interpreter alone); medians of {repeats} runs.",
        ["command", "wall", "vs python -c pass"],
        [
            ["`python -c pass` (ref)", report.seconds(ref), "1.00x"],
            ["`evalpin --help`", report.seconds(ours), report.ratio(ours / ref)],
        ],
        [
            Verdict(f"`evalpin --help` < {STARTUP_LIMIT_S} s", report.seconds(ours), ours < STARTUP_LIMIT_S),
            Verdict(
                "no torch / lm-eval / transformers / dvc import on that path",
                ", ".join(heavy) or "none imported",
                not heavy,
            ),
        ],
    )


def reference_tasks(repo: Path, suite: dict, folder: Path) -> list[str]:
    """The suite's catalog tasks as a user writes them for the bare CLI without evalpin: one YAML per task
    that includes the catalog's and points dataset_path at the pinned snapshot; a group YAML per group."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for entry in catalog.entries(suite):
        data = str(repo / "eval/data" / entry["data"])
        if entry["group"]:
            members = [{"task": t, "dataset_path": data} for t in entry["tasks"]]
            scored = {t: catalog.primary_score(resolve(t).config) for t in entry["tasks"]}
            config = {**catalog.group_config(f"ref_{entry['group']}", scored), "task": members}
        else:
            task = entry["tasks"][0]
            config = {"include": str(locate(task)), "task": f"ref_{task}", "dataset_path": data}
        names.append(config.get("group") or config["task"])
        (folder / f"{names[-1]}.yaml").write_text(yaml.safe_dump(config))
    return names


def catalog_resolution(repo: Path, suite: dict) -> dict[str, float]:
    """Seconds to locate and check the suite's catalog tasks and index only their folders, against
    indexing lm-eval's whole catalog (what the bare CLI and `TaskManager()` do)."""
    from lm_eval.tasks import TaskManager

    started = time.perf_counter()
    folders = sorted({spec.folder for spec in catalog.leaf_specs(repo, suite).values()})
    TaskManager(include_path=folders, include_defaults=False)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    TaskManager(include_defaults=True)
    return {"evalpin": ours, "whole catalog": time.perf_counter() - started}


def catalog_evaluation(root: Path, scratch: Path, repeats: int) -> Section:
    standard = yaml.safe_load((root / "params.yaml").read_text())["suite"]
    repo, params = scratch_repo(root, scratch / "catalog-repo", {"tasks": [], "chat_tasks": []})
    env = offline_env(root)
    tasks = reference_tasks(repo, standard, scratch / "catalog-ref-tasks")
    bare = lm_eval_command(
        repo,
        {**params, "suite": {"tasks": tasks, "include_path": str(scratch / "catalog-ref-tasks")}},
        scratch / "catalog-out",
    )
    evalpin = [str(Path(sys.executable).with_name("evalpin")), "evaluate"]
    runs = interleaved(
        {"lm_eval": lambda: run(bare, cwd=repo, env=env), "evalpin": lambda: run(evalpin, cwd=repo, env=env)},
        repeats,
    )
    ref, ours = median_wall(runs["lm_eval"]), median_wall(runs["evalpin"])
    rss = {k: max(r.max_rss_mb for r in v) for k, v in runs.items()}
    resolved = catalog_resolution(repo, standard)
    names = ", ".join(f"`{t}`" for t in catalog.task_data(standard))
    return Section(
        "Catalog benchmarks on pinned data",
        f"The catalog tasks of conf/suite/standard.yaml ({names}, the mmlu subjects as a group) on the "
        "demo's pinned datasets: `evalpin evaluate` against the bare `lm_eval` CLI given the same tasks as a "
        "user writes them without evalpin (a YAML that `include:`s the catalog's and sets `dataset_path`; a "
        f"group YAML), same settings. Medians of {repeats} interleaved runs, each a fresh process. Then the "
        "cost of finding the tasks: evalpin locates them and indexes only their folders; `TaskManager()` "
        "indexes the whole catalog.",
        ["command", "wall (median)", "all runs", "vs lm_eval", "peak RSS"],
        [
            timing_row("`python -m lm_eval ...` (ref)", runs["lm_eval"], ref, rss["lm_eval"]),
            timing_row("`evalpin evaluate`", runs["evalpin"], ref, rss["evalpin"]),
            ["locate + index the suite's catalog tasks", report.seconds(resolved["evalpin"]), "", "", ""],
            ["`TaskManager()`: the whole catalog", report.seconds(resolved["whole catalog"]), "", "", ""],
        ],
        [
            Verdict(
                f"evaluate <= {EVAL_LIMIT}x lm_eval",
                report.ratio(ours / ref),
                ours / ref <= EVAL_LIMIT,
                f"{100 * (ours / ref - EVAL_LIMIT):.0f} points over.",
            ),
            Verdict(
                f"catalog tasks resolved in < {RESOLVE_LIMIT_S} s",
                report.seconds(resolved["evalpin"]),
                resolved["evalpin"] < RESOLVE_LIMIT_S,
            ),
        ],
    )
