"""lm-eval catalog names (tasks, groups, tags) resolved with lm-eval's own index, bound to pinned data; the
`mmlu` group at MMLU's full size (scripts/make_mmlu_full.py) evaluated with a small limit."""

import time

import pytest
import yaml

from evalpin.base.errors import EvalpinError
from evalpin.pinning.pin import pin_dataset
from evalpin.pinning.requests import DataPinRequest
from evalpin.suite import catalog
from evalpin.suite.catalog import Card, entries, group_config, groups, primary_score, task_data
from evalpin.suite.catalog_tree import locate, resolve
from support import ARC_COMMIT, copy_repo, read_json, write_dataset_cache
from support import mmlu_full as make_mmlu_full
from support.real_upstream import FIXTURES

SUBGROUPS = ("mmlu_stem", "mmlu_other", "mmlu_social_sciences", "mmlu_humanities")
LIMIT = 2  # samples per subject


def scores_of(tasks: list[str]) -> dict[str, tuple[str, str]]:
    return {task: primary_score(resolve(task).config) for task in tasks}


def test_catalog_names_are_located_in_their_own_folder_fast():
    started = time.perf_counter()
    found = {
        task: locate(task) for task in ("arc_challenge", "hellaswag", "gsm8k", "mmlu_anatomy", "ai2_arc")
    }
    assert time.perf_counter() - started < 1.0  # the whole catalog takes 5-16 s to index
    assert {task: path.parent.name for task, path in found.items()} == {
        "arc_challenge": "arc",
        "hellaswag": "hellaswag",
        "gsm8k": "gsm8k",
        "mmlu_anatomy": "default",  # mmlu/default: a quoted `"task":` key
        "ai2_arc": "arc",  # a tag: arc_easy.yaml declares it, arc_challenge inherits it (include:)
    }
    arc = resolve("arc_challenge").config  # include: arc_easy.yaml, then its own fields
    assert (arc["dataset_path"], arc["dataset_name"], arc["test_split"]) == (
        "allenai/ai2_arc",
        "ARC-Challenge",
        "test",
    )
    assert [leaf.name for leaf in resolve("ai2_arc").leaves()] == ["arc_challenge", "arc_easy"]


def test_the_mmlu_group_resolves_to_its_subgroups_and_57_leaves_within_a_second():
    import lm_eval.tasks  # noqa: F401  (evaluate imports it anyway; its import is not the locating)

    resolve.cache_clear()
    started = time.perf_counter()
    mmlu = resolve("mmlu")
    assert time.perf_counter() - started < 1.0
    assert (mmlu.kind, tuple(c.name for c in mmlu.children)) == ("group", SUBGROUPS)
    assert len(mmlu.leaves()) == 57 and {leaf.config["dataset_path"] for leaf in mmlu.leaves()} == {
        "cais/mmlu"
    }
    stem = mmlu.children[0]
    assert stem.aggregated and "mmlu_anatomy" in [c.name for c in stem.children]  # its tag, expanded
    assert sorted(leaf.config["dataset_name"] for leaf in mmlu.leaves()) == sorted(make_mmlu_full.SUBJECTS)


def test_unknown_names_and_groups_where_tasks_belong_are_told_apart():
    unknown = (
        r"'mmlu_anatomyy' is no task, group or tag .*did you mean mmlu_anatomy.*`lm_eval ls tasks \| grep"
    )
    with pytest.raises(EvalpinError, match=unknown):
        locate("mmlu_anatomyy")
    own = {"catalog": [{"group": "g", "tasks": ["mmlu_stem"], "data": "mmlu"}]}
    with pytest.raises(
        EvalpinError, match=r"'mmlu_stem', which is a group .* `\{task: mmlu_stem, data: DATASET\}`"
    ):
        task_data(own)
    with pytest.raises(EvalpinError, match=r"To run lm-eval's group 'mmlu': `\{task: mmlu, data: mmlu\}`"):
        entries({"catalog": [{"group": "mmlu", "data": "mmlu"}]})


