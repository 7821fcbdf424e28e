import json
import re

import pytest
import yaml

from evalpin.base.errors import EvalpinError
from evalpin.config.compose import NO_MODEL, compose, differences, load_params
from evalpin.config.defaults_list import CONFIG_FILE, UNSELECTED, choice
from evalpin.template.clean_start import NO_MODEL_PARAMS
from support import TEMPLATE, demo_conf, dvc, evalpin


def test_committed_params_yaml_equals_the_composition_of_conf():
    """Or, in a clean-started project that selects no model yet, compose's error and the placeholder."""
    if choice((TEMPLATE / CONFIG_FILE).read_text(), "model") == UNSELECTED:
        with pytest.raises(EvalpinError, match=re.escape(NO_MODEL)):
            compose(TEMPLATE)
        assert (TEMPLATE / "params.yaml").read_text() == NO_MODEL_PARAMS
    else:
        assert differences(compose(TEMPLATE), load_params(TEMPLATE)) == []


@pytest.fixture(scope="module")
def conf_of_the_demo(tmp_path_factory):
    return demo_conf(tmp_path_factory.mktemp("conf"))


def test_defaults_compose_every_group(conf_of_the_demo):
    params = compose(conf_of_the_demo)
    assert set(params) == {"model", "inference", "suite", "backend", "gate", "signing", "launcher"}
    assert params["model"]["name"] == "demo-tiny"
    assert params["inference"]["dtype"] == "float32" and params["inference"]["device"] == "cpu"


def test_overrides_compose(template_repo):
    params = compose(template_repo, ("inference.batch_size=4",))
    assert params["inference"]["batch_size"] == 4


def test_check_fails_closed_when_conf_changed_and_compose_fixes_it(template_repo):
    conf = template_repo / "conf/inference/cpu-fp32.yaml"
    conf.write_text(conf.read_text().replace("batch_size: 1", "batch_size: 2"))
    proc = evalpin(template_repo, "compose", "--check", check=False)
    assert proc.returncode == 2
    assert "inference.batch_size: conf/ gives 2, params.yaml has 1" in proc.stderr
    assert "evalpin compose" in proc.stderr
    evalpin(template_repo, "compose")
    assert yaml.safe_load((template_repo / "params.yaml").read_text())["inference"]["batch_size"] == 2
    assert evalpin(template_repo, "compose", "--check").returncode == 0


def test_the_verify_stage_checks_the_composition_first_in_the_same_words(template_repo):
    """dvc.yaml's verify stage runs `verify NAME --check-composed`: compose --check's check in its one
    Python start; a pass reused from .evalpin/checks/ does not hide an edit of conf/."""
    passed = evalpin(template_repo, "compose", "--check").stdout
    assert "params.yaml equals the composition of conf/" in passed
    conf = template_repo / "conf/inference/cpu-fp32.yaml"
    conf.write_text(conf.read_text().replace("batch_size: 1", "batch_size: 2"))
    alone = evalpin(template_repo, "compose", "--check", check=False)
    record = ("--record", "v.json")
    staged = evalpin(template_repo, "verify", "demo-tiny", "--check-composed", *record, check=False)
    assert (staged.returncode, staged.stderr, staged.stdout) == (alone.returncode, alone.stderr, "")
    assert staged.returncode == 2 and "batch_size: conf/ gives 2, params.yaml has 1" in staged.stderr
    assert not (template_repo / "v.json").exists()


def test_a_broken_conf_names_the_config(template_repo):
    (template_repo / "conf/config.yaml").write_text("defaults:\n  - model: nope\n")
    proc = evalpin(template_repo, "compose", check=False)
    assert proc.returncode == 2 and "conf/config.yaml: Hydra could not compose" in proc.stderr


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        ("backend=vllm",),
        ("backend=local-completions",),
        ("inference.batch_size=4",),
        ("inference.apply_chat_template=true",),
        ("gate.k_stderr=3",),
    ],
)
def test_every_combination_the_readme_mentions_composes(conf_of_the_demo, overrides):
    params = compose(conf_of_the_demo, overrides)
    assert params["backend"]["name"] == (
        overrides[0].split("=")[1] if "backend" in "".join(overrides) else "hf"
    )


def test_optional_local_group_is_picked_up(template_repo):
    (template_repo / "conf/local").mkdir()
    (template_repo / "conf/local/default.yaml").write_text(
        "# @package _global_\ninference:\n  torch_threads: 8\n"
    )
    assert compose(template_repo)["inference"]["torch_threads"] == 8


@pytest.mark.skipif(not (TEMPLATE / "dvc.lock").is_file(), reason="clean-started: no run committed yet")
def test_committed_dvc_lock_matches_the_committed_code_and_config():
    """A stale dvc.lock makes `dvc repro` rerun on every clone: only data may be missing here."""
    status = json.loads(dvc(TEMPLATE, "status", "--json").stdout or "{}")
    data = TEMPLATE / "eval/data"
    restored = all((data / p.name.removesuffix(".dvc")).is_dir() for p in data.glob("*.dvc"))
    missing_data = ("models/", "eval/samples", *(() if restored else ("eval/data",)))  # before `make demo`
    stale = {
        (stage, path, state)
        for stage, entries in status.items()
        for entry in entries
        if isinstance(entry, dict)
        for kind, paths in entry.items()
        if kind in ("changed deps", "changed outs")
        for path, state in paths.items()
        if not (state in ("deleted", "not in cache") or path.startswith(missing_data))
    }
    assert not stale, f"dvc.lock is stale: run `dvc repro` and commit it ({sorted(stale)})"


@pytest.mark.parametrize("resolver", ["${oc.env:EVALPIN_TEST_SECRET}", "${ env : EVALPIN_TEST_SECRET }"])
def test_a_conf_that_reads_the_environment_is_refused_and_its_value_is_written_nowhere(
    template_repo, monkeypatch, resolver
):
    """Composed, the value would land in params.yaml, dvc.lock, the DVC remote and release tags."""
    monkeypatch.setenv("EVALPIN_TEST_SECRET", "hunter2-token")
    params = (template_repo / "params.yaml").read_bytes()
    backend = template_repo / "conf/backend/hf.yaml"
    backend.write_text(backend.read_text() + f"token: {resolver}\n")
    line = len(backend.read_text().splitlines())
    proc = evalpin(template_repo, "compose", check=False)
    assert proc.returncode == 2 and "hunter2" not in proc.stdout + proc.stderr
    assert f"conf/backend/hf.yaml:{line}: reads the environment" in proc.stderr
    assert (template_repo / "params.yaml").read_bytes() == params


def test_an_override_that_reads_the_environment_is_refused(template_repo):
    proc = evalpin(template_repo, "compose", "backend.model_args.token=${oc.env:HOME}", check=False)
    assert proc.returncode == 2 and "override backend.model_args.token: reads the environment" in proc.stderr
