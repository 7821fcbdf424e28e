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
from support import REAL_REPO_ID, TEMPLATE, git
from support.commands import subprocess_env
from support.repos import checkout_files, commit_all, copy_paths, init_repo
from support.venvs import build_wheel, warm_venv

pytestmark = [pytest.mark.slow, pytest.mark.walkthrough]

MAJOR, MINOR, PATCH = (int(part) for part in re.match(r"(\d+)\.(\d+)\.(\d+)", VERSION).groups())
NEXT = f"{MAJOR}.{MINOR}.{PATCH + 1}"
MODEL = "smollm2"


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


def printed_commands(message: str) -> list[str]:
    """The commands copier's message prints, in order: its lines indented by two spaces, comments dropped."""
    lines = [line[2:] for line in message.splitlines() if line.startswith("  ") and line[2:3] != " "]
    return [line.split("  #", 1)[0].strip() for line in lines if line.strip()]


def test_the_printed_path_pins_the_real_model_upgrades_and_reproduces_its_old_tag(
    tmp_path, real_upstream, monkeypatch
):
    """What copier prints, run as printed from a shell without an activated venv (no demo: copy, git,
    make setup, pin the real model, add a task, use + make repro + commit); then the README's remote and
    release, an experiment left and entered again (nothing evaluated the second time), an upgrade, and the
    old tag reproduced with the evalpin it pinned."""
    for role in ("AUTHOR", "COMMITTER"):  # the user's git identity, as their ~/.gitconfig gives it
        monkeypatch.setenv(f"GIT_{role}_NAME", "evalpin tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@evalpin.invalid")
    wheels = tmp_path / "wheels"
    template = template_repo(tmp_path / "template")
    build_wheel(template, wheels)
    project = tmp_path / "acme"
    env = {**subprocess_env(project), "PIP_FIND_LINKS": str(wheels), "PIP_NO_INDEX": "1"}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if "/.venv/" not in p)
    copier = [sys.executable, "-m", "copier"]
    answers = ("demo=false", f"model_repo_id={REAL_REPO_ID}", f"model_revision={real_upstream['r1']}")
    said = run(
        tmp_path,
        env,
        *copier,
        "copy",
        "--defaults",
        "--vcs-ref",
        f"v{VERSION}",
        *(arg for answer in (*answers, f"model_name={MODEL}") for arg in ("--data", answer)),
        str(template),
        str(project),
    )
    commands = printed_commands(said[said.index("is ready") :])
    assert commands[0] == f"cd {project}" and commands[2] == "make setup", commands
    said_by, took = {}, {}
    for line in commands[1:]:
        if line.startswith("$EDITOR conf/suite/main.yaml"):
            add_a_task(project)  # what the user types into the suite
            continue
        if "evalpin pin " in line:
            line += f" --upstream {real_upstream['hub']}"  # the message's air-gapped instruction
        if line == "make setup":
            warm_venv(project / ".venv")
        started = time.monotonic()
        said_by[line] = run(project, env, "bash", "-ec", line)
        took[line] = time.monotonic() - started
    pinned = next(said for line, said in said_by.items() if "evalpin pin " in line)
    assert f"selected as the evaluated model (none was): conf/config.yaml, params.yaml name {MODEL}" in pinned
    first = git(project, "rev-list", "--max-parents=0", "HEAD").stdout.strip()  # what copier gave
    files = git(project, "ls-tree", "-r", "--name-only", first).stdout.split()
    assert len(files) <= 40 and not [f for f in files if f.startswith(("src/", "tests/", "bench/", "docs/"))]
    assert (
        f"evalpin {VERSION}" in said_by["make setup"] and git(project, "status", "--porcelain").stdout == ""
    )
    started = time.monotonic()
    run(project, env, "make", "check")
    check_s = time.monotonic() - started
    assert check_s < 60
    fingerprint = yaml.safe_load((project / "eval/fingerprint.json").read_text())
    assert fingerprint["runtime"]["evalpin"] == VERSION
    evalpin = str(project / ".venv/bin/evalpin")
    run(project, env, "bash", "-ec", ".venv/bin/evalpin remote init-local")  # the message's remote
    run(project, env, "bash", "-ec", f'.venv/bin/evalpin release {MODEL} -m "first baseline"')  # the README's
    metrics = (project / "eval/metrics.json").read_bytes()

    # an experiment, left and entered again: the second time is a lookup (.evalpin/results)
    dvc = str(project / ".venv/bin/dvc")
    said = run(project, env, dvc, "exp", "run", "-S", "inference.batch_size=2")
    assert "0 of 1 tasks reused, 1 to run" in said
    run(project, env, "bash", "-ec", f"git checkout -- . && {dvc} checkout --quiet")
    assert "Stage 'evaluate' didn't change" in run(project, env, "make", "repro")  # DVC restored it all
    said = run(project, env, dvc, "exp", "run", "-S", "inference.batch_size=2")
    assert "reused (evaluated before with these inputs" in said and "1 of 1 tasks reused, 0 to run" in said
    run(project, env, "bash", "-ec", f"git checkout -- . && {dvc} checkout --quiet")
    assert git(project, "status", "--porcelain").stdout == ""

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
    setup_s = took["make setup"]
    print(f"make setup {setup_s:.1f} s (evalpin alone to install), make check {check_s:.1f} s")
