"""The pipeline end to end: real `dvc repro` running real lm-eval on the pinned tiny model."""

import json
import shutil
import time

import pytest
import yaml

from evalpin import catalog
from evalpin.catalog_tree import locate
from evalpin.compose import compose
from evalpin.errors import EvalpinError
from evalpin.evaluate import evaluate
from evalpin.lock import load_lock
from evalpin.pin import DataPinRequest, accept_dataset, pin_dataset
from evalpin.samples import task_samples
from support import (
    ARC_COMMIT,
    ARC_FIX,
    TEMPLATE,
    committed_scores,
    dvc,
    evalpin,
    git,
    read_json,
    write_dataset_cache,
)

pytestmark = pytest.mark.slow
TASKS = ("demo_color_mc", "demo_home_gen", "demo_food_fewshot", "demo_behaviour", "demo_chat_home")


def test_repro_reproduces_the_committed_baseline_exactly(reproduced_repo):
    metrics = read_json(reproduced_repo / "eval/metrics.json")
    assert set(metrics["tasks"]) == set(TASKS) and metrics["tasks"] == committed_scores(metrics)


def test_metrics_cover_every_task_with_score_stderr_and_n(reproduced_repo):
    metrics = read_json(reproduced_repo / "eval/metrics.json")
    assert set(metrics["tasks"]) == set(TASKS)
    for row in metrics["tasks"].values():
        assert set(row) == {"metric", "score", "stderr", "n"} and row["n"] >= 8
    # clearly above chance: four options, or one of six homes
    chance = {
        "demo_color_mc": 0.25,
        "demo_food_fewshot": 0.25,
        "demo_home_gen": 1 / 6,
        "demo_chat_home": 1 / 6,
    }
    for task, floor in chance.items():
        assert metrics["tasks"][task]["score"] > floor + 0.1, task


def test_samples_are_stable_per_task_files(reproduced_repo):
    samples = reproduced_repo / "eval/samples"
    assert sorted(p.name for p in samples.iterdir()) == sorted(f"{t}.jsonl" for t in TASKS)
    first = json.loads((samples / "demo_home_gen.jsonl").read_text().splitlines()[0])
    hashes = {"doc_id", "doc_hash", "prompt_hash", "target_hash", "response", "score"}
    assert set(first) == hashes | {"question", "gold", "prompt_tokens"}  # in words: readable.py
    assert isinstance(first["response"], str)


def test_second_repro_is_up_to_date(reproduced_repo):
    proc = dvc(reproduced_repo, "repro")
    assert "Stage 'evaluate' didn't change" in proc.stdout
    assert "up to date" in dvc(reproduced_repo, "status").stdout


