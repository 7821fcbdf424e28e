"""conf/config.yaml's defaults list read and edited as text (config/defaults_list.py): one line changes,
its comment keeps its column, everything else stays byte for byte."""

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.config.defaults_list import CONFIG_FILE, UNSELECTED, choice, set_choice
from support import TEMPLATE

TEXT = """defaults:
  - _self_
  - model: demo-tiny          # which pinned delivery
  - suite: demo
\t-\tbackend:\thf\t# tabs are blanks too
  - optional local: default   # not the group `local`
# - inference: commented-out
model:
  base: ${.name}  # - gate: not a defaults line
"""


def test_the_option_each_group_selects():
    assert choice(TEXT, "model") == "demo-tiny"
    assert choice(TEXT, "suite") == "demo"
    assert choice(TEXT, "backend") == "hf"
    assert choice(TEXT, "local") is None  # `optional local` is another line
    assert choice(TEXT, "inference") is None  # a comment selects nothing
    assert choice(TEXT, "gate") is None
    assert choice(TEXT, "mod") is None  # no prefix match


def test_setting_an_option_changes_only_its_line_and_keeps_the_comment_column():
    edited = set_choice(TEXT, "model", "mymodel")
    assert edited.splitlines()[2] == "  - model: mymodel            # which pinned delivery"
    assert edited.splitlines()[2].index("#") == TEXT.splitlines()[2].index("#")
    assert [line for line in edited.splitlines() if "model:" not in line] == [
        line for line in TEXT.splitlines() if "model:" not in line
    ]
    assert choice(edited, "model") == "mymodel"
    assert set_choice(edited, "model", "demo-tiny") == TEXT  # and back, byte for byte


def test_a_longer_option_pushes_the_comment_one_blank_away_and_a_bare_line_gets_no_padding():
    edited = set_choice(TEXT, "model", "a-very-long-model-name-indeed")
    assert "  - model: a-very-long-model-name-indeed # which pinned delivery\n" in edited
    assert "  - suite: main\n" in set_choice(TEXT, "suite", "main")  # no comment: no trailing blanks
    # the line's own tabs stay; the padding before its comment is counted in characters, made of blanks
    assert "\t-\tbackend:\tvllm # tabs are blanks too\n" in set_choice(TEXT, "backend", "vllm")


def test_the_templates_config_round_trips():
    text = (TEMPLATE / CONFIG_FILE).read_text()
    selected = choice(text, "model")
    assert selected is not None  # demo-tiny, or UNSELECTED once clean-started
    edited = set_choice(text, "model", UNSELECTED)
    assert choice(edited, "model") == UNSELECTED
    assert set_choice(edited, "model", selected) == text


def test_a_group_without_a_line_is_named_with_the_line_to_add():
    with pytest.raises(EvalpinError) as caught:
        set_choice(TEXT, "launcher", "slurm")
    assert str(caught.value) == (
        "conf/config.yaml: no `- launcher: ...` line in its defaults list; add `- launcher: slurm` there."
    )
