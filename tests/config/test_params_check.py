import copy
import re
import tempfile
from pathlib import Path

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.config.compose import composed
from evalpin.config.params_check import check_settings
from evalpin.pinning.pin import pin_dataset
from evalpin.pinning.requests import DataPinRequest
from evalpin.suite.local_tasks import declared_kinds, declared_names
from support import (
    ARC_COMMIT,
    TEMPLATE,
    demo_conf,
    dvc,
    evalpin_in_process,
    git,
    read_json,
    write_dataset_cache,
)

DEMO, FILES = composed(demo_conf(Path(tempfile.mkdtemp(prefix="demo-conf-"))), ("suite=demo",))


def test_the_template_compositions_can_run():
    assert FILES["suite"] == "conf/suite/demo.yaml" and FILES["inference"] == "conf/inference/cpu-fp32.yaml"
    check_settings(TEMPLATE, DEMO, FILES)


@pytest.mark.parametrize(
    ("group", "field", "value", "expected"),
    [
        ("suite", "limit", -1, "null (every sample) or a positive integer"),
        ("suite", "limit", "abc", "null (every sample) or a positive integer"),
        ("suite", "limit", 0, "null (every sample) or a positive integer"),
        ("suite", "limit", True, "null (every sample) or a positive integer"),
        ("suite", "tasks", "demo_color_mc", "a list of task names"),
        ("suite", "name", None, "a non-empty name"),
        ("inference", "batch_size", "1", "a positive integer"),
        ("inference", "batch_size", 0, "a positive integer"),
        ("inference", "dtype", "fp32", "one of auto, float32, float16, bfloat16"),
        ("inference", "apply_chat_template", "yes", "true or false"),
        ("inference", "seed", -3, "an integer >= 0"),
        ("inference", "gen_kwargs", [1], "a mapping of generation arguments"),
        ("backend", "model_args", "x", "a mapping of lm-eval model_args"),
        ("gate", "k_stderr", "abc", "a number >= 0"),
        ("gate", "abs_floor", -0.1, "a number >= 0"),
        ("gate", "k_stderr", float("inf"), "a number >= 0"),  # infinity: nothing would ever regress
        ("gate", "abs_floor", float("nan"), "a number >= 0"),
        ("gate", "alpha", 1.5, "a number in (0, 1)"),
        ("gate", "alpha", float("nan"), "a number in (0, 1)"),
        ("gate", "correction", "bonferroni", "holm (alpha holds for the whole suite) or none"),
        ("backend", "server_tolerance", float("inf"), "null (measured) or a positive number"),
    ],
)
def test_a_value_that_cannot_run_names_its_conf_file_field_and_valid_values(group, field, value, expected):
    params = copy.deepcopy(DEMO)
    params[group][field] = value
    with pytest.raises(
        EvalpinError, match=rf"^{FILES[group]}: {group}.{field} is .*; expected {re.escape(expected)}"
    ):
        check_settings(TEMPLATE, params, FILES)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["suite"].update(limt=3), r"suite.limt is not a field of suite \(fields: name,"),
        (lambda p: p["inference"].pop("seed"), r"inference.seed is '<missing>'"),
        (lambda p: p.update(backend=None), r"section 'backend' is None, expected a mapping"),
        (
            lambda p: p["backend"].update(name="vllm"),
            r"backend.name is 'vllm', which `evalpin evaluate` cannot",
        ),
        (
            lambda p: p["suite"].update(tasks=["demo_colour_mc"]),
            r"suite.tasks names 'demo_colour_mc', which no",
        ),
        (lambda p: p["suite"].update(chat_tasks=["nope"]), r"suite.chat_tasks names 'nope'"),
        (
            lambda p: p["suite"].update(tasks=["demo_suite"]),  # the demo YAMLs' tag: each task runs alone
            r"suite.tasks names 'demo_suite', a tag in eval/tasks/; .* list its tasks one by one",
        ),
        (lambda p: p["suite"].update(tasks=[], chat_tasks=None), r"the suite lists no tasks"),
        (lambda p: p["suite"].update(chat_tasks=["demo_color_mc"]), r"under both `tasks` and `chat_tasks`"),
        (
            lambda p: p["suite"].update(include_path="eval/nope"),
            r"eval/nope: suite.include_path is not a folder",
        ),
        (
            lambda p: p["suite"].update(catalog=[{"task": "arc_easy"}]),
            r"catalog\[0\] is \{'task': 'arc_easy'\}",
        ),
    ],
)
def test_a_suite_backend_or_section_that_cannot_run_is_one_line(edit, message):
    params = copy.deepcopy(DEMO)
    edit(params)
    with pytest.raises(EvalpinError, match=message):
        check_settings(TEMPLATE, params, FILES)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"task: caf\xe9\n", r"demo_x.yaml: not UTF-8 \(byte 9: invalid continuation byte\)"),
        (b"task: [x\n", r"demo_x.yaml:2: not valid YAML"),
        (b"- task: x\n", r"demo_x.yaml: holds a list"),
    ],
)
def test_an_unreadable_task_yaml_is_named_not_a_key_error(tmp_path, content, message):
    """lm-eval's index skipped a non-UTF-8 task YAML, then evaluate died on a KeyError."""
    (tmp_path / "demo_x.yaml").write_bytes(content)
    with pytest.raises(EvalpinError, match=message):
        declared_names(tmp_path, tmp_path)