def test_one_changed_byte_stops_the_pipeline_naming_the_file(reproduced_repo):
    target = reproduced_repo / "models/demo-tiny/tokenizer_config.json"
    target.write_text(target.read_text().replace('"<s>"', '"<S>"', 1))
    before = (reproduced_repo / "eval/metrics.json").read_text()
    proc = dvc(reproduced_repo, "repro", check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "tokenizer_config.json" in output and "tokenizer" in output and "DRIFT" in output
    assert (reproduced_repo / "eval/metrics.json").read_text() == before


def test_stale_params_stop_the_pipeline(reproduced_repo):
    conf = reproduced_repo / "conf/inference/cpu-fp32.yaml"
    conf.write_text(conf.read_text().replace("seed: 1234", "seed: 7"))
    proc = dvc(reproduced_repo, "repro", check=False)
    assert proc.returncode != 0
    assert "inference.seed: conf/ gives 7, params.yaml has 1234" in proc.stdout + proc.stderr


def test_evaluate_refuses_a_drifted_delivery_when_called_directly(reproduced_repo):
    (reproduced_repo / "models/demo-tiny/generation_config.json").write_text("{}\n")
    proc = evalpin(reproduced_repo, "evaluate", check=False)
    assert proc.returncode == 1 and "generation_config.json" in proc.stderr


def test_the_suite_validates_with_lm_eval(reproduced_repo):
    import sys

    from support import run

    tasks = ",".join(TASKS)
    proc = run(
        reproduced_repo,
        sys.executable,
        "-m",
        "lm_eval",
        "validate",
        "--tasks",
        tasks,
        "--include_path",
        "eval/tasks",
    )
    assert "All tasks found and valid" in proc.stdout + proc.stderr


def test_fingerprint_records_suite_identity_generation_and_outputs(reproduced_repo):
    fingerprint = read_json(reproduced_repo / "eval/fingerprint.json")
    lock = read_json(reproduced_repo / "models/demo-tiny.lock.json")
    assert fingerprint["delivery"]["revision"] == lock["source"]["revision"]
    tasks = fingerprint["suite"]["tasks"]
    assert tasks["demo_chat_home"]["chat_template_applied"] is True
    assert tasks["demo_food_fewshot"]["num_fewshot"] == 3
    assert all(len(t["hash"]) == 64 and t["version"] == 1.0 for t in tasks.values())
    assert fingerprint["generation"]["demo_home_gen"]["until"] == ["\n"]
    assert "pad_token_id" in fingerprint["generation"]["demo_home_gen"]  # from generation_config.json
    assert len(fingerprint["output_fingerprint"]) == 64


def test_plots_put_scores_on_the_x_axis_and_the_page_says_why_it_is_blank_offline(reproduced_repo):
    spec = json.loads(dvc(reproduced_repo, "plots", "show", "--json").stdout)["data"]["eval/scores.json"][0]
    encoding = spec["content"]["encoding"]
    assert (encoding["x"]["field"], encoding["x"]["type"]) == ("score", "quantitative")
    assert (encoding["y"]["field"], encoding["y"]["type"]) == ("task", "nominal")
    shutil.copy2(TEMPLATE / ".dvc/plots_page.html", reproduced_repo / ".dvc")  # as the template's clone has
    dvc(reproduced_repo, "config", "plots.html_template", "plots_page.html")
    dvc(reproduced_repo, "plots", "show")
    page = (reproduced_repo / "dvc_plots/index.html").read_text()
    assert "evalpin report --html report.html" in page and "cdn.jsdelivr.net/npm/vega@" in page
    assert "dvc_plots" not in git(reproduced_repo, "status", "--porcelain").stdout  # git-ignored


def test_an_inference_change_reruns_evaluation_and_nothing_else_does(reproduced_repo):
    assert "up to date" in dvc(reproduced_repo, "status").stdout
    conf = reproduced_repo / "conf/inference/cpu-fp32.yaml"
    conf.write_text(conf.read_text().replace("batch_size: 1", "batch_size: 2"))
    evalpin(reproduced_repo, "compose")
    status = json.loads(dvc(reproduced_repo, "status", "--json").stdout)
    assert "evaluate" in status
    evaluate_changes = json.dumps(status["evaluate"])
    assert "inference" in evaluate_changes


def test_hf_model_args_cannot_override_the_pins(tmp_path):
    from evalpin.backends import lm_eval_model
    from evalpin.errors import EvalpinError

    model = {"name": "demo-tiny", "trust_remote_code": False, "add_bos_token": False}
    backend = {"name": "hf", "model_args": {"trust_remote_code": True}}
    with pytest.raises(EvalpinError, match=r"model_args \['trust_remote_code'\] come from the pins"):
        lm_eval_model(tmp_path, model, {"dtype": "float32"}, backend)


def test_a_catalog_task_runs_on_a_pinned_parquet_snapshot_and_fails_closed(pinned_repo, tmp_path):
    write_dataset_cache(pinned_repo / "hub")
    pin_dataset(pinned_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub"))
    params = yaml.safe_load((pinned_repo / "params.yaml").read_text())
    params["suite"].update(tasks=[], chat_tasks=[], catalog=[{"task": "arc_easy", "data": "arc"}])
    import lm_eval.tasks  # noqa: F401  (evaluate imports it anyway; locating is what is timed)

    started = time.perf_counter()
    assert catalog.task_configs(pinned_repo, params["suite"], tmp_path)[1] == [str(locate("arc_easy").parent)]
    assert time.perf_counter() - started < 1.0  # only the catalog folder the suite uses
    metrics = evaluate(pinned_repo, params)
    assert metrics["tasks"]["arc_easy"]["n"] == 2  # the pinned test split, not the Hub's
    assert read_json(pinned_repo / "eval/metrics.json") == metrics
    data = read_json(pinned_repo / "eval/fingerprint.json")["suite"]["tasks"]["arc_easy"]["data"]
    assert data["name"] == "arc" and data["revision"] == ARC_COMMIT
    assert data["lock_digest"] == load_lock(pinned_repo / "eval/data/arc.lock.json").digest
    # the upstream fixes doc 1's answer key; re-pinned and accepted, the new key is scored (the datasets
    # library's own cache, keyed by folder and config name, would serve the old one)
    fixed = write_dataset_cache(tmp_path / "fix", answers=("A", "A"))
    shutil.copytree(fixed, pinned_repo / "hub/datasets--tests--arc/snapshots" / ARC_FIX)
    pin_dataset(pinned_repo, DataPinRequest("tests/arc", ARC_FIX, "arc", "hub"))
    accept_dataset(pinned_repo, load_lock(pinned_repo / "eval/data/arc.lock.json"))
    rescored = evaluate(pinned_repo, params)["tasks"]["arc_easy"]["score"]
    assert abs(rescored - metrics["tasks"]["arc_easy"]["score"]) == 0.5  # doc 1 of 2 flipped its score
    params["suite"]["catalog"] = [{"task": "arc_nonesuch", "data": "arc"}]
    with pytest.raises(EvalpinError, match="'arc_nonesuch' is no task, group or tag in lm-eval's catalog"):
        evaluate(pinned_repo, params)
    params["suite"]["catalog"] = [{"task": "arc_easy", "data": "unpinned"}]
    with pytest.raises(EvalpinError, match="`evalpin pin-data REPO_ID --revision COMMIT --name unpinned`"):
        evaluate(pinned_repo, params)


def test_a_pinned_dataset_lacking_the_tasks_config_or_split_is_named(template_repo, tmp_path):
    write_dataset_cache(template_repo / "hub")
    request = DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub", include=("ARC-Easy/train-*",))
    pin_dataset(template_repo, request)
    suite = {"catalog": [{"task": "arc_easy", "data": "arc"}]}
    with pytest.raises(
        EvalpinError, match=r"README.md: config 'ARC-Easy' has no pinned file for split 'test'"
    ):
        catalog.task_configs(template_repo, suite, tmp_path)
    suite["catalog"] = [{"task": "arc_challenge", "data": "arc"}]  # dataset_name ARC-Challenge
    with pytest.raises(EvalpinError, match=r"field 'configs' has no config_name 'ARC-Challenge'"):
        catalog.task_configs(template_repo, suite, tmp_path)


def test_the_standard_suite_runs_hellaswag_gsm8k_and_an_mmlu_group_on_the_pinned_demo_data(pinned_repo):
    """The template's own catalog benchmarks (conf/suite/standard.yaml) on its pinned datasets, restored
    from the demo upstream: the catalog's process_docs (hellaswag), regex filters and 5 shots (gsm8k),
    and a group of mmlu subjects scored by its aggregate."""
    add_demo_datasets(pinned_repo)
    suite = compose(pinned_repo, ("suite=standard",))["suite"]
    params = yaml.safe_load((pinned_repo / "params.yaml").read_text())
    params["suite"] = {**suite, "tasks": [], "chat_tasks": []}  # the local tasks are tested above
    metrics = evaluate(pinned_repo, params)
    subjects = ["mmlu_high_school_biology", "mmlu_nutrition", "mmlu_high_school_geography"]
    assert set(metrics["tasks"]) == {"arc_easy", "hellaswag", "gsm8k", "mmlu_demo", *subjects}
    rows = metrics["tasks"]
    assert rows["hellaswag"]["n"] == 16 and rows["hellaswag"]["score"] > 0.25  # validation split; 4 endings
    assert rows["gsm8k"]["metric"] == "exact_match,strict-match" and rows["gsm8k"]["n"] == 8
    assert len((pinned_repo / "eval/samples/gsm8k.jsonl").read_text().splitlines()) == 8  # one filter's
    weighted = sum(rows[s]["score"] * rows[s]["n"] for s in subjects) / sum(rows[s]["n"] for s in subjects)
    assert rows["mmlu_demo"]["score"] == pytest.approx(weighted) and rows["mmlu_demo"]["n"] == 24
    assert metrics["suite"]["tasks"] == 4  # the group counts once in the suite mean, its subjects not again
    tasks = read_json(pinned_repo / "eval/fingerprint.json")["suite"]["tasks"]
    assert tasks["gsm8k"]["num_fewshot"] == 5 and tasks["gsm8k"]["output_type"] == "generate_until"
    generation = read_json(pinned_repo / "eval/fingerprint.json")["generation"]["gsm8k"]
    assert (
        generation["max_gen_toks"] == 32 and generation["until"][0] == "Question:"
    )  # the entry's, the catalog's
    # 5 shots do not fit the demo model (512 positions, 32 kept for generation): lm-eval's hf backend cuts
    # each prompt's start, which the fingerprint counts and the sample records (readable.py)
    assert tasks["gsm8k"]["truncated"] == {"prompts": 8, "kept_tokens": 480}
    assert all(tasks[t]["truncated"] == {"prompts": 0} for t in ("arc_easy", "hellaswag", *subjects))
    gsm8k = [json.loads(line) for line in (pinned_repo / "eval/samples/gsm8k.jsonl").open()]
    assert all(r["truncated"]["kept"] == 480 < r["truncated"]["tokens"] for r in gsm8k)
    assert gsm8k[0]["question"].startswith("Question: ") and "####" in gsm8k[0]["gold"]  # no shots in it
    mmlu = json.loads((pinned_repo / "eval/samples/mmlu_nutrition.jsonl").open().readline())
    assert mmlu["choices"] == ["A", "B", "C", "D"] and "\nA. " in mmlu["question"]  # the catalog's rendering
    arc = [json.loads(line) for line in (pinned_repo / "eval/samples/arc_easy.jsonl").open()]
    assert all((r["response"]["choice"] == r["gold"]) == (r["score"] == 1.0) for r in arc)
    with pytest.raises(EvalpinError, match=r"mmlu_demo: a group at workspace; .* `evalpin samples mmlu_high"):
        task_samples(pinned_repo, "mmlu_demo", "workspace")
    assert tasks["mmlu_demo"]["output_type"] == "group" and tasks["mmlu_demo"]["tasks"] == subjects
    accepted = yaml.safe_load((pinned_repo / "conf/data/mmlu.yaml").read_text())
    for task in ("mmlu_demo", *subjects):
        assert tasks[task]["data"] == {
            "name": "mmlu",
            "revision": accepted["revision"],
            "lock_digest": accepted["lock_digest"],
        }


def add_demo_datasets(repo):
    """The template's pinned datasets (locks, .dvc files, conf/data), restored from the demo upstream."""
    from evalpin.restore import restore_all
    from evalpin.verify import load_data_lock

    pinned = TEMPLATE / "eval/data"
    for path in (*pinned.glob("*.lock.json"), *pinned.glob("*.dvc")):
        shutil.copy2(path, repo / "eval/data" / path.name)
    shutil.copytree(TEMPLATE / "conf/data", repo / "conf/data")
    names = sorted(p.name.removesuffix(".lock.json") for p in pinned.glob("*.lock.json"))
    restored = restore_all(repo, [load_data_lock(repo, name) for name in names])
    assert all(where.endswith("from the upstream, verified, cached") for where in restored.values()), restored
