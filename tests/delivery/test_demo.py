"""The demo is named as the demo: its synthetic datasets under the evalpin-demo/ namespace, never a real
dataset's Hub id, and its tiny model."""

import json

import pytest
import yaml

from evalpin.base.outs import METRICS_FILE, VERIFIED_FILE
from evalpin.delivery.demo import DEMO_UPSTREAM, demo_data_tasks, demo_warnings
from evalpin.delivery.lock import load_lock
from evalpin.suite.data import describe
from support import DEMO_DATA, TEMPLATE, pin_demo_data, read_json
from support.repos import DEMO_METRICS

DEMO_NAMESPACES = ("evalpin", "evalpin-demo")  # the demo model's and the demo datasets'


def test_demo_hub_holds_only_the_demos_own_ids():
    """Every repo in demo/hub, and every lock pinned from it, is under a namespace of the demo's own."""
    repos = sorted(p.name for p in (TEMPLATE / "demo" / "hub").iterdir())
    assert repos and all(r.split("--")[1] in DEMO_NAMESPACES for r in repos), repos
    assert {f"datasets--{repo_id.replace('/', '--')}" for repo_id, _, _ in DEMO_DATA.values()} == {
        r for r in repos if r.startswith("datasets--")
    }
    locks = [
        load_lock(p) for p in [*TEMPLATE.glob("models/*.lock.json"), *TEMPLATE.glob("eval/data/*.lock.json")]
    ]
    for lock in (lock for lock in locks if lock.source.upstream == DEMO_UPSTREAM):
        assert lock.source.repo_id.split("/")[0] in DEMO_NAMESPACES, lock.what


def test_suite_data_calls_a_demo_pin_the_demos_stand_in_and_gives_the_real_pin(template_repo):
    pin_demo_data(template_repo, "arc")
    out = describe(template_repo, {"catalog": [{"task": "arc_easy", "data": "arc"}]})
    assert (
        "bound to data arc: eval/data/arc pinned from evalpin-demo/ai2_arc@2e551ac1911c (lock 9475cc718f38): "
        "the demo's synthetic stand-in for allenai/ai2_arc (from demo/hub); the real allenai/ai2_arc is not "
        "pinned"
    ) in out
    assert (
        "evalpin pin-data allenai/ai2_arc --revision main --resolve --name arc --include 'ARC-Easy/*'" in out
    )


def test_the_report_names_each_task_on_demo_data_as_a_stand_in(template_repo):
    pin_demo_data(template_repo, "arc")
    run = {"suite": {"tasks": {"arc_easy": {"data": {"name": "arc"}}, "demo_color_mc": {}}}}
    (template_repo / "eval" / "fingerprint.json").write_text(json.dumps(run))
    assert demo_data_tasks(template_repo) == {"evalpin-demo/ai2_arc": ["arc_easy"]}
    model = load_lock(
        template_repo / "eval/data/arc.lock.json"
    )  # any demo lock: the model line is tested in test_cli
    (line,) = [w for w in demo_warnings(template_repo, model) if w.startswith("DEMO DATA")]
    assert "synthetic questions from demo/hub standing in for the real benchmarks" in line
    assert "arc_easy on evalpin-demo/ai2_arc" in line and "real Hub ids" not in line


def the_templates_run_is_the_demos() -> bool:
    """Whether the template's committed run (eval/verified.json) evaluated the demo model: not once a
    project is clean-started, or evaluates its own model."""
    verified, lock = TEMPLATE / VERIFIED_FILE, TEMPLATE / "models/demo-tiny.lock.json"
    return verified.is_file() and lock.is_file() and read_json(verified)["model"] == "demo-tiny"


DEMO_RUN = pytest.mark.skipif(
    not the_templates_run_is_the_demos(), reason="the committed run is not the demo's"
)


@DEMO_RUN
def test_demo_metrics_json_holds_the_committed_runs_rows_of_the_demo_suite():
    """demo/metrics.json (what the tests reproduce in any project) is the committed baseline's, and covers
    every task of conf/suite/demo.yaml."""
    committed = read_json(TEMPLATE / METRICS_FILE)["tasks"]
    kept = read_json(DEMO_METRICS)["tasks"]
    suite = yaml.safe_load((TEMPLATE / "conf/suite/demo.yaml").read_text())
    assert set(kept) == {*suite["tasks"], *suite["chat_tasks"]}
    assert kept == {task: committed[task] for task in kept}, (
        "demo/metrics.json differs from eval/metrics.json: copy the demo suite's rows after `make demo`"
    )


@DEMO_RUN
def test_the_templates_run_names_every_task_on_demo_data():
    """The committed run (eval/fingerprint.json) read the four datasets pinned from demo/hub."""
    assert demo_data_tasks(TEMPLATE) == {
        "evalpin-demo/ai2_arc": ["arc_easy"],
        "evalpin-demo/gsm8k": ["gsm8k"],
        "evalpin-demo/hellaswag": ["hellaswag"],
        "evalpin-demo/mmlu": [
            "mmlu_demo",
            "mmlu_high_school_biology",
            "mmlu_high_school_geography",
            "mmlu_nutrition",
        ],
    }
