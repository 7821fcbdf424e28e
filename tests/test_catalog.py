import time

import pytest

from evalpin.catalog import (
    catalog_fields,
    check_data,
    entries,
    group_config,
    groups,
    locate,
    scores_of,
    task_data,
)
from evalpin.errors import EvalpinError
from evalpin.pin import DataPinRequest, pin_dataset
from support import ARC_COMMIT, write_dataset_cache


def test_catalog_tasks_are_located_in_their_own_folder_fast():
    started = time.perf_counter()
    found = {task: locate(task) for task in ("arc_challenge", "hellaswag", "gsm8k", "mmlu_anatomy")}
    assert time.perf_counter() - started < 1.0  # the whole catalog takes 7-15 s to index
    assert {task: path.parent.name for task, path in found.items()} == {
        "arc_challenge": "arc",
        "hellaswag": "hellaswag",
        "gsm8k": "gsm8k",
        "mmlu_anatomy": "default",  # mmlu/default: a quoted `"task":` key
    }
    arc = catalog_fields(found["arc_challenge"])  # include: arc_easy.yaml, then its own fields
    assert (arc["dataset_path"], arc["dataset_name"], arc["test_split"]) == (
        "allenai/ai2_arc",
        "ARC-Challenge",
        "test",
    )
    assert catalog_fields(found["mmlu_anatomy"])["dataset_name"] == "anatomy"


def test_catalog_entries_are_single_tasks_or_groups_and_anything_else_is_named():
    suite = {
        "catalog": [
            {"task": "arc_easy", "data": "arc"},
            {"group": "mmlu_demo", "tasks": ["mmlu_nutrition", "mmlu_virology"], "data": "mmlu"},
        ]
    }
    assert task_data(suite) == {"arc_easy": "arc", "mmlu_nutrition": "mmlu", "mmlu_virology": "mmlu"}
    assert groups(suite) == {"mmlu_demo": ["mmlu_nutrition", "mmlu_virology"]}
    bad_entries = (
        {"task": "arc_easy"},
        {"group": "g", "tasks": [], "data": "d"},
        {"group": "g", "tasks": "mmlu_nutrition", "data": "d"},  # a string, not a list
        {"group": "a/b", "tasks": ["mmlu_nutrition"], "data": "d"},  # becomes a file name
        "arc_easy",
    )
    for bad in bad_entries:
        with pytest.raises(EvalpinError, match=r"conf/suite/: catalog\[0\] is .*\{group: NAME, tasks:"):
            entries({"catalog": [bad]})
    twice = [{"task": "mmlu_nutrition", "data": "mmlu"}, suite["catalog"][1]]
    with pytest.raises(EvalpinError, match=r"catalog\[1\] names \['mmlu_nutrition'\] again"):
        entries({"catalog": twice})


def test_a_group_aggregates_its_tasks_metric_and_refuses_a_mix():
    subjects = scores_of(["mmlu_nutrition", "mmlu_virology"])
    assert group_config("g", [], subjects)["aggregate_metric_list"] == [
        {"metric": "acc", "aggregation": "mean", "weight_by_size": True, "filter_list": ["none"]}
    ]
    math = scores_of(["gsm8k"])  # filtered: scored under strict-match
    assert group_config("g", [], math)["aggregate_metric_list"][0]["filter_list"] == ["strict-match"]
    with pytest.raises(EvalpinError, match=r"catalog group 'g' mixes tasks scored by different metrics"):
        group_config("g", [], scores_of(["arc_easy", "gsm8k"]))


def test_a_config_whose_other_splits_were_not_pinned_is_refused_with_the_include_to_add(template_repo):
    write_dataset_cache(template_repo / "hub")
    pin_dataset(template_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub", include=("*/test-*",)))
    with pytest.raises(
        EvalpinError,
        match=r"lists split\(s\) \['train', 'validation'\] with no pinned file; the datasets library loads "
        r"every split.*--include 'ARC-Easy/train-\*' --include 'ARC-Easy/validation-\*'",
    ):
        check_data(template_repo, "arc_easy", "arc", catalog_fields(locate("arc_easy")))
