"""eval/fingerprint.json (evaluation/fingerprint.py): built again from a run's stored results it is the
committed one; per task it records what the task asks (identity), what the model chose (outputs_sha256) and
in which numerics class, so one changed output changes that task's digest and the suite's, nothing else."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from evalpin.base import numerics
from evalpin.config.compose import load_typed_params
from evalpin.evaluation import fingerprint
from evalpin.evaluation import plan as planning
from evalpin.evaluation.evaluate_stage import results_of
from evalpin.evaluation.harness import suite_tasks
from evalpin.evaluation.output_set import DIGESTS
from evalpin.evaluation.task_store import Stored
from evalpin.suite import catalog
from evalpin.suite.catalog import Group
from support import read_json

GENERATED = "demo_home_gen"  # generate_until: its records' responses are the generated text
CHOICE = "demo_color_mc"  # multiple_choice
CHAT = "demo_chat_home"  # a chat task: its prompt is rendered by the delivery's template


def built(repo: Path, edit=None) -> tuple[dict, dict[str, Stored]]:
    """The fingerprint as the merge builds it from the stored results (after `edit(found)`, if given)."""
    plan = planning.build_plan(repo, load_typed_params(repo))
    found = {name: plan.stored[name] for name in plan.leaves}
    if edit:
        edit(found)
    suite = plan.params.suite
    groups = catalog.groups(suite.raw)
    results = results_of(found, groups)
    records = {task: found[task].records for task in [*suite_tasks(suite), *suite.chat_tasks]}
    return fingerprint.build(plan, found, results, records, groups), found


def with_records(stored: Stored, edit) -> Stored:
    records = json.loads(json.dumps(stored.records))
    edit(records)
    return dataclasses.replace(stored, records=records)


def test_built_again_from_the_stored_results_it_is_the_committed_fingerprint(reproduced_repo):
    committed = read_json(reproduced_repo / "eval/fingerprint.json")
    assert DIGESTS in committed  # output_set.write_set adds the digests of the files beside it
    again, found = built(reproduced_repo)
    assert again == {k: v for k, v in committed.items() if k != DIGESTS}
    assert set(again["suite"]["tasks"]) == set(found)
    assert set(again["generation"]) == {
        t for t, s in found.items() if s.result["config"]["output_type"] == "generate_until"
    }


def test_each_task_records_its_identity_its_outputs_and_its_setting(reproduced_repo):
    fp, found = built(reproduced_repo)
    tasks = fp["suite"]["tasks"]
    for name, row in tasks.items():
        records = found[name].records
        picks = [
            r["response"]["choice"] if isinstance(r["response"], dict) else r["response"] for r in records
        ]
        lines = "".join(json.dumps([r["doc_id"], p]) + "\n" for r, p in zip(records, picks, strict=True))
        assert row["outputs_sha256"] == hashlib.sha256(lines.encode()).hexdigest()
        assert row["chat_template_applied"] == (name == CHAT)
        assert row["num_fewshot"] == found[name].result["n-shot"]
        assert row["output_type"] == found[name].result["config"]["output_type"]
        assert "data" not in row  # local tasks read no pinned dataset
    assert tasks[CHOICE]["identity"] == tasks[CHOICE]["hash"]  # prompt, doc and target: the task's own
    # through the chat template the prompt is the delivery's: only doc and target say what the task asks
    chat_rows = found[CHAT].records
    assert tasks[CHAT]["identity"] == fingerprint.task_hash(chat_rows, ("doc_hash", "target_hash"))
    assert tasks[CHAT]["identity"] != tasks[CHAT]["hash"]
    assert isinstance(found[CHOICE].records[0]["response"], dict)  # a choice task: the argmax, not logliks


def test_one_changed_generated_text_changes_that_tasks_outputs_and_nothing_else(reproduced_repo):
    before, found = built(reproduced_repo)
    assert isinstance(found[GENERATED].records[0]["response"], str)

    def edit(found: dict[str, Stored]) -> None:
        found[GENERATED] = with_records(found[GENERATED], lambda rows: rows[0].update(response="changed"))

    after = built(reproduced_repo, edit)[0]
    assert after["output_fingerprint"] != before["output_fingerprint"]
    old, new = before["suite"]["tasks"][GENERATED], after["suite"]["tasks"][GENERATED]
    assert new["outputs_sha256"] != old["outputs_sha256"]
    assert {**new, "outputs_sha256": old["outputs_sha256"]} == old
    for fp in (before, after):
        fp.pop("output_fingerprint")
        fp["suite"]["tasks"][GENERATED].pop("outputs_sha256")
    assert after == before


def test_a_changed_loglikelihood_that_keeps_the_choice_changes_no_output(reproduced_repo):
    """outputs_sha256 is over what the model chose, not the scores it chose by (which vary by CPU)."""
    before = built(reproduced_repo)[0]

    def nudge(rows: list[dict]) -> None:
        rows[0]["response"]["loglikelihoods"][rows[0]["response"]["choice"]] += 1e-6

    after = built(reproduced_repo, lambda f: f.update({CHOICE: with_records(f[CHOICE], nudge)}))[0]
    assert after == before


def test_one_numerics_class_is_recorded_whole_several_per_task(reproduced_repo):
    fp, found = built(reproduced_repo)
    record = found[CHOICE].numerics
    assert fp["numerics"] == record and record["class"]
    other = {**record, "threads": record["threads"] + 1, "class": "cpu-portable-0000000000"}

    def elsewhere(found: dict[str, Stored]) -> None:  # one task's result stored on another machine
        found[CHOICE] = dataclasses.replace(found[CHOICE], numerics=other)

    mixed = built(reproduced_repo, elsewhere)[0]["numerics"]
    assert mixed == numerics.summary({t: (other if t == CHOICE else record) for t in found})
    assert mixed["classes"] == {record["class"]: record, other["class"]: other}
    assert mixed["tasks"] == {t: other["class"] if t == CHOICE else record["class"] for t in sorted(found)}

    def older(found: dict[str, Stored]) -> None:  # stored before classes were recorded
        found[CHOICE] = dataclasses.replace(found[CHOICE], numerics=None)

    unknown = built(reproduced_repo, older)[0]["numerics"]
    assert unknown["classes"] == {record["class"]: record}
    assert unknown["tasks"][CHOICE] is None and unknown["tasks"][GENERATED] == record["class"]


def test_a_group_records_its_members_and_one_pinned_dataset_or_each():
    data = {"name": "mmlu", "revision": "r", "lock_digest": "l", "files_sha256": "f"}
    row = {"identity": "i", "num_fewshot": 0, "chat_template_applied": False, "outputs_sha256": "o"}
    tasks = {
        "a": {**row, "identity": "ia", "outputs_sha256": "oa", "data": data},
        "b": {**row, "identity": "ib", "outputs_sha256": "ob", "data": {**data, "files_sha256": "g"}},
        "c": {
            **row,
            "identity": "ic",
            "outputs_sha256": "oc",
            "num_fewshot": 5,
            "data": {**data, "name": "arc"},
        },
    }
    groups = {"sub": Group(("a", "b"), "acc", None), "top": Group(("sub", "c"), "acc", None)}
    found = fingerprint.group_fingerprints({"versions": {"sub": "N/A"}}, tasks, groups)
    sub, top = found["sub"], found["top"]
    assert sub["tasks"] == ["a", "b"] and sub["version"] == "N/A" and top["version"] is None
    assert sub["identity"] == hashlib.sha256(b"iaib").hexdigest()
    assert sub["outputs_sha256"] == hashlib.sha256(b"oaob").hexdigest()
    assert (
        sub["data"] == {**data, "files_sha256": hashlib.sha256(b"fg").hexdigest()} and "datasets" not in sub
    )
    # a group over a subgroup reads the subgroup's row; over two datasets it records each
    assert top["identity"] == hashlib.sha256((sub["identity"] + "ic").encode()).hexdigest()
    assert top["num_fewshot"] == [[0, 0], 5] and top["data"] is None
    assert [d["name"] for d in top["datasets"]] == ["arc", "mmlu"]
