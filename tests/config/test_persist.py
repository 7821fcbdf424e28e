"""Values kept in conf/ by one-line edits: `use`, `compose KEY=VALUE`, `keep` (docs/experiments.md)."""

from __future__ import annotations

import shutil

import yaml

from evalpin.config.compose import compose, write_params
from evalpin.config.persist import set_choice, set_key
from support import evalpin, git

DEMO_SUITE = """\
name: demo
tasks:                  # the local tasks
  - demo_color_mc       # multiple choice
  - demo_home_gen

limit: null             # every sample
backend:
  model_args:
    base_url: http://a:1/v1  # per machine
    retries: 3
"""


def test_a_key_keeps_its_comment_column_and_every_other_line():
    edited = set_key(DEMO_SUITE, "limit", 4)
    assert edited == DEMO_SUITE.replace("limit: null             #", "limit: 4                #")
    listed = set_key(DEMO_SUITE, "tasks", ["demo_color_mc"])
    assert listed.splitlines()[1:4] == [
        "tasks: [demo_color_mc]  # the local tasks",
        "",
        "limit: null             # every sample",
    ]
    nested = set_key(DEMO_SUITE, "backend.model_args.retries", 5)
    assert nested == DEMO_SUITE.replace("retries: 3", "retries: 5")
    assert yaml.safe_load(set_key(DEMO_SUITE, "backend.model_args.timeout", 9))["backend"]["model_args"] == {
        "base_url": "http://a:1/v1",
        "retries": 3,
        "timeout": 9,
    }
    assert set_key("a: 1", "b", {"x": "y: z"}) == "a: 1\nb: {x: 'y: z'}\n"


def test_a_choice_edits_its_defaults_line_only():
    text = "defaults:\n  - model: demo-tiny          # which delivery\n  - suite: standard\n"
    assert set_choice(text, "model", "smollm2") == text.replace("demo-tiny        ", "smollm2          ")
    assert set_choice(text, "suite", "demo") == text.replace("standard", "demo")


def pin_a_copy(repo, name: str) -> None:
    """A second pinned model for `use`: demo-tiny's conf and lock under another name (use checks that
    both exist; verify, which checks the bytes, is not what these tests exercise)."""
    conf = (repo / "conf/model/demo-tiny.yaml").read_text().replace("name: demo-tiny", f"name: {name}")
    (repo / f"conf/model/{name}.yaml").write_text(conf)
    shutil.copy(repo / "models/demo-tiny.lock.json", repo / f"models/{name}.lock.json")


def test_use_selects_a_pinned_model_in_conf_and_params_and_refuses_an_unpinned_one(pinned_repo):
    refused = evalpin(pinned_repo, "use", "smollm2", check=False)
    assert refused.returncode == 2
    assert (
        "conf/model/smollm2.yaml: not found" in refused.stderr and "pinned here: demo-tiny" in refused.stderr
    )
    assert "--name smollm2`, then `evalpin use smollm2`" in refused.stderr
    pin_a_copy(pinned_repo, "mymodel")
    git(pinned_repo, "add", "-A")
    git(pinned_repo, "commit", "-qm", "second model")
    used = evalpin(pinned_repo, "use", "mymodel")
    assert "conf/config.yaml: model: mymodel" in used.stdout and "next: dvc repro" in used.stdout
    assert git(pinned_repo, "diff", "--numstat").stdout.split() == [
        "1",
        "1",
        "conf/config.yaml",
        "2",  # model.name and model.base
        "2",
        "params.yaml",
    ]
    assert evalpin(pinned_repo, "compose", "--check").returncode == 0
    assert yaml.safe_load((pinned_repo / "params.yaml").read_text())["model"]["name"] == "mymodel"


def test_compose_keeps_overrides_in_conf_or_refuses_changing_nothing(template_repo):
    """Never a params.yaml that `compose --check` rejects: kept in conf/, or refused."""
    kept = evalpin(template_repo, "compose", "inference.batch_size=4", "suite.tasks=[demo_color_mc]").stdout
    assert "kept in conf/inference/cpu-fp32.yaml: batch_size: 4" in kept
    assert "kept in conf/suite/demo.yaml: tasks: [demo_color_mc]" in kept
    assert evalpin(template_repo, "compose", "--check").returncode == 0
    assert compose(template_repo)["inference"]["batch_size"] == 4
    git(template_repo, "commit", "-qam", "kept")
    (template_repo / "conf/local").mkdir()  # composed last: a value set there cannot be kept in the group
    (template_repo / "conf/local/default.yaml").write_text("# @package _global_\ninference:\n  seed: 7\n")
    refused = evalpin(template_repo, "compose", "inference.seed=1", check=False)
    assert refused.returncode == 2 and "inference.seed: conf/ would give 7, wanted 1" in refused.stderr
    added = evalpin(template_repo, "compose", "+inference.extra=1", check=False)
    assert added.returncode == 2 and "dvc exp run -S '+inference.extra=1'" in added.stderr
    assert git(template_repo, "status", "--porcelain", "--untracked-files=no").stdout == ""


def test_keep_writes_an_experiments_params_back_into_conf(template_repo):
    """What a workspace `dvc exp run -S inference.batch_size=4 -S gate.k_stderr=3` leaves (DVC's composition
    in params.yaml) fails `compose --check` until `evalpin keep` writes it into conf/."""
    write_params(template_repo, compose(template_repo, ("inference.batch_size=4", "gate.k_stderr=3")))
    assert evalpin(template_repo, "compose", "--check", check=False).returncode == 2
    kept = evalpin(template_repo, "keep").stdout
    assert (
        "conf/inference/cpu-fp32.yaml: batch_size: 4" in kept
        and "conf/gate/default.yaml: k_stderr: 3" in kept
    )
    assert git(template_repo, "diff", "--numstat", "conf").stdout.split() == [
        "1",
        "1",
        "conf/gate/default.yaml",
        "1",
        "1",
        "conf/inference/cpu-fp32.yaml",
    ]
    assert evalpin(template_repo, "compose", "--check").returncode == 0
