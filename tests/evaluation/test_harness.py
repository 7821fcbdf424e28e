"""lm-eval's results as evalpin keeps them (evaluation/harness.py): sample records under the primary filter,
score rows with groups counted once, and the checks that conf/model agrees with the lock, each naming the
file, the field and the fix."""

from __future__ import annotations

import dataclasses
import os

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.config.params import Model
from evalpin.delivery.gguf_file import GgufInfo
from evalpin.delivery.lock import BaseBinding, LockedFile
from evalpin.evaluation.harness import (
    check_base,
    check_gguf,
    check_gguf_server_tasks,
    primary_filter,
    primary_metric,
    sample_records,
    set_wait_policy,
    summarize_results,
)
from evalpin.suite.catalog import Group
from support import TEMPLATE, build_demo_lock

HASHES = {"doc_hash": "d", "prompt_hash": "p", "target_hash": "t"}


def results_like_lm_eval() -> dict:
    """simple_evaluate's return value, as far as the records read it: a choice task and a generation task
    logged under two filters (as gsm8k logs each sample once per filter)."""
    return {
        "configs": {
            "mc": {
                "output_type": "multiple_choice",
                "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
            },
            "gen": {
                "output_type": "generate_until",
                "metric_list": [{"metric": "exact_match"}],
                "filter_list": [{"name": "strict-match"}, {"name": "flexible-extract"}],
            },
        },
        "samples": {
            "mc": [
                {
                    "doc_id": 1,
                    **HASHES,
                    "filtered_resps": [["-2.5", "False"], ["-0.1234567", "True"]],
                    "acc": 1,
                },
                {
                    "doc_id": 0,
                    **HASHES,
                    "filtered_resps": [[-1.0000001, False], [-1.0000004, False]],
                    "acc": 0.0,
                },
            ],
            "gen": [
                {
                    "doc_id": 0,
                    **HASHES,
                    "filter": "flexible-extract",
                    "filtered_resps": ["4"],
                    "exact_match": 1.0,
                },
                {
                    "doc_id": 0,
                    **HASHES,
                    "filter": "strict-match",
                    "filtered_resps": ["[invalid]"],
                    "exact_match": 0,
                },
            ],
        },
        "readable": {"mc": {1: {"question": "Q?", "choices": ["a", "b"]}}},
    }


def test_choice_records_keep_rounded_loglikelihoods_and_their_argmax_in_doc_order():
    records = sample_records(results_like_lm_eval(), "mc")
    assert [r["doc_id"] for r in records] == [0, 1]
    # equal once rounded to LOGLIK_DECIMALS: the first, as on any CPU
    assert records[0]["response"] == {"choice": 0, "loglikelihoods": [-1.0, -1.0]}
    assert records[1]["response"] == {"choice": 1, "loglikelihoods": [-2.5, -0.123457]}
    assert records[1] == {
        "doc_id": 1,
        **HASHES,
        "response": {"choice": 1, "loglikelihoods": [-2.5, -0.123457]},
        "score": 1.0,  # the primary metric's, as a float
        "question": "Q?",  # what readable.describe kept for the doc
        "choices": ["a", "b"],
    }
    assert isinstance(records[0]["score"], float) and "question" not in records[0]


def test_generation_records_keep_the_primary_filters_text_only():
    results = results_like_lm_eval()
    assert sample_records(results, "gen") == [{"doc_id": 0, **HASHES, "response": "[invalid]", "score": 0.0}]
    results["configs"]["gen"]["filter_list"] = None  # lm-eval's "none", which samples may leave unnamed
    for item in results["samples"]["gen"]:
        del item["filter"]
    results["samples"]["gen"][0]["filtered_resps"] = ["a", "b"]  # several responses stay a list
    assert [r["response"] for r in sample_records(results, "gen")] == [["a", "b"], "[invalid]"]


