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


def _commands(job: str = "evaluate") -> list[str]:
    steps = _steps() if job == "evaluate" else yaml.safe_load(WORKFLOW.read_text())["jobs"][job]["steps"]
    return [line.strip() for step in steps for line in step.get("run", "").splitlines() if line.strip()]


def test_workflow_sets_up_pulls_reproduces_compares_and_comments():
    runs = "\n".join(_commands())
    for expected in ("make setup", ".venv/bin/dvc pull", ".venv/bin/dvc repro", "evalpin compare"):
        assert expected in runs
    assert "--format markdown" in runs
    assert any("sticky-pull-request-comment" in step.get("uses", "") for step in _steps())


def test_a_scheduled_job_checks_the_endpoint_of_the_release_in_prod():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True]["schedule"][0]["cron"] and workflow["jobs"]["evaluate"]["if"]
    job = workflow["jobs"]["check-prod-server"]
    assert job["if"] == "github.event_name != 'pull_request'"
    runs = "\n".join(_commands("check-prod-server"))
    assert 'evalpin check-server "$version" --url "$URL"' in runs and "--no-deps" in runs
    env = next(step["env"] for step in job["steps"] if "env" in step)
    assert (
        env["URL"] == "${{ vars.EVALPIN_PROD_URL }}"
        and "secrets.EVALPIN_SERVER_TOKEN" in env["EVALPIN_SERVER_TOKEN"]
    )


def test_every_evalpin_subcommand_and_make_target_it_calls_exists():
    subcommands = build_parser()._subparsers._group_actions[0].choices
    makefile = (TEMPLATE / "Makefile").read_text()
    for line in [*_commands(), *_commands("check-prod-server")]:
        for match in re.finditer(r"evalpin (\S+)", line):
            assert match.group(1) in subcommands, line
        if line.startswith("make "):
            target = shlex.split(line)[1]
            assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
