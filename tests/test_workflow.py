"""The GitHub Actions workflow for template users cannot run here: check its shape and its commands."""

import re
import shlex

import yaml

from evalpin.cli import build_parser
from support import TEMPLATE

WORKFLOW = TEMPLATE / ".github/workflows/evalpin.yml"


def _steps() -> list[dict]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in workflow[True]  # PyYAML reads the key `on` as True
    assert workflow["permissions"]["pull-requests"] == "write"
    return workflow["jobs"]["evaluate"]["steps"]


def _commands() -> list[str]:
    return [line.strip() for step in _steps() for line in step.get("run", "").splitlines() if line.strip()]


def test_workflow_sets_up_pulls_reproduces_compares_and_comments():
    runs = "\n".join(_commands())
    for expected in ("make setup", ".venv/bin/dvc pull", ".venv/bin/dvc repro", "evalpin compare"):
        assert expected in runs
    assert "--format markdown" in runs
    assert any("sticky-pull-request-comment" in step.get("uses", "") for step in _steps())


def test_every_evalpin_subcommand_and_make_target_it_calls_exists():
    subcommands = build_parser()._subparsers._group_actions[0].choices
    makefile = (TEMPLATE / "Makefile").read_text()
    for line in _commands():
        for match in re.finditer(r"evalpin (\S+)", line):
            assert match.group(1) in subcommands, line
        if line.startswith("make "):
            target = shlex.split(line)[1]
            assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
