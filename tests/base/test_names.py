import pytest

from evalpin.base.errors import EvalpinError
from evalpin.base.names import check_name, check_repo_id, check_task_name
from support import evalpin_in_process

BAD = ["../../../x", "../evil", "/etc", "Demo", "a/b", "-x", ""]
# Every command that takes a model or dataset name, with the name in its place.
COMMANDS = [
    ("verify", "{}"),
    ("verify-data", "{}", "--accept"),
    ("golden", "{}"),
    ("restore", "{}"),
    ("check-upstream", "{}", "--dataset"),
    ("diff", "HEAD", "HEAD", "--dataset", "{}"),
    ("diff", "HEAD", "HEAD", "--name", "{}"),
    ("serve-args", "{}"),
    ("release", "{}", "-m", "x"),
    ("promote", "{}", "v1.0.0", "--stage", "prod"),
    ("pin", "org/x", "--revision", "0" * 40, "--name", "{}"),
    ("pin", "org/x", "--revision", "0" * 40, "--base", "{}"),
    ("pin-data", "org/x", "--revision", "0" * 40, "--name", "{}"),
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(a for a in argv if a != "{}"))
def test_every_command_checks_a_name_before_it_becomes_a_path(tmp_path, argv):
    """`verify-data ../../../x --accept` wrote a file outside the repository."""
    repo = tmp_path / "a/b/c/repo"
    repo.mkdir(parents=True)
    (repo / "dvc.yaml").write_text("stages: {}\n")
    for bad in ("../../../x", "/etc"):
        proc = evalpin_in_process(repo, *(a.format(bad) for a in argv), check=False)
        assert proc.returncode == 2 and f"name {bad!r}: use lower-case letters" in proc.stderr, proc.stderr
    assert sorted(tmp_path.rglob("*")) == [*repo.parents[:4][::-1][1:], repo, repo / "dvc.yaml"]


@pytest.mark.parametrize("name", BAD)
def test_unsafe_local_names_are_refused(name):
    with pytest.raises(EvalpinError, match="use lower-case letters, digits"):
        check_name(name)


@pytest.mark.parametrize("name", ["demo-tiny", "qwen2.5-0.5b", "a_b", "0"])
def test_safe_local_names_pass(name):
    assert check_name(name) == name


@pytest.mark.parametrize("repo_id", ["evalpin/demo-tiny", "evalpin-demo/ai2_arc", "Rowan/hellaswag", "gpt2"])
def test_hub_repo_ids_pass(repo_id):
    assert check_repo_id(repo_id) == repo_id


@pytest.mark.parametrize("name", ["../../escape", "a/b", ".hidden", "a..b", "", "x\x00y", 7, "tasks/../x"])
def test_a_task_name_that_is_no_file_name_is_refused(name):
    with pytest.raises(EvalpinError, match=r"conf/suite/s.yaml: task name .* cannot name a file"):
        check_task_name(name, "conf/suite/s.yaml")


@pytest.mark.parametrize("name", ["arc_easy", "mmlu_high_school_biology", "AraDiCE_boolq_egy", "bbh-v1.2"])
def test_lm_evals_task_names_pass(name):
    assert check_task_name(name, "x") == name


def test_a_suite_task_named_as_a_path_stops_the_check_before_anything_is_written(tmp_path):
    from evalpin.config.params_check import check_suite_tasks
    from evalpin.evaluation.task_store import path_of

    with pytest.raises(EvalpinError, match=r"task name '../../escape' cannot name a file"):
        check_suite_tasks(tmp_path, {"tasks": ["../../escape"], "include_path": "eval/tasks"}, "params.yaml")
    with pytest.raises(EvalpinError, match=r"cannot name a file"):
        path_of(tmp_path, "../outside")
