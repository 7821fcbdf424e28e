"""`evalpin clean-start` on a scratch copy of the template (a real git repository): the demo's pins, run
and selection go, the user's own pins stay, and what is left still builds the tests' scratch repos."""

from __future__ import annotations

import ast
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from evalpin.config.compose import NO_MODEL, compose
from evalpin.delivery.demo import DEMO_UPSTREAM
from evalpin.pinning.pin import pin_dataset
from evalpin.pinning.requests import DataPinRequest
from evalpin.template.clean_start import NO_MODEL_PARAMS
from support import (
    ARC_COMMIT,
    TEMPLATE,
    dvc,
    evalpin,
    git,
    make_template_repo,
    pin_demo_data,
    run,
    write_dataset_cache,
)

SUPPORT = TEMPLATE / "tests" / "support"


def copy_checkout(target: Path) -> Path:
    """This checkout's files as a clone has them (tracked plus new, not ignored), committed on main."""
    listed = git(TEMPLATE, "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout
    for rel in sorted({f for f in listed.split("\0") if f and os.path.lexists(TEMPLATE / f)}):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / rel, target / rel, follow_symlinks=False)
    git(target, "init", "-q", "-b", "main")
    git(target, "config", "user.email", "test@evalpin.invalid")
    git(target, "config", "user.name", "evalpin tests")
    git(target, "add", "-A")
    git(target, "commit", "-qm", "the template, demo included")
    return target


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A copy of the template with a dataset of the user's own pinned, then clean-started twice."""
    project = copy_checkout(tmp_path_factory.mktemp("clean") / "project")
    write_dataset_cache(project / "hub")
    pin_dataset(project, DataPinRequest("tests/arc", ARC_COMMIT, "mine", "hub", include=("ARC-Easy/*",)))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "my own dataset")
    (project / "eval/metrics.json").write_text("{}\n")  # an uncommitted edit to a file it would remove
    refused = evalpin(project, "clean-start", check=False)
    git(project, "checkout", "eval/metrics.json")
    first = evalpin(project, "clean-start")
    status = git(project, "status", "--porcelain").stdout
    second = evalpin(project, "clean-start")
    return {"project": project, "refused": refused, "first": first, "second": second, "status": status}


def test_uncommitted_changes_are_refused_in_one_line_naming_the_fix(cleaned):
    refused = cleaned["refused"]
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == (
        "evalpin: clean-start: uncommitted changes to eval/metrics.json, which it would remove or rewrite; "
        "commit or stash them (`git stash`), then rerun `evalpin clean-start`.\n"
    )


def test_no_demo_pin_run_or_selection_is_left_and_the_users_pin_is_kept(cleaned):
    project = cleaned["project"]
    locks = [*project.glob("models/*.lock.json"), *project.glob("eval/data/*.lock.json")]
    assert [p.name for p in locks] == ["mine.lock.json"]  # the user's, pinned from its own hub
    assert json.loads(locks[0].read_text())["source"]["upstream"] != DEMO_UPSTREAM
    assert sorted(p.name for p in (project / "conf/data").iterdir()) == ["mine.yaml"]
    assert not list((project / "conf/model").iterdir()) and not list(project.glob("models/*"))
    for rel in ("eval/metrics.json", "eval/fingerprint.json", "eval/verified.json", "dvc.lock"):
        assert not (project / rel).exists(), rel
    assert "artifacts" not in yaml.safe_load((project / "dvc.yaml").read_text())
    assert (project / "demo/hub").is_dir() and (project / "conf/suite/demo.yaml").is_file()  # unselected
    config = (project / "conf/config.yaml").read_text()
    assert "  - model: ???                # which pinned delivery" in config and "  - suite: main  " in config
    suite = yaml.safe_load((project / "conf/suite/main.yaml").read_text())
    assert (suite["tasks"], suite["chat_tasks"], suite["catalog"]) == ([], [], [])
    out = cleaned["first"].stdout
    assert "removed models/demo-tiny.lock.json" in out and "removed eval/data/arc.lock.json" in out
    assert (
        "clean-start: removed the demo's 1 model(s) and 4 dataset(s); kept your pins: eval/data/mine" in out
    )
    assert "next: HF_HUB_OFFLINE=0 evalpin pin ORG/NAME" in out and "evalpin use NAME" in out
    assert " D models/demo-tiny.lock.json" in cleaned["status"] and "mine" not in cleaned["status"]


def test_it_is_idempotent(cleaned):
    assert cleaned["second"].stdout.startswith("clean-start: nothing of the demo is left here")
    assert git(cleaned["project"], "status", "--porcelain").stdout == cleaned["status"]


def test_compose_dvc_repro_and_make_demo_name_the_next_step(cleaned):
    project = cleaned["project"]
    assert (project / "params.yaml").read_text() == NO_MODEL_PARAMS
    with pytest.raises(Exception, match=r"no model is selected .* then `evalpin use NAME`"):
        compose(project)
    proc = evalpin(project, "compose", check=False)
    assert proc.returncode == 2 and proc.stderr == f"evalpin: {NO_MODEL}\n"
    repro = dvc(project, "repro", check=False)
    assert repro.returncode != 0 and "Could not find 'model.name'" in repro.stderr
    make = run(project, "make", "-s", "demo")  # before any .venv: no `make setup` either
    assert make.stdout.startswith("make demo: the demo was removed from this project (evalpin clean-start)")
    assert len(make.stdout.splitlines()) == 1 and not (project / ".venv").exists()


def test_the_tests_scratch_repos_build_from_a_clean_started_project(cleaned, tmp_path):
    repo = make_template_repo(tmp_path / "repo", source=cleaned["project"])
    assert yaml.safe_load((repo / "params.yaml").read_text())["model"]["name"] == "demo-tiny"
    assert compose(repo)["suite"]["name"] == "demo"
    pin_demo_data(repo, "hellaswag")  # from the project's demo/hub, which clean-start keeps
    assert (repo / "eval/data/hellaswag.lock.json").is_file()


def template_paths(tree: ast.AST) -> set[str]:
    """Every `TEMPLATE / "a" / "b"` in a module, as "a/b": the paths it reads from the project itself."""
    found = set()
    for node in ast.walk(tree):
        parts = []
        while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            if isinstance(node.right, ast.Constant) and isinstance(node.right.value, str):
                parts.insert(0, node.right.value)
            node = node.left
        if parts and isinstance(node, ast.Name) and node.id == "TEMPLATE":
            found.add("/".join(parts))
    return found


def test_the_test_support_reads_nothing_clean_start_removes(cleaned):
    removed = {line.removeprefix("removed ") for line in cleaned["first"].stdout.splitlines()}
    removed = {rel for rel in removed if "/" in rel or rel == "dvc.lock"}
    read = {rel for module in SUPPORT.glob("*.py") for rel in template_paths(ast.parse(module.read_text()))}
    assert "demo/metrics.json" in read  # the check sees what support reads
    assert not {rel for rel in read if any(rel == r or rel.startswith(f"{r}/") for r in removed)}