def test_the_primary_metric_and_filter_are_the_tasks_first():
    results = results_like_lm_eval()
    assert (primary_metric(results, "mc"), primary_filter(results, "mc")) == ("acc", "none")
    assert (primary_metric(results, "gen"), primary_filter(results, "gen")) == ("exact_match", "strict-match")
    results["configs"]["mc"]["metric_list"] = []
    with pytest.raises(EvalpinError, match=r"task 'mc' declares no metric_list; add one to its YAML"):
        primary_metric(results, "mc")


def scores(value: float, stderr, n: int, key: str = "none", metric: str = "acc") -> dict:
    return {f"{metric},{key}": value, f"{metric}_stderr,{key}": stderr, "sample_len": n}


def test_summary_rows_count_a_group_once_not_its_members_again():
    """top = (sub, c), sub = (a, b); e stands alone. The group names no filter: its first leaf's."""
    leaf = {"output_type": "generate_until", "metric_list": [{"metric": "exact_match"}]}
    strict = {**leaf, "filter_list": [{"name": "strict-match"}]}
    results = {
        "configs": {"a": strict, "b": strict, "c": strict, "e": {**leaf, "metric_list": [{"metric": "acc"}]}},
        "results": {
            "a": scores(1.0, 0.1, 2, "strict-match", "exact_match"),
            "b": scores(0.0, "N/A", 2, "strict-match", "exact_match"),
            "c": scores(0.5, None, 4, "strict-match", "exact_match"),
            "e": scores(0.25, 0.2, 8),
            "sub": scores(0.5, 0.3, 4, "strict-match", "exact_match"),
            "top": scores(0.5, "N/A", 8, "strict-match", "exact_match"),
        },
        "n-samples": {
            t: {"effective": n, "original": 99} for t, n in (("a", 2), ("b", 2), ("c", 4), ("e", 8))
        },
    }
    groups = {
        "sub": Group(("a", "b"), "exact_match", None),
        "top": Group(("sub", "c"), "exact_match", None),
    }
    summary = summarize_results(results, ["a", "b", "c", "e"], groups)
    rows = summary["tasks"]
    assert rows["a"] == {"metric": "exact_match,strict-match", "score": 1.0, "stderr": 0.1, "n": 2}
    assert rows["b"]["stderr"] is None and rows["c"]["stderr"] is None  # "N/A" and absent
    assert rows["e"] == {"metric": "acc", "score": 0.25, "stderr": 0.2, "n": 8}
    assert rows["sub"] == {"metric": "exact_match,strict-match", "score": 0.5, "stderr": 0.3, "n": 4}
    assert rows["top"] == {"metric": "exact_match,strict-match", "score": 0.5, "stderr": None, "n": 8}
    assert list(rows) == ["a", "b", "c", "e", "sub", "top"]
    assert summary["suite"] == {"score": (0.25 + 0.5) / 2, "tasks": 2}  # e and top
    assert summarize_results(results, ["a", "e"])["suite"] == {"score": (1.0 + 0.25) / 2, "tasks": 2}
    results["results"]["sub"]["exact_match,none"] = 0.75  # a group naming its filter is read under it
    named = summarize_results(results, ["a", "b"], {"sub": Group(("a", "b"), "exact_match", "none")})
    assert named["tasks"]["sub"] == {"metric": "exact_match", "score": 0.75, "stderr": None, "n": 4}


@pytest.fixture(scope="module")
def demo_lock(tmp_path_factory):
    return build_demo_lock(tmp_path_factory.mktemp("demo-lock"))


def gguf_lock(demo_lock, path: str = "m.Q4_1.gguf", split: list[int] | None = None):
    info = GgufInfo(1, "llama", "Q4_1", 2, 64, {}, None, None, {"Q4_1": 1}, "a" * 64, "b" * 64, split)
    files = (LockedFile(path, 1, "c" * 64, "weights"),)
    return dataclasses.replace(demo_lock, files=files, gguf={path: info})


