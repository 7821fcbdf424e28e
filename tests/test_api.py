"""evalpin.api, the table of contents: one typed function per command, which the command's handler calls;
the logic is tested through it, not through argv."""

from __future__ import annotations

import argparse
import inspect
import re
import subprocess
import sys

import yaml

from evalpin import api
from evalpin.cli import build_parser
from support import TEMPLATE, git, pin_demo

CHAIN = ("pin", "verify", "evaluate", "compare", "release")


def commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command, `remote ACTION` included, as its api function's name: remote_init_local."""
    found = {}
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for name, sub in action.choices.items():
            verb = f"{prefix}{name.replace('-', '_')}"
            found |= commands(sub, f"{verb}_") if sub._subparsers else {verb: sub}
    return found


def test_every_command_calls_its_api_function():
    for verb, parser in commands(build_parser()).items():
        function = getattr(api, verb, None)
        assert inspect.isfunction(function), f"evalpin.api.{verb}: missing"
        handler = parser.get_default("handler")
        assert f"api.{verb}(" in inspect.getsource(handler), f"{handler.__name__} does not call api.{verb}"


def test_every_api_function_is_typed_and_documented():
    functions = [f for _, f in inspect.getmembers(api, inspect.isfunction) if f.__module__ == api.__name__]
    assert len(functions) >= len(commands(build_parser()))
    for function in functions:
        if function.__name__.startswith("_"):
            continue
        signature = inspect.signature(function)
        untyped = [p for p in signature.parameters.values() if p.annotation is inspect.Parameter.empty]
        assert function.__doc__ and not untyped, function.__name__
        assert signature.return_annotation is not inspect.Signature.empty, function.__name__


def test_the_docstring_reads_the_chain_in_order():
    doc = api.__doc__
    where = [re.search(rf"\b{verb}\b", doc).start() for verb in CHAIN]
    assert where == sorted(where), "pin -> verify -> evaluate -> compare -> release"
    assert [verb for verb in commands(build_parser()) if not re.search(rf"\b{verb}\b", doc)] == []


def test_importing_the_api_imports_no_heavy_library():
    code = (
        "import sys, evalpin.api; "
        "heavy = {'torch', 'lm_eval', 'transformers', 'dvc', 'hydra'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=TEMPLATE)


def test_compose_keeps_an_override_in_conf_then_params_yaml_follows(template_repo):
    kept, path = api.compose(template_repo, ("inference.batch_size=4",))
    assert path == template_repo / "params.yaml" and kept
    assert all(line.startswith("conf/") for line in kept), kept
    assert yaml.safe_load(path.read_text())["inference"]["batch_size"] == 4
    assert api.check_composed(template_repo)  # conf/ now composes to what was written


def test_diff_names_the_model_from_a_release_tag(pinned_repo):
    git(pinned_repo, "tag", "demo-tiny@v1.0.0")
    pin_demo(pinned_repo, "r2")
    text = api.diff(pinned_repo, "demo-tiny@v1.0.0", "models/demo-tiny.lock.json")
    assert "changed: chat template, generation defaults; weights identical" in text
    assert text.endswith("suggested bump: patch")