def test_catalog_entries_are_names_or_own_groups_and_anything_else_is_named():
    suite = {
        "catalog": [
            {"task": "arc_easy", "data": "arc"},
            {"group": "mmlu_demo", "tasks": ["mmlu_nutrition", "mmlu_virology"], "data": "mmlu"},
        ]
    }
    assert task_data(suite) == {"arc_easy": "arc", "mmlu_nutrition": "mmlu", "mmlu_virology": "mmlu"}
    members = ("mmlu_nutrition", "mmlu_virology")
    assert groups(suite) == {"mmlu_demo": catalog.Group(members, "acc", "none", True, "1.0")}
    assert catalog.datasets(suite) == ["arc", "mmlu"]
    bad_entries = (
        {"task": "arc_easy"},
        {"task": "arc_easy", "data": {}},
        {"group": "g", "tasks": [], "data": "d"},
        {"group": "g", "tasks": "mmlu_nutrition", "data": "d"},  # a string, not a list
        {"group": "a/b", "tasks": ["mmlu_nutrition"], "data": "d"},  # becomes a file name
        {"task": "gsm8k", "data": "gsm8k", "gen_kwargs": 32},  # not a mapping
        "arc_easy",
    )
    for bad in bad_entries:
        with pytest.raises(EvalpinError, match=r"conf/suite/: catalog\[0\] is .*\{group: NAME, tasks:"):
            entries({"catalog": [bad]})
    assert entries({"catalog": [{"task": "gsm8k", "data": "g", "gen_kwargs": {"max_gen_toks": 8}}]})[0][
        "gen_kwargs"
    ] == {"max_gen_toks": 8}
    with pytest.raises(
        EvalpinError, match=r"'arc_easy' sets gen_kwargs, and none of its tasks is generate_until"
    ):
        catalog.check_gen_kwargs({"gen_kwargs": {"max_gen_toks": 8}}, catalog.tree(0, entries(suite)[0]))
    twice = [{"task": "mmlu_nutrition", "data": "mmlu"}, suite["catalog"][1]]
    with pytest.raises(EvalpinError, match=r"catalog\[1\] names \['mmlu_nutrition'\] again"):
        entries({"catalog": twice})
    inside = [{"task": "mmlu_nutrition", "data": "mmlu"}, {"task": "mmlu", "data": "mmlu"}]
    with pytest.raises(
        EvalpinError, match=r"catalog\[1\] \(mmlu\) runs 'mmlu_nutrition', which catalog\[0\]"
    ):
        task_data({"catalog": inside})


def test_a_group_over_several_hub_datasets_binds_each_by_its_dataset_path():
    paths = sorted({leaf.config["dataset_path"] for leaf in resolve("leaderboard").leaves()})
    assert len(paths) == 6
    with pytest.raises(EvalpinError, match=r"reads 6 Hub datasets .* bind each: `data: \{DigitalLearning"):
        task_data({"catalog": [{"task": "leaderboard", "data": "bbh"}]})
    partial = {path: path.split("/")[-1].lower() for path in paths if path != "Idavidrein/gpqa"}
    with pytest.raises(EvalpinError, match=r"'leaderboard_gpqa_diamond' reads Hub dataset 'Idavidrein/gpqa'"):
        task_data({"catalog": [{"task": "leaderboard", "data": partial}]})
    bound = task_data({"catalog": [{"task": "leaderboard", "data": {**partial, "Idavidrein/gpqa": "gpqa"}}]})
    assert bound["leaderboard_gpqa_main"] == "gpqa" and bound["leaderboard_bbh_navigate"] == "bbh"
    with pytest.raises(EvalpinError, match=r"`data:` binds \['cais/mmlu'\], which no leaf reads"):
        task_data({"catalog": [{"task": "arc_easy", "data": {"allenai/ai2_arc": "arc", "cais/mmlu": "m"}}]})


def test_a_group_aggregates_its_tasks_metric_and_refuses_a_mix():
    subjects = scores_of(["mmlu_nutrition", "mmlu_virology"])
    assert group_config("g", subjects)["aggregate_metric_list"] == [
        {"metric": "acc", "aggregation": "mean", "weight_by_size": True, "filter_list": ["none"]}
    ]
    math = scores_of(["gsm8k"])  # filtered: scored under strict-match
    assert group_config("g", math)["aggregate_metric_list"][0]["filter_list"] == ["strict-match"]
    with pytest.raises(EvalpinError, match=r"catalog group 'g' mixes tasks scored by different metrics"):
        group_config("g", scores_of(["arc_easy", "gsm8k"]))


