"""Running evalpin, dvc and git in a scratch repository as a user would: offline, with this venv's tools."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from unittest import mock

from evalpin.base.environment import offline_environment


def subprocess_env(repo: Path) -> dict[str, str]:
    """This process's environment, offline (src/evalpin/base/offline.env) with `repo`'s own Hugging Face
    cache, this venv's executables first on PATH, and no DVC experiment of an enclosing run."""
    env = {**os.environ, **offline_environment(repo)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("DVC_EXP_NAME", None)
    return env


def run(repo: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, cwd=repo, env=subprocess_env(repo), capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def killed_at(repo: Path, point: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    """Run `cmd` with evalpin's kill hook armed at `point` (atomic.kill_point: SIGKILL, as hard as
    kill -9, no cleanup); fails unless the process really died there."""
    from evalpin.base.atomic import KILL_ENV

    env = {**subprocess_env(repo), KILL_ENV: point}
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != -signal.SIGKILL:
        raise AssertionError(
            f"{' '.join(cmd)}: not killed at {point} (exit {proc.returncode})\n{proc.stderr}"
        )
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


def pipeline_changes(repo: Path) -> dict:
    """`dvc status --json` less the verify stage's "always changed" (dvc.yaml: it runs on every `dvc repro`):
    empty when nothing would rerun for a changed dependency, parameter or output."""
    status = json.loads(dvc(repo, "status", "--json").stdout or "{}")
    return {stage: changes for stage, changes in status.items() if changes != ["always changed"]}
