"""Stored task results (evaluation/task_store.py): what is written reads back as it was returned, a result
is reused only for its own key and its own untouched content (saying why not otherwise), and prune leaves
eval/results as an uninterrupted run of the suite leaves it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from evalpin.base.outs import RESULTS_DIR
from evalpin.config.compose import load_typed_params
from evalpin.evaluation import earlier_results, task_store
from evalpin.evaluation import plan as planning
from evalpin.evaluation.task_key import digest
from evalpin.evaluation.task_store import Stored

TASK = "demo_color_mc"  # one of the demo suite's leaf tasks (multiple choice)
OTHER = "demo_home_gen"


def stored_names(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / RESULTS_DIR).iterdir())


def rewrite(repo: Path, task: str, edit) -> None:
    """Edit eval/results/TASK.json's data by hand (its digests left as they were)."""
    path = task_store.path_of(repo, task)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def test_a_written_result_reads_back_as_write_returned_it(tmp_path):
    stored = Stored(
        task="t",
        key={"format": 1, "task": "t", "inference": {"seed": 1234}},
        result={"results": {"acc,none": 0.5}, "n-samples": {"effective": 2}},
        records=[{"doc_id": 1, "response": ("a", "b"), "by_id": {3: "x"}}],
        server_check={"backend": "gguf"},
        numerics={"class": "cpu-portable-0123456789", "mode": "portable"},
    )
    written = task_store.write(tmp_path, stored)
    # as JSON holds it: tuples are lists, keys are text
    assert written.records == [{"doc_id": 1, "response": ["a", "b"], "by_id": {"3": "x"}}]
    assert task_store.read(tmp_path, "t") == (written, "")
    assert task_store.lookup(tmp_path, "t", stored.key) == (written, "", None)
    data = json.loads(task_store.path_of(tmp_path, "t").read_text())
    assert data["key_sha256"] == digest(stored.key)
    assert data["content_sha256"] == digest({k: v for k, v in data.items() if k != "content_sha256"})
    assert [p.name for p in (tmp_path / RESULTS_DIR).iterdir()] == ["t.json"]  # no temporary left


def test_each_stored_result_of_a_run_reads_back_under_its_planned_key(reproduced_repo):
    plan = planning.build_plan(reproduced_repo, load_typed_params(reproduced_repo))
    assert plan.pending == [] and set(plan.stored) == set(plan.leaves)
    for name, stored in plan.stored.items():
        assert task_store.lookup(reproduced_repo, name, plan.keys[name]) == (stored, "", None)
        assert stored.numerics and stored.numerics["class"]
        assert task_store.write(reproduced_repo, stored) == stored
    assert task_store.read(reproduced_repo, "nonesuch") == (None, "no stored result")


def test_a_hand_edited_result_is_not_reused_and_says_why(reproduced_repo):
    before = task_store.read(reproduced_repo, TASK)[0]
    rewrite(reproduced_repo, TASK, lambda d: d["records"][0].update(score=1.0 - d["records"][0]["score"]))
    changed = f"{RESULTS_DIR}/{TASK}.json was changed after it was stored (digest mismatch)"
    assert task_store.read(reproduced_repo, TASK) == (None, changed)
    kept = earlier_results.find(reproduced_repo, TASK, before.key)[0]  # the intact copy kept by key
    assert task_store.lookup(reproduced_repo, TASK, before.key) == (before, "", kept)
    shutil.rmtree(reproduced_repo / earlier_results.FOLDER / TASK)
    assert task_store.lookup(reproduced_repo, TASK, before.key) == (None, changed, None)


def test_a_key_edited_with_its_own_digest_is_still_a_mismatch(reproduced_repo):
    """The key and key_sha256 edited to agree: the content digest still covers them both."""

    def edit(data: dict) -> None:
        data["key"]["inference"]["seed"] = 7
        data["key_sha256"] = digest(data["key"])

    rewrite(reproduced_repo, TASK, edit)
    assert task_store.read(reproduced_repo, TASK)[1].endswith("(digest mismatch)")

    def only_the_key_digest(data: dict) -> None:  # the content digest recomputed over the edit
        data["key_sha256"] = "0" * 64
        data["content_sha256"] = digest({k: v for k, v in data.items() if k != "content_sha256"})

    rewrite(reproduced_repo, OTHER, only_the_key_digest)
    assert task_store.read(reproduced_repo, OTHER)[1].endswith("(digest mismatch)")


