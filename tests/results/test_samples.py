"""`evalpin samples TASK`: each sample in words, from eval/samples as the pipeline recorded it."""

import json

from evalpin.results.samples import NOT_RECORDED
from support import evalpin_in_process


def test_a_missed_multiple_choice_sample_shows_question_choices_gold_and_answer(reproduced_repo):
    out = evalpin_in_process(reproduced_repo, "samples", "demo_color_mc", "--failed", "--limit", "1").stdout
    head, sample = out.split("\n\n")[:2]
    assert head.startswith("demo_color_mc at workspace: 32 samples, 12 missed (score < 1); showing 1")
    assert "score 0  missed" in sample and "question  Question: What color is the" in sample
    assert sample.count("<- gold") == 1 and sample.count("<- model's answer") == 1  # two different choices
    data = json.loads(evalpin_in_process(reproduced_repo, "samples", "demo_color_mc", "--json").stdout)
    rows = data["samples"]
    assert len(rows) == 32 and sum(r["score"] < 1 for r in rows) == 12
    assert all(len(r["choices"]) == 4 and r["answer_text"] == r["choices"][r["answer"]] for r in rows)
    assert all((r["answer"] == r["gold"]) == (r["score"] == 1.0) for r in rows)  # acc: the gold was chosen


def test_generation_and_chat_samples_show_the_gold_target_and_the_answer(reproduced_repo):
    for task, question in (
        ("demo_home_gen", "Question: Where does the "),
        ("demo_chat_home", "Where does the "),
    ):
        rows = json.loads(evalpin_in_process(reproduced_repo, "samples", task, "--json").stdout)["samples"]
        assert all(r["question"].startswith(question) and r["gold"] for r in rows)  # the doc, without shots
        assert all((r["answer"].strip() == r["gold"]) == (r["score"] == 1.0) for r in rows)


def test_a_revision_reads_the_committed_samples_and_old_ones_say_what_is_missing(reproduced_repo):
    committed = evalpin_in_process(reproduced_repo, "samples", "demo_home_gen", "--rev", "HEAD").stdout
    assert (
        committed.replace("at HEAD", "at workspace")
        == evalpin_in_process(reproduced_repo, "samples", "demo_home_gen").stdout
    )
    path = reproduced_repo / "eval/samples/demo_home_gen.jsonl"
    old = [
        {k: v for k, v in json.loads(line).items() if k not in ("question", "gold")} for line in path.open()
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in old))  # as evaluations before this change wrote
    out = evalpin_in_process(reproduced_repo, "samples", "demo_home_gen", "--limit", "1").stdout
    assert NOT_RECORDED in out and "gold      -" in out


def test_an_unknown_task_names_the_tasks_there(reproduced_repo):
    proc = evalpin_in_process(reproduced_repo, "samples", "demo_colour_mc", check=False)
    assert (
        proc.returncode == 2 and "no task 'demo_colour_mc'" in proc.stderr and "demo_color_mc" in proc.stderr
    )
