"""dvc.yaml's stages depend on the code they run: every evalpin file a stage's command can load is covered
by that stage's deps (computed from the sources, so it stays true as modules move), and DVC sees a change.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from support import TEMPLATE, dvc, pipeline_changes

PYPROJECT = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())
SOURCES = TEMPLATE / PYPROJECT["tool"]["setuptools"]["packages"]["find"]["where"][0]
PACKAGE = "evalpin"


def entry_modules(cmd: str) -> list[str]:
    """The modules a stage command starts in: a console script's (pyproject.toml) or `python -m MODULE`'s."""
    words = shlex.split(cmd)
    scripts = PYPROJECT["project"]["scripts"]
    if words[0] in scripts:
        return [scripts[words[0]].split(":")[0]]
    if len(words) > 2 and words[0].startswith("python") and words[1] == "-m":
        return [words[2], f"{words[2]}.__main__"]
    return []


def module_file(name: str) -> Path | None:
    """The source file of module `name` under SOURCES, found without importing it."""
    base = SOURCES.joinpath(*name.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def imports_of(module: str) -> set[str]:
    """The PACKAGE modules `module` imports anywhere in it: at the top and inside functions (evalpin's CLI
    imports each command's modules in its handler), absolute or relative, `from package import module`."""
    path = module_file(module)
    anchor = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            relative = "." * node.level + (node.module or "")
            base = importlib.util.resolve_name(relative, anchor) if node.level else relative
            found |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return {name for name in found if name.split(".")[0] == PACKAGE and module_file(name)}


def closure(entries: list[str]) -> set[Path]:
    """Every PACKAGE file reachable from `entries` by import statements (with each module's parent
    packages), and the package data the code reads (pyproject's package-data, e.g. offline.env)."""
    seen, todo = set(), [name for name in entries if module_file(name)]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1)]
            todo += imports_of(name)
    files = {module_file(name) for name in seen}
    if PACKAGE in seen:
        patterns = PYPROJECT["tool"]["setuptools"].get("package-data", {}).get(PACKAGE, [])
        files |= {path for pattern in patterns for path in (SOURCES / PACKAGE).glob(pattern)}
    return files


def stages() -> dict[str, dict]:
    return yaml.safe_load((TEMPLATE / "dvc.yaml").read_text())["stages"]


def commands(stage: dict) -> list[str]:
    return [stage["cmd"]] if isinstance(stage["cmd"], str) else stage["cmd"]


def stage_code(stage: dict) -> set[Path]:
    """The repository files (relative) of the code a stage's commands can run."""
    entries = [module for cmd in commands(stage) for module in entry_modules(cmd)]
    return {path.relative_to(TEMPLATE) for path in closure(entries)}


def covered(path: Path, deps: list[str]) -> bool:
    return any(path == Path(dep) or Path(dep) in path.parents for dep in deps if "${" not in dep)


def test_the_closure_sees_the_lazy_imports_of_the_cli():
    """The computation itself: `evalpin evaluate` reaches the evaluation code through a handler's import."""
    code = stage_code({"cmd": "evalpin evaluate"})
    assert {Path("src/evalpin/evaluation/harness.py"), Path("src/evalpin/delivery/lock.py")} <= code
    assert Path("src/evalpin/base/offline.env") in code


@pytest.mark.parametrize("name", sorted(stages()))
def test_each_stage_depends_on_all_the_code_it_runs(name):
    """A stage that runs on every `dvc repro` (always_changed: verify) needs no deps: it reruns anyway."""
    stage = stages()[name]
    if stage.get("always_changed"):
        assert not stage.get("deps") and not stage.get("params"), f"dvc.yaml: {name} reruns anyway: no deps"
        return
    code = stage_code(stage)
    assert code, f"dvc.yaml: stage {name} runs no evalpin command; this test has nothing to check"
    missing = sorted(str(path) for path in code if not covered(path, stage.get("deps", [])))
    assert not missing, f"dvc.yaml: stage {name}'s deps miss code it runs: add {missing} (or src/evalpin)"


@pytest.mark.slow
def test_a_change_to_code_the_evaluation_runs_makes_dvc_rerun_it(reproduced_repo):
    """Where RUNTIME_PACKAGES is defined (the issue's example: the evaluate stage once missed it)."""
    assert pipeline_changes(reproduced_repo) == {}
    code = stage_code(stages()["evaluate"])
    defining = [path for path in sorted(code) if "RUNTIME_PACKAGES =" in (TEMPLATE / path).read_text()]
    assert defining, "no module of the evaluate stage's code defines RUNTIME_PACKAGES: pick another to change"
    module = defining[0]
    with (reproduced_repo / module).open("a") as handle:
        handle.write("# a change\n")
    status = json.loads(dvc(reproduced_repo, "status", "--json").stdout)
    assert "src/evalpin" in json.dumps(status.get("evaluate")), status