def test_task_tag_and_group_names_are_declared_including_subfolders(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/a.yaml").write_text("task: a\ntag: [t1, t2]\ncustom_dataset: !function utils.load\n")
    (tmp_path / "g.yaml").write_text("group: g\ntask: [a]\n")
    assert declared_names(tmp_path, tmp_path) == {"a", "t1", "t2", "g"}
    assert declared_kinds(tmp_path, tmp_path) == {"a": "task", "t1": "tag", "t2": "tag", "g": "group"}


def test_the_local_index_reads_output_types_through_includes_as_lm_eval_does(tmp_path):
    """The gguf backend's check reads a task's output_type from evalpin's own index of eval/tasks (no
    second lm-eval TaskManager): the same value as lm-eval's, through includes, lists of them and none."""
    from lm_eval.tasks import TaskManager

    from evalpin.suite import local_tasks

    (tmp_path / "sub").mkdir()
    (tmp_path / "_mc").write_text("output_type: multiple_choice\n")
    (tmp_path / "sub/_ll").write_text("output_type: loglikelihood\n")
    (tmp_path / "sub/n.yaml").write_text("include: ../_mc\n")
    for name, fields in {
        "inc": "include: _mc",
        "own": "include: _mc\noutput_type: generate_until",
        "two": "include: [_mc, sub/_ll]",
        "nested": "include: sub/n.yaml",
        "plain": "custom_dataset: !function utils.load",
    }.items():
        (tmp_path / f"{name}.yaml").write_text(f"task: {name}\n{fields}\n")
    index = TaskManager(include_path=str(tmp_path), include_defaults=False).task_index
    declared = local_tasks.declared(tmp_path, tmp_path)
    for task in ("inc", "own", "two", "nested", "plain"):
        expected = index[task].cfg.get("output_type") or "generate_until"
        assert local_tasks.output_type(declared[task], tmp_path) == expected, task
        assert declared[task].path == tmp_path / f"{task}.yaml"


def test_a_bad_suite_fails_the_verify_stage_before_dvc_deletes_the_outputs(reproduced_repo):
    """The suite error surfaced only in the evaluate stage, after DVC had deleted its outputs."""
    suite = reproduced_repo / "conf/suite/demo.yaml"
    suite.write_text(suite.read_text().replace("limit: null", "limit: -1"))
    evalpin_in_process(reproduced_repo, "compose")
    metrics = read_json(reproduced_repo / "eval/metrics.json")
    proc = dvc(reproduced_repo, "repro", check=False)
    assert proc.returncode != 0
    assert "conf/suite/demo.yaml: suite.limit is -1; expected null" in proc.stderr + proc.stdout
    assert "Running stage 'evaluate'" not in proc.stdout
    assert read_json(reproduced_repo / "eval/metrics.json") == metrics
    assert (reproduced_repo / "eval/samples").is_dir()
    # an experiment's -S override is checked too: the verify stage checks params.yaml as -S left it
    git(reproduced_repo, "checkout", "-q", "conf", "params.yaml")
    proc = dvc(reproduced_repo, "exp", "run", "-S", "suite.limit=0", check=False)
    assert (
        proc.returncode != 0 and "params.yaml: suite.limit is 0; expected null" in proc.stderr + proc.stdout
    )
    assert "Running stage 'evaluate'" not in proc.stdout
    assert read_json(reproduced_repo / "eval/metrics.json") == metrics


def test_a_quoted_safety_switch_is_refused_not_read_as_true(pinned_repo):
    """`allow_pickle: "no"` was bool("no"), True: the switch meant to stay shut opened."""
    conf = pinned_repo / "conf/model/demo-tiny.yaml"
    conf.write_text(conf.read_text().replace("allow_pickle: false", 'allow_pickle: "no"'))
    proc = evalpin_in_process(pinned_repo, "verify", "--files-only", check=False)
    assert proc.returncode == 2
    assert "conf/model/demo-tiny.yaml: field 'allow_pickle' is 'no'; expected true or false" in proc.stderr


def test_compare_checks_the_gate_before_using_it(pinned_repo):
    params = pinned_repo / "params.yaml"
    params.write_text(params.read_text().replace("k_stderr: 2.0", "k_stderr: two"))
    proc = evalpin_in_process(pinned_repo, "compare", "--baseline", "HEAD", check=False)
    assert (
        proc.returncode == 2 and "params.yaml: gate.k_stderr is 'two'; expected a number >= 0" in proc.stderr
    )


def test_a_catalog_task_whose_split_is_not_pinned_fails_the_check_not_the_evaluation(pinned_repo):
    """Checked by compose --check (the verify stage), before DVC deletes the evaluate stage's outputs."""
    write_dataset_cache(pinned_repo / "hub")
    pin_dataset(
        pinned_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub", include=("ARC-Easy/train-*",))
    )
    params = copy.deepcopy(DEMO)
    params["suite"]["catalog"] = [{"task": "arc_easy", "data": "arc"}]
    with pytest.raises(
        EvalpinError, match=r"README.md: config 'ARC-Easy' has no pinned file for split 'test'"
    ):
        check_settings(pinned_repo, params, FILES)
    params["suite"]["catalog"] = [{"task": "arc_easy", "data": "gsm8k"}]  # not pinned: verify says so
    check_settings(pinned_repo, params, FILES)