def test_a_config_whose_other_splits_were_not_pinned_is_refused_with_the_include_to_add(template_repo):
    write_dataset_cache(template_repo / "hub")
    pin_dataset(template_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub", include=("*/test-*",)))
    with pytest.raises(
        EvalpinError,
        match=r"lists split\(s\) \['train', 'validation'\] with no pinned file; the datasets library loads "
        r"every split.*--include 'ARC-Easy/train-\*' --include 'ARC-Easy/validation-\*'",
    ):
        Card.read(template_repo, "arc").check("arc_easy", resolve("arc_easy").config)


@pytest.fixture(scope="module")
def mmlu_evaluated(pinned_repo_origin, tmp_path_factory):
    """The `mmlu` group on the full-size MMLU-shaped dataset (generated once per machine into .cache),
    pinned, evaluated once with LIMIT samples per subject; tests read its outputs."""
    from filelock import FileLock

    from evalpin.config.params import Params
    from evalpin.evaluation.evaluate_stage import evaluate

    with FileLock(str(FIXTURES) + "-mmlu-full.lock"):
        source = make_mmlu_full.write(FIXTURES / "mmlu-full")
    repo = copy_repo(pinned_repo_origin, tmp_path_factory.mktemp("mmlu") / "repo")
    request = DataPinRequest(
        "cais/mmlu", make_mmlu_full.COMMIT, "mmlu", None, local_dir=str(source), unverified_origin=True
    )
    pin_dataset(repo, request)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    entry = {"task": "mmlu", "data": "mmlu"}
    params["suite"].update(tasks=[], chat_tasks=[], catalog=[entry], limit=LIMIT)
    return repo, evaluate(repo, Params.from_dict(params)), params


def test_the_mmlu_group_reports_leaf_subgroup_and_group_rows(mmlu_evaluated):
    repo, metrics, _ = mmlu_evaluated
    rows = metrics["tasks"]
    assert len(rows) == 57 + 4 + 1 and {"mmlu", *SUBGROUPS} <= rows.keys()
    assert all(rows[f"mmlu_{s}"]["n"] == LIMIT for s in make_mmlu_full.SUBJECTS)
    assert rows["mmlu"]["n"] == 57 * LIMIT and rows["mmlu"]["metric"] == "acc"
    assert metrics["suite"] == {"score": rows["mmlu"]["score"], "tasks": 1}  # the group counts once
    assert len(list((repo / "eval/samples").glob("*.jsonl"))) == 57  # samples per leaf


def test_group_scores_equal_lm_evals_own_aggregation_of_the_leaves(mmlu_evaluated):
    from lm_eval.api.metrics import aggregate_subtask_metrics

    _, metrics, params = mmlu_evaluated
    rows = metrics["tasks"]
    tree = catalog.groups(params["suite"])
    assert list(tree) == [*SUBGROUPS, "mmlu"]  # members before the groups holding them
    for name in (*SUBGROUPS, "mmlu"):
        members = tree[name].members
        expected = aggregate_subtask_metrics(
            [rows[m]["score"] for m in members], [rows[m]["n"] for m in members]
        )
        assert rows[name]["score"] == pytest.approx(expected, abs=1e-12), name
        assert rows[name]["n"] == sum(rows[m]["n"] for m in members)


def test_the_fingerprint_and_the_gate_treat_subgroups_as_groups(mmlu_evaluated):
    from evalpin.config.params import Gate
    from evalpin.results.gate import Side, judge_all

    def judge(task: str, a: Side, b: Side) -> object:
        return {v.task: v for v in judge_all((a, b), None, Gate(2.0, 0.02))}[task]

    repo, metrics, _ = mmlu_evaluated
    fingerprint = read_json(repo / "eval/fingerprint.json")
    tasks = fingerprint["suite"]["tasks"]
    assert tasks["mmlu"]["output_type"] == "group" and tasks["mmlu"]["tasks"] == list(SUBGROUPS)
    assert tasks["mmlu_stem"]["output_type"] == "group" and "mmlu_anatomy" in tasks["mmlu_stem"]["tasks"]
    assert tasks["mmlu"]["data"]["name"] == "mmlu" == tasks["mmlu_stem"]["data"]["name"]
    side = Side("workspace", metrics, fingerprint)
    assert judge("mmlu_stem", side, side).verdict == "pass"
    changed = {**tasks, "mmlu_anatomy": {**tasks["mmlu_anatomy"], "num_fewshot": 5}}
    other = Side("b", metrics, {**fingerprint, "suite": {**fingerprint["suite"], "tasks": changed}})
    assert judge("mmlu_anatomy", side, other).verdict == "not comparable"


def test_suite_data_lists_the_hub_datasets_what_is_pinned_and_the_commands(mmlu_evaluated):
    from evalpin.suite.data import describe

    repo, _, params = mmlu_evaluated
    pinned = describe(repo, params["suite"])
    assert "catalog[0] mmlu: a group of 57 tasks" in pinned and "57 configs abstract_algebra" in pinned
    assert "bound to data mmlu: eval/data/mmlu pinned from cais/mmlu@6d4e5f7a8b9c" in pinned
    assert "every config present" in pinned and "pin-data" not in pinned
    arc = describe(repo, params["suite"], "ai2_arc")  # not in the suite yet
    assert "evalpin pin-data allenai/ai2_arc --revision main --resolve --name ai2_arc --include " in arc
    assert "hf download allenai/ai2_arc --repo-type dataset --revision main --include README.md" in arc
    assert "--local-dir ai2_arc-snapshot" in arc and "`catalog: [{task: ai2_arc, data: ai2_arc}]`" in arc


def test_outputs_diff_counts_changed_samples_per_group_and_subgroup(mmlu_evaluated):
    from evalpin.results.sample_changes import SampleChange, format_changes, groups_at

    repo, _, _ = mmlu_evaluated
    groups = groups_at(repo, "workspace", "no-such-rev")  # a side without outputs adds nothing
    assert len(groups["mmlu"]) == 57 and "mmlu_anatomy" in groups["mmlu_stem"]
    changed = [SampleChange("mmlu_anatomy", 0, (1.0, 0.0), (1, 2))]
    table = format_changes(changed, "a", "b", groups=groups)
    assert "group mmlu: 1 samples changed in 1 of its 57 tasks" in table
    assert f"group mmlu_stem: 1 samples changed in 1 of its {len(groups['mmlu_stem'])} tasks" in table
    assert "mmlu_humanities" not in table
