"""Where things live in an evalpin repository, and git/dvc as evalpin runs them (base/project.py)."""

import os

import pytest

from evalpin.base import project
from evalpin.base.environment import offline_environment
from evalpin.base.errors import EvalpinError
from support import run


def test_the_root_is_the_nearest_folder_with_dvc_yaml_or_a_dvc_folder(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    deep = tmp_path / "eval" / "tasks"
    deep.mkdir(parents=True)
    assert project.find_root(deep) == tmp_path
    inner = deep / "inner"
    (inner / ".dvc").mkdir(parents=True)
    assert project.find_root(inner) == inner  # the nearest wins
    (inner / ".dvc").rmdir()
    (inner / ".dvc").write_text("")  # a file named .dvc is not a DVC folder
    assert project.find_root(inner) == tmp_path


def test_outside_any_repository_the_error_names_the_folder_and_the_fix(tmp_path):
    # tmp_path's parents hold no dvc.yaml (pytest's temporary root), so nothing is found
    with pytest.raises(EvalpinError) as caught:
        project.find_root(tmp_path)
    assert str(caught.value) == (
        f"no evalpin repository at or above {tmp_path}: expected dvc.yaml or .dvc/. "
        "Run evalpin from inside your clone of the template."
    )


def test_paths_of_a_pinned_model_and_dataset(tmp_path):
    assert project.model_dir(tmp_path, "m") == tmp_path / "models/m"
    assert project.lock_path(tmp_path, "m") == tmp_path / "models/m.lock.json"
    assert project.model_conf_path(tmp_path, "m") == tmp_path / "conf/model/m.yaml"
    assert project.data_dir(tmp_path, "arc") == tmp_path / "eval/data/arc"
    assert project.data_lock_path(tmp_path, "arc") == tmp_path / "eval/data/arc.lock.json"
    assert project.data_conf_path(tmp_path, "arc") == tmp_path / "conf/data/arc.yaml"


def test_the_offline_environment_fills_only_what_the_user_did_not_export(tmp_path, monkeypatch):
    expected = offline_environment(tmp_path)
    for key in expected:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # the user's choice stands
    project.use_offline_environment(tmp_path)
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert os.environ["HF_HOME"] == str(tmp_path / ".cache/huggingface")
    assert all(os.environ[key] == value for key, value in expected.items() if key != "HF_HUB_OFFLINE")


def test_a_datasets_conf_is_empty_when_absent_and_a_broken_one_names_file_and_fix(tmp_path):
    assert project.load_data_conf(tmp_path, "arc") == {}
    conf = project.data_conf_path(tmp_path, "arc")
    conf.parent.mkdir(parents=True)
    conf.write_text("repo_id: tests/arc\nrevision: [unclosed\n")
    with pytest.raises(EvalpinError, match=r"conf/data/arc.yaml:\d+: not valid YAML") as caught:
        project.load_data_conf(tmp_path, "arc")
    assert "`git checkout conf/data/arc.yaml`" in str(caught.value)
    assert "`evalpin verify-data arc --accept`" in str(caught.value)
    conf.write_text("- a list\n")
    with pytest.raises(EvalpinError, match=r"conf/data/arc.yaml: holds a list, where a mapping"):
        project.load_data_conf(tmp_path, "arc")
    conf.write_text("repo_id: tests/arc\n")
    assert project.load_data_conf(tmp_path, "arc") == {"repo_id": "tests/arc"}


@pytest.fixture
def git_repo(tmp_path):
    run(tmp_path, "git", "init", "-q", "-b", "main")
    run(tmp_path, "git", "config", "user.email", "test@evalpin.invalid")
    run(tmp_path, "git", "config", "user.name", "evalpin tests")
    (tmp_path / "notes.json").write_bytes(b'{"a": 1}\n')
    run(tmp_path, "git", "add", "notes.json")
    run(tmp_path, "git", "commit", "-qm", "notes")
    return tmp_path


def test_git_returns_its_output_and_fails_with_gits_own_words(git_repo):
    assert project.git(git_repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"  # no trailing newline
    with pytest.raises(EvalpinError, match=r"^`git rev-parse nope` failed in .*: fatal: ambiguous argument"):
        project.git(git_repo, "rev-parse", "nope")


def test_git_show_reads_exact_bytes_at_a_revision_or_says_why_not(git_repo):
    (git_repo / "notes.json").write_text("changed in the workspace")
    assert project.git_show(git_repo, "HEAD", "notes.json") == (b'{"a": 1}\n', "")
    data, reason = project.git_show(git_repo, "HEAD", "absent.json")
    assert data is None and "absent.json" in reason and "HEAD" in reason
    data, reason = project.git_show(git_repo, "v9.9.9", "notes.json")
    assert data is None and "v9.9.9" in reason


def test_dvc_runs_in_this_environment_and_fails_with_its_own_words(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")  # `python -m dvc` of this interpreter: no dvc on PATH needed
    project.run_dvc(tmp_path, "init", "--no-scm", "-q")
    assert not project.has_remote(tmp_path)
    project.run_dvc(tmp_path, "remote", "add", "store", str(tmp_path / "store"))
    assert project.has_remote(tmp_path)
    with pytest.raises(EvalpinError, match=r"^`dvc remote remove nope` failed in .*:\n.*nope") as caught:
        project.run_dvc(tmp_path, "remote", "remove", "nope")
    assert "doesn't exist" in str(caught.value) or "does not exist" in str(caught.value)
    proc = project.run_dvc(tmp_path, "remote", "remove", "nope", check=False)
    assert proc.returncode != 0  # check=False: the caller reads the result
