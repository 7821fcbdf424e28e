"""evalpin reproduce under another numerics class on this machine (ATEN_CPU_CAPABILITY=default): exact in
portable mode (exit 0), equivalent in fast mode (exit 4), each step shown while it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evalpin.base.numerics import PORTABLE_ENV
from support import git
from support.commands import subprocess_env

OTHER_CLASS = {"ATEN_CPU_CAPABILITY": "default"}  # ATen's plain kernels: other bits than AVX2's or AVX-512's


def machine_env(repo: Path, **extra: str) -> dict[str, str]:
    """The environment of a shell on this machine: none of the portable variables the tests export."""
    env = {k: v for k, v in subprocess_env(repo).items() if k not in PORTABLE_ENV}
    return {**env, **extra}


def reproduce(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "evalpin", "reproduce", "HEAD"]
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, check=False)


@pytest.mark.numerics
@pytest.mark.slow
def test_a_portable_baseline_reproduces_exactly_under_another_class(reproduced_repo):
    proc = reproduce(reproduced_repo, machine_env(reproduced_repo, **OTHER_CLASS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reproduction: exact (the same bytes; numerics class cpu-portable-" in proc.stdout
    steps = [line for line in proc.stderr.splitlines() if line.startswith("reproduce [")]
    assert [s.split("]")[0] for s in steps] == [f"reproduce [{n}/5" for n in range(1, 6)]
    assert "    Running stage 'evaluate':" in proc.stderr  # dvc repro's own progress, as it comes


@pytest.mark.numerics
@pytest.mark.slow
def test_a_fast_baseline_reproduces_equivalently_under_another_class(reproduced_repo):
    conf = reproduced_repo / "conf/inference/cpu-fp32.yaml"
    conf.write_text(conf.read_text().replace("numerics: portable", "numerics: fast"))
    env = machine_env(reproduced_repo)
    subprocess.run([sys.executable, "-m", "evalpin", "compose"], cwd=reproduced_repo, env=env, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=reproduced_repo, env=env, check=True)
    git(reproduced_repo, "add", "-A")
    git(reproduced_repo, "commit", "-qm", "fast baseline")
    assert "cpu-fast-" in git(reproduced_repo, "show", "HEAD:eval/fingerprint.json").stdout
    proc = reproduce(reproduced_repo, {**env, **OTHER_CLASS})
    assert proc.returncode == 4, proc.stdout + proc.stderr
    line = next(x for x in proc.stdout.splitlines() if "reproduction:" in x)
    assert "reproduction: equivalent (every decision equal; numerics class cpu-fast-" in line
    assert "largest log-likelihood difference" in line and "(cpu-fast vs cpu-fast)" in line