def test_a_truncated_or_foreign_file_is_unreadable_and_not_reused(reproduced_repo):
    path = task_store.path_of(reproduced_repo, TASK)
    unreadable = f"{RESULTS_DIR}/{TASK}.json is not a stored result (unreadable); evaluating it again"
    text = path.read_text()
    for broken in (text[: len(text) // 2], "", "[]", '{"task": "x"}', '"text"'):
        path.write_text(broken)
        assert task_store.read(reproduced_repo, TASK) == (None, unreadable), broken


def test_a_file_holding_another_task_is_not_that_tasks_result(reproduced_repo):
    other = task_store.path_of(reproduced_repo, OTHER)
    other.write_bytes(task_store.path_of(reproduced_repo, TASK).read_bytes())
    assert task_store.read(reproduced_repo, OTHER) == (
        None,
        f"{RESULTS_DIR}/{OTHER}.json holds task {TASK!r}",
    )


def test_a_lookup_under_another_key_says_what_changed(reproduced_repo):
    stored = task_store.read(reproduced_repo, TASK)[0]
    seed = stored.key["inference"]["seed"]
    key = {**stored.key, "inference": {**stored.key["inference"], "seed": seed + 1}}
    assert task_store.lookup(reproduced_repo, TASK, key) == (
        None,
        f"inference.seed {seed} -> {seed + 1}",
        None,
    )
    assert task_store.lookup(reproduced_repo, TASK, stored.key) == (stored, "", None)


def test_a_result_stored_before_numerics_were_recorded_still_reads(reproduced_repo):
    """An older evalpin wrote no `numerics` field, and its content digest does not cover one."""

    def edit(data: dict) -> None:
        del data["numerics"]
        data["content_sha256"] = digest({k: v for k, v in data.items() if k != "content_sha256"})

    current = task_store.read(reproduced_repo, TASK)[0]
    rewrite(reproduced_repo, TASK, edit)
    older, why, _ = task_store.lookup(reproduced_repo, TASK, current.key)
    assert why == "" and older.numerics is None
    assert (older.task, older.key, older.result, older.records) == (
        current.task,
        current.key,
        current.result,
        current.records,
    )
    written = task_store.write(reproduced_repo, older)  # and is written again without the field
    assert written == older and "numerics" not in json.loads(
        task_store.path_of(reproduced_repo, TASK).read_text()
    )


def test_prune_keeps_the_suites_results_and_a_live_writers_temporary(reproduced_repo):
    folder = reproduced_repo / RESULTS_DIR
    results = stored_names(reproduced_repo)
    tasks = [Path(name).stem for name in results]
    live = f".{TASK}.json.evalpin-{os.getpid()}-a1.tmp"  # a running writer's (a Slurm job's)
    dead = f".{TASK}.json.evalpin-999999999-b2.tmp"  # a killed writer's (pid above any pid_max)
    replaced = "old.json.evalpin-999999999-c3.replaced"
    for name in (live, dead, replaced, "left_the_suite.json", "notes.txt"):
        (folder / name).write_text("{}")
    (folder / "a_folder").mkdir()
    removed = task_store.prune(reproduced_repo, tasks)
    assert removed == sorted([dead, replaced, "left_the_suite.json", "notes.txt"])
    assert stored_names(reproduced_repo) == sorted([*results, live, "a_folder"])
    assert task_store.prune(reproduced_repo, tasks) == []  # nothing more to remove
    assert task_store.prune(reproduced_repo, tasks[1:]) == [results[0]]  # a task left the suite
    assert task_store.prune(reproduced_repo / "nowhere", tasks) == []  # no eval/results yet
