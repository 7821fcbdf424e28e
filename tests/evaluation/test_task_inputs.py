"""`evalpin why TASK`: a task's inputs, each with its digest, and whether its result is reused."""

import pytest

from support import evalpin_in_process

pytestmark = pytest.mark.slow


def test_why_lists_each_input_of_the_key_and_says_what_a_change_reruns(reproduced_repo):
    shown = evalpin_in_process(reproduced_repo, "why", "demo_color_mc").stdout.splitlines()
    assert shown[0] == "demo_color_mc: reused (every input unchanged)"
    text = "\n".join(shown)
    for line in ("delivery      demo-tiny lock", "eval/tasks/demo_color_mc.yaml", "eval/tasks/utils.py"):
        assert line in text
    assert "eval/tasks/data/color_mc.jsonl" in text and "  runtime  " in text
    assert "read          nothing outside the key's files" in text  # the demo's tasks read only keyed files

    data = reproduced_repo / "eval/tasks/data/color_mc.jsonl"
    data.write_text(data.read_text().replace("zorb", "zorp", 1))
    again = evalpin_in_process(reproduced_repo, "why", "demo_color_mc").stdout.splitlines()
    assert again[0] == "demo_color_mc: runs (data: eval/tasks/data/color_mc.jsonl changed)"

    refused = evalpin_in_process(reproduced_repo, "why", "mmlu", check=False)
    assert refused.returncode == 2 and "'mmlu' is no leaf task of the suite" in refused.stderr
