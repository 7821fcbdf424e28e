"""Which evalpin reruns a revision. The scratch environment of another version is built for real in the
project's lifecycle (tests/test_copied_project.py: an old tag reproduced with the old wheel)."""

from __future__ import annotations

import sys

import pytest

import evalpin
from evalpin.base.errors import EvalpinError
from evalpin.registry.tool_env import pinned_version, scratch_env, tool_for


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("evalpin==0.2.0\n", "0.2.0"),
        ("# evalpin==9.9.9 in a comment is no pin\n  evalpin == 1.4.0rc1  # ours\n", "1.4.0rc1"),
        ("evalpin==1.0.0 ; python_version >= '3.11'\n", "1.0.0"),
        ("evalpinx==1.0.0\nlm-eval==0.4.13\n", None),
    ],
)
def test_the_pin_is_read_from_requirements(tmp_path, text, version):
    (tmp_path / "requirements.txt").write_text(text)
    assert pinned_version(tmp_path) == version


def test_evalpins_own_repository_reruns_its_revisions_source(tmp_path):
    (tmp_path / "src/evalpin").mkdir(parents=True)
    (tmp_path / "src/evalpin/__init__.py").write_text('__version__ = "0.0.1"\n')
    tool = tool_for(tmp_path, tmp_path)
    assert tool.env["PYTHONPATH"].split(":")[0] == str(tmp_path / "src")
    assert "revision's own source" in tool.says


@pytest.mark.parametrize("text", [f"evalpin=={evalpin.__version__}\n", "lm-eval==0.4.13\n"])
def test_the_running_version_reruns_what_pins_it_or_pins_none(tmp_path, text):
    (tmp_path / "requirements.txt").write_text(text)
    tool = tool_for(tmp_path, tmp_path)
    assert tool.python == sys.executable and f"evalpin {evalpin.__version__} (this environment" in tool.says


def test_a_version_pip_cannot_find_is_one_error_naming_the_fix_and_leaves_no_ready_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels"))
    (tmp_path / "requirements.txt").write_text("evalpin==0.0.0.dev0\n")
    with pytest.raises(
        EvalpinError,
        match=r"(?s)could not install evalpin==0.0.0.dev0 as .*No matching.*Fix:.*PIP_FIND_LINKS",
    ):
        scratch_env(tmp_path, tmp_path, "0.0.0.dev0")
    assert not (tmp_path / ".evalpin/envs/0.0.0.dev0/ready").exists()
