"""Results kept by key (.evalpin/results): inputs evaluated before are a lookup, not a rerun."""

import os

import pytest

from evalpin.evaluation import earlier_results, task_store
from evalpin.evaluation.task_store import Stored
from support import evalpin_in_process
from support.outputs import output_bytes


@pytest.mark.slow
def test_coming_back_to_inputs_evaluated_before_evaluates_nothing(reproduced_repo):
    """eval/results kept one result per task: a round trip (an experiment, a data change reverted)
    evaluated the task again on the way back."""
    before = output_bytes(reproduced_repo)
    data = reproduced_repo / "eval/tasks/data/color_mc.jsonl"
    original = data.read_text()
    data.write_text(original + original.splitlines()[0] + "\n")
    changed = evalpin_in_process(reproduced_repo, "evaluate")
    assert "4 of 5 tasks reused, 1 to run" in changed.stdout
    data.write_text(original)
    back = evalpin_in_process(reproduced_repo, "evaluate")
    assert "demo_color_mc: reused (evaluated before with these inputs: .evalpin/results)" in back.stdout
    assert "5 of 5 tasks reused, 0 to run" in back.stdout and "running" not in back.stderr
    assert output_bytes(reproduced_repo) == before  # the outputs of the first run, byte for byte

    data.write_text(original + original.splitlines()[0] + "\n")
    evalpin_in_process(reproduced_repo, "evaluate")  # recalled too
    data.write_text(original)
    for path in (reproduced_repo / ".evalpin/results/demo_color_mc").glob("*.json"):
        path.write_text(path.read_text().replace('"acc"', '"acc "', 1))
    again = evalpin_in_process(reproduced_repo, "evaluate")  # a kept result edited: never recalled
    assert "demo_color_mc: runs (data: eval/tasks/data/color_mc.jsonl changed)" in again.stdout


def test_each_task_keeps_its_most_recently_used_results(tmp_path):
    folder = tmp_path / ".evalpin/results/demo_color_mc"
    folder.mkdir(parents=True)
    for age in range(8):
        path = folder / f"{age:032d}.json"
        path.write_text("{}")
        os.utime(path, (1_000_000 - age, 1_000_000 - age))  # 0 is the most recent
    removed = earlier_results.prune(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{age:032d}.json" for age in range(earlier_results.KEEP)
    ]
    assert len(removed) == 8 - earlier_results.KEEP


def test_a_queued_experiments_temporary_copy_keeps_its_results_in_the_repositorys_store(tmp_path):
    """DVC runs a queued experiment in <repo>/.dvc/tmp/exps/tmpXXXX: its results were kept there, and
    lost with the copy."""
    copy = tmp_path / "repo/.dvc/tmp/exps/tmpab12cd"
    copy.mkdir(parents=True)
    assert earlier_results.home_of(copy) == (tmp_path / "repo").resolve()
    assert earlier_results.home_of(tmp_path / "repo") == tmp_path / "repo"
    key = {"task": "demo_color_mc", "format": 3}
    earlier_results.keep(copy, "demo_color_mc", key, "{}")
    assert earlier_results.path_for(copy, "demo_color_mc", key).is_relative_to(
        (tmp_path / "repo/.evalpin").resolve()
    )
    assert earlier_results.find(tmp_path / "repo", "demo_color_mc", key)[0] == "{}"


def test_a_queued_experiment_recalls_a_result_kept_in_the_repositorys_store(tmp_path):
    """The lookup named the kept file relative to the temporary copy, which does not hold it: a
    ValueError, so the recall that queued experiments share a store for crashed the run."""
    repo, copy = tmp_path / "repo", tmp_path / "repo/.dvc/tmp/exps/tmpab12cd"
    copy.mkdir(parents=True)
    key = {"format": 3, "task": "t", "inference": {"seed": 1234}}
    stored = task_store.write(
        repo, Stored("t", key, {"results": {"acc,none": 0.5}}, [{"doc_id": 0}], reads={})
    )
    found, why, recalled = task_store.lookup(copy, "t", key)  # the copy's own eval/results is empty
    assert (found, why) == (stored, "") and recalled == task_store.path_of(repo, "t").read_text()