def test_check_gguf_names_conf_models_field_the_locked_file_and_the_fix(demo_lock):
    check_gguf(demo_lock, Model(name="demo-tiny"))  # a HF delivery, no gguf_file: nothing to say
    with pytest.raises(EvalpinError) as found:
        check_gguf(demo_lock, Model(name="demo-tiny", gguf_file="m.gguf"))
    assert str(found.value).startswith(
        "conf/model/demo-tiny.yaml: gguf_file is 'm.gguf', but models/demo-tiny.lock.json pins None."
    )
    lock = gguf_lock(demo_lock)
    check_gguf(lock, Model(name="demo-tiny", gguf_file="m.Q4_1.gguf"))
    with pytest.raises(EvalpinError) as found:
        check_gguf(lock, Model(name="demo-tiny"))
    assert str(found.value) == (
        "conf/model/demo-tiny.yaml: gguf_file is None, but models/demo-tiny.lock.json pins 'm.Q4_1.gguf'. "
        "Set `gguf_file: m.Q4_1.gguf` (or re-pin)."
    )
    split = gguf_lock(demo_lock, "m-00001-of-00002.gguf", [1, 2])
    with pytest.raises(
        EvalpinError, match=r"^models/demo-tiny/m-00001-of-00002.gguf: field split.count is 2"
    ):
        check_gguf(split, Model(name="demo-tiny", gguf_file="m-00001-of-00002.gguf"))


def test_check_base_names_the_certified_base_and_the_fix(demo_lock):
    check_base(demo_lock, Model(name="demo-tiny"))  # a full model is its own base
    check_base(demo_lock, Model(name="demo-tiny", base="demo-tiny"))
    with pytest.raises(EvalpinError) as found:
        check_base(demo_lock, Model(name="demo-tiny", base="other"))
    assert str(found.value) == (
        "conf/model/demo-tiny.yaml: base is 'other', but models/demo-tiny.lock.json is certified on "
        "'demo-tiny'. Set `base: demo-tiny` (or re-pin with --base)."
    )
    adapter = dataclasses.replace(demo_lock, base=BaseBinding("smol", "org/smol", "0" * 40, "1" * 64))
    check_base(adapter, Model(name="demo-tiny", base="smol"))
    with pytest.raises(
        EvalpinError, match=r"base is 'demo-tiny', but .* certified on 'smol'. Set `base: smol`"
    ):
        check_base(adapter, Model(name="demo-tiny"))


def test_the_gguf_server_runs_local_generation_tasks_only():
    suite = {"include_path": "eval/tasks", "catalog": []}
    check_gguf_server_tasks(TEMPLATE, suite, [(["demo_home_gen", "demo_behaviour"], False)])
    with pytest.raises(EvalpinError, match=r"^eval/tasks/demo_color_mc.yaml: output_type multiple_choice; "):
        check_gguf_server_tasks(TEMPLATE, suite, [(["demo_home_gen", "demo_color_mc"], False)])
    with pytest.raises(EvalpinError, match=r"^eval/tasks/demo_home_gen.yaml: through the chat template; "):
        check_gguf_server_tasks(TEMPLATE, suite, [(["demo_home_gen"], True)])
    with pytest.raises(EvalpinError, match=r"suite.catalog lists catalog tasks.*`suite.catalog=\[\]`"):
        check_gguf_server_tasks(TEMPLATE, {**suite, "catalog": [{"task": "arc_easy", "data": "arc"}]}, [])


def test_openmp_waits_passively_only_in_a_queued_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)  # conftest sets it for the tests' shared cores
    monkeypatch.delenv("DVC_ROOT", raising=False)  # evalpin evaluate, outside DVC
    set_wait_policy(tmp_path)
    assert "OMP_WAIT_POLICY" not in os.environ
    (tmp_path / "link").symlink_to(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "link"))  # the workspace, however it is named
    set_wait_policy(tmp_path)
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "queued-from"))  # the queue's temporary copy
    set_wait_policy(tmp_path)
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice wins
    set_wait_policy(tmp_path)
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
