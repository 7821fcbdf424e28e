"""The suite's own tasks (suite/local_tasks.py): the index of the YAMLs under include_path, held against
lm-eval's own index of the same folder, read strictly, rebuilt when a YAML changes; a task's output_type
through its includes. test_params_check.py covers the names and kinds of a plain folder, unreadable YAMLs
(not UTF-8, not YAML, a list) and output types through includes as lm-eval reads them."""

from pathlib import Path

import pytest
import yaml
from lm_eval.tasks import TaskManager

from evalpin.base.errors import EvalpinError
from evalpin.suite import local_tasks
from evalpin.suite.local_tasks import declared, declared_kinds, output_type
from support import TEMPLATE


def lm_evals_kinds(folder: Path) -> dict[str, str]:
    """What lm-eval's own index of `folder` (alone) calls each name."""
    index = TaskManager(include_path=str(folder), include_defaults=False).task_index
    return {name: entry.kind.name.lower() for name, entry in index.items()}


def yamls(folder: Path, contents: dict[str, str]) -> Path:
    for rel, text in contents.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def test_the_templates_tasks_are_the_demo_suites_as_lm_eval_indexes_them():
    tasks = TEMPLATE / "eval" / "tasks"
    suite = yaml.safe_load((TEMPLATE / "conf/suite/demo.yaml").read_text())
    found = declared(tasks, TEMPLATE)
    index = TaskManager(include_path=str(tasks), include_defaults=False).task_index
    assert {n: d.kind for n, d in found.items()} == {n: e.kind.name.lower() for n, e in index.items()}
    assert {n for n, d in found.items() if d.kind == "task"} == {*suite["tasks"], *suite["chat_tasks"]}
    assert found["demo_suite"].kind == "tag"
    for name in (*suite["tasks"], *suite["chat_tasks"]):
        assert found[name].path == tasks / f"{name}.yaml"
        assert output_type(found[name], TEMPLATE) == index[name].cfg["output_type"], name


LM_EVAL_ORDER = "local_tasks.index lets a task win over an earlier tag or group; lm-eval keeps the first"


@pytest.mark.parametrize(
    "contents",
    [
        pytest.param(
            {
                "a.yaml": "task: a\ntag: [t1, t2]\n",
                "b.yaml": "task: b\ntag: t1\n",
                "g.yaml": "group: g\ntask: [a]\n",
            },
            id="tags-and-a-group",
        ),
        pytest.param({"a2.yaml": "task: a2\n", "b.yaml": "task: b\ntag: a2\n"}, id="a-task-first"),
        pytest.param(
            {"a.yaml": "task: a\ntag: shared\n", "z.yaml": "task: shared\n"},
            marks=pytest.mark.xfail(strict=True, reason=f"{LM_EVAL_ORDER}: lm-eval runs tag 'shared' (a)"),
            id="a-tag-first",
        ),
        pytest.param(
            {"a.yaml": "group: x\ntask: [b]\n", "b.yaml": "task: b\n", "x.yaml": "task: x\n"},
            marks=pytest.mark.xfail(strict=True, reason=f"{LM_EVAL_ORDER}: lm-eval runs group 'x'"),
            id="a-group-first",
        ),
        pytest.param(
            {"a.yaml": "task: a\n", "g.yaml": "group: g\ntag: gt\ntask: [a]\n"},
            marks=pytest.mark.xfail(strict=True, reason="a group's tag is no name in lm-eval's index"),
            id="a-groups-tag",
        ),
    ],
)
def test_each_name_is_what_lm_evals_own_index_calls_it(tmp_path, contents):
    folder = yamls(tmp_path / "tasks", contents)
    assert declared_kinds(folder, tmp_path) == lm_evals_kinds(folder)


@pytest.mark.parametrize("make", ["missing", "file"])
def test_an_include_path_that_is_no_folder_is_one_line_naming_it_and_the_fix(tmp_path, make):
    folder = tmp_path / "eval" / "tasks"
    if make == "file":
        folder.parent.mkdir(parents=True)
        folder.write_text("task: x\n")
    with pytest.raises(EvalpinError) as caught:
        declared(folder, tmp_path)
    assert str(caught.value) == (
        "eval/tasks: suite.include_path is not a folder of task YAMLs. Point it at one (conf/suite/, "
        "`include_path: eval/tasks`), then `evalpin compose`."
    )
    with pytest.raises(EvalpinError, match=rf"^{tmp_path}/eval/tasks: suite.include_path is not a folder"):
        declared(folder, tmp_path / "elsewhere")  # outside the project: its full path


def test_an_unreadable_yaml_names_itself_and_the_checkout_that_restores_it(tmp_path):
    folder = yamls(tmp_path / "eval/tasks", {"ok.yaml": "task: ok\n", "sub/bad.yaml": "task: [x\n"})
    with pytest.raises(EvalpinError) as caught:
        declared(folder, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{folder}/sub/bad.yaml:2: not valid YAML")
    assert message.endswith("Fix: restore it (`git checkout eval/tasks/sub/bad.yaml`).")
    assert "\n" not in message


def test_the_index_is_built_once_per_content_of_the_yamls(tmp_path):
    folder = yamls(tmp_path, {"a.yaml": "task: a\n", "b.yaml": "task: b\ntag: t\n"})
    local_tasks.index.cache_clear()
    first = declared(folder, tmp_path)
    assert declared(folder, tmp_path) is first  # the same bytes: not parsed again
    (folder / "b.yaml").write_text("task: b2\ntag: t\n")
    assert sorted(declared(folder, tmp_path)) == ["a", "b2", "t"]  # an edit: read again
    assert local_tasks.index.cache_info()[:2] == (1, 2)  # hits, misses


def test_an_include_that_is_missing_or_circular_adds_nothing_and_an_unreadable_one_is_named(tmp_path):
    folder = yamls(
        tmp_path / "eval/tasks",
        {
            "a.yaml": "task: a\ninclude: b.yaml\n",
            "b.yaml": "task: b\ninclude: a.yaml\noutput_type: loglikelihood\n",  # a -> b -> a
            "c.yaml": "task: c\ninclude: [gone.yaml, _mc]\n",
            "_mc": "output_type: multiple_choice\n",
            "d.yaml": "task: d\ninclude: _broken\n",
            "_broken": "output_type: [x\n",
        },
    )
    found = declared(folder, tmp_path)
    assert output_type(found["a"], tmp_path) == "loglikelihood"
    assert output_type(found["b"], tmp_path) == "loglikelihood"
    assert output_type(found["c"], tmp_path) == "multiple_choice"
    with pytest.raises(EvalpinError) as caught:
        output_type(found["d"], tmp_path)
    assert str(caught.value).startswith(f"{folder}/_broken:2: not valid YAML")
    assert "`git checkout eval/tasks/_broken`" in str(caught.value)
