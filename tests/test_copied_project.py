"""A project made from the template, on evalpin installed by version from the wheel built in this run:
copy it without the demo, `make setup`, pin a model, `make repro`, release; then upgrade to a newer
template version (a newer wheel) with `copier update` and its one changed pin, and reproduce the old tag
with the old version. Real copier, pip, DVC, lm-eval and git; pip finds every locked package already
installed (a layered .venv, support/venvs.py) and evalpin in the run's wheel directory, nothing else.
Minutes: `make walkthrough` runs it (CI too), `make test` leaves it out."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from evalpin import __version__ as VERSION
from support import TEMPLATE, demo_commit, git
from support.commands import subprocess_env
from support.repos import checkout_files, commit_all, copy_paths, init_repo
from support.venvs import build_wheel, warm_venv

pytestmark = [pytest.mark.slow, pytest.mark.walkthrough]

MAJOR, MINOR, PATCH = (int(part) for part in re.match(r"(\d+)\.(\d+)\.(\d+)", VERSION).groups())
NEXT = f"{MAJOR}.{MINOR}.{PATCH + 1}"
MODEL = "tiny"


def run(cwd: Path, env: dict[str, str], *cmd: str, code: int = 0) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == code, f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def template_repo(path: Path) -> Path:
    """This checkout's files (tracked and new, not ignored) as a git repository tagged v{VERSION}."""
    copy_paths(TEMPLATE, path, checkout_files())
    init_repo(path, f"evalpin {VERSION}")
    git(path, "tag", f"v{VERSION}")
    return path


def next_version(template: Path) -> None:
    """The template's next release: evalpin NEXT (its version and requirements.txt's pin), tagged."""
    for rel in ("src/evalpin/__init__.py", "requirements.txt"):
        path = template / rel
        path.write_text(path.read_text().replace(VERSION, NEXT, 1))
    commit_all(template, f"evalpin {NEXT}")
    git(template, "tag", f"v{NEXT}")


def add_a_task(project: Path) -> None:
    """One local task of the user's own (the demo's colour question, copied), in the suite main."""
    shutil.copy(TEMPLATE / "eval/tasks/demo_color_mc.yaml", project / "eval/tasks/color_mc.yaml")
    (project / "eval/tasks/data").mkdir()
    shutil.copy(TEMPLATE / "eval/tasks/data/color_mc.jsonl", project / "eval/tasks/data/color_mc.jsonl")
    shutil.copy(TEMPLATE / "eval/tasks/utils.py", project / "eval/tasks/utils.py")  # its !function
    task = project / "eval/tasks/color_mc.yaml"
    task.write_text(task.read_text().replace("task: demo_color_mc", "task: color_mc"))
    suite = project / "conf/suite/main.yaml"
    suite.write_text(suite.read_text().replace("\ntasks: []", "\ntasks: [color_mc]", 1))


def test_a_project_pins_evalpin_by_version_upgrades_and_reproduces_its_old_tag(tmp_path):
    wheels = tmp_path / "wheels"
    template = template_repo(tmp_path / "template")
    build_wheel(template, wheels)
    project = tmp_path / "acme"
    env = {**subprocess_env(project), "PIP_FIND_LINKS": str(wheels), "PIP_NO_INDEX": "1"}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if "/.venv/" not in p)
    copier = [sys.executable, "-m", "copier"]
    run(
        tmp_path,
        env,
        *copier,
        "copy",
        "--defaults",
        "--vcs-ref",
        f"v{VERSION}",
        "--data",
        "demo=false",
        str(template),
        str(project),
    )
    init_repo(project, "Start acme from the evalpin template")
    files = git(project, "ls-files").stdout.split()
    assert len(files) <= 40 and not [f for f in files if f.startswith(("src/", "tests/", "bench/", "docs/"))]

    warm_venv(project / ".venv")
    started = time.monotonic()
    said = run(project, env, "make", "setup")
    setup_s = time.monotonic() - started
    assert f"evalpin {VERSION}" in said and (project / ".venv/lib").exists()
    evalpin = str(project / ".venv/bin/evalpin")

    pinned = run(
        project,
        env,
        evalpin,
        "pin",
        "evalpin/demo-tiny",
        "--revision",
        demo_commit("r1"),
        "--upstream",
        str(TEMPLATE / "demo/hub"),
        "--name",
        MODEL,
    )
    assert f"selected as the evaluated model (none was): conf/config.yaml, params.yaml name {MODEL}" in pinned
    add_a_task(project)
    run(project, env, "make", "repro")
    started = time.monotonic()
    run(project, env, "make", "check")
    check_s = time.monotonic() - started
    assert check_s < 60
    fingerprint = yaml.safe_load((project / "eval/fingerprint.json").read_text())
    assert fingerprint["runtime"]["evalpin"] == VERSION
    commit_all(project, f"Evaluate {MODEL}")
    run(project, env, evalpin, "remote", "init-local", str(tmp_path / "remote"))
    run(project, env, evalpin, "release", MODEL, "-m", "first baseline")
    metrics = (project / "eval/metrics.json").read_bytes()

    # the upgrade: a new template version, whose evalpin is one pin away
    next_version(template)
    build_wheel(template, wheels, NEXT)
    run(project, env, *copier, "update", "--defaults", "--vcs-ref", f"v{NEXT}")
    changed = sorted(line[3:] for line in git(project, "status", "--porcelain").stdout.splitlines())
    assert changed == [".copier-answers.yml", "requirements.txt"], changed
    assert git(project, "diff", "--numstat", "requirements.txt").stdout.startswith("1\t1\t")
    said = run(project, env, "make", "setup")
    assert f"evalpin {NEXT}" in said
    said = run(project, env, "make", "repro")
    assert "evaluate: 1 of 1 tasks reused, 0 to run" in said  # a version that changes no result
    assert (project / "eval/metrics.json").read_bytes() == metrics
    commit_all(project, f"evalpin {NEXT}")

    # the old tag, reproduced with the version it pinned
    said = run(project, env, evalpin, "reproduce", f"{MODEL}@v1.0.0")
    assert f"ran with evalpin {VERSION}, as the revision pins (a scratch environment" in said
    assert "reproduction: exact" in said
    git(project, "checkout", "-q", f"{MODEL}@v1.0.0")
    said = run(project, env, "make", "setup")
    assert f"evalpin {VERSION}" in said
    print(f"make setup {setup_s:.1f} s (evalpin alone to install), make check {check_s:.1f} s")
