"""The pipeline end to end: real `dvc repro` running real lm-eval on the pinned tiny model."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from evalpin.base.errors import EvalpinError
from evalpin.config.compose import compose, load_params
from evalpin.config.params import Params
from evalpin.delivery.lock import load_lock
from evalpin.evaluation import evaluate_stage as tasks
from evalpin.evaluation.evaluate_stage import evaluate
from evalpin.evaluation.plan import Plan, build_plan
from evalpin.pinning.pin import accept_dataset, pin_dataset
from evalpin.pinning.requests import DataPinRequest
from evalpin.results.gate import Side, comparable
from evalpin.results.samples import task_samples
from evalpin.suite import catalog, data_cache
from evalpin.suite.catalog_tree import locate
from support import (
    ARC_COMMIT,
    ARC_FIX,
    TEMPLATE,
    committed_scores,
    dvc,
    evalpin,
    evalpin_in_process,
    git,
    pin_demo_data,
    pipeline_changes,
    read_json,
    subprocess_env,
    write_dataset_cache,
)
from support.outputs import forget_results, output_bytes

pytestmark = pytest.mark.slow
ARC_CHALLENGE = "c" * 40  # the test dataset's commit that adds an ARC-Challenge config
TASKS = ("demo_color_mc", "demo_home_gen", "demo_food_fewshot", "demo_behaviour", "demo_chat_home")


def plan_of(repo: Path, params: dict) -> Plan:
    return build_plan(repo, Params.from_dict(params))


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
    assert set(first) == hashes | {"question", "gold", "prompt_tokens"}  # in words: evaluation/readable.py
    assert isinstance(first["response"], str)


def test_a_kill_9_during_repro_costs_only_the_running_task_and_the_rerun_equals_an_uninterrupted_one(
    reproduced_repo, reproduced_repo_origin
):
    """`dvc repro` and the evaluation under it are killed (SIGKILL, the whole process group) the moment
    one more task's result is stored (two were missing: the rerun after a first crash); the next rerun
    evaluates only the task still without a stored result, and every output (results, samples, metrics,
    fingerprint) equals the uninterrupted run's byte for byte."""
    results = reproduced_repo / "eval/results"
    missing = ("demo_behaviour", "demo_chat_home")
    forget_results(reproduced_repo, *missing)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"],
        cwd=reproduced_repo,
        env=subprocess_env(reproduced_repo),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while len(list(results.glob("*.json"))) < len(TASKS) - 1 and proc.poll() is None:
        time.sleep(0.02)
        assert time.monotonic() < deadline
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = sorted(p.stem for p in results.glob("*.json"))
    assert proc.returncode == -signal.SIGKILL and len(stored) == len(TASKS) - 1, stored
    rerun = dvc(reproduced_repo, "repro").stdout
    assert all(f"evaluate: {task}: reused (every input unchanged)" in rerun for task in stored), rerun
    assert "evaluate: 4 of 5 tasks reused, 1 to run" in rerun
    assert output_bytes(reproduced_repo) == output_bytes(reproduced_repo_origin)
    assert pipeline_changes(reproduced_repo) == {}


def test_each_task_says_which_input_changed_and_a_hand_edited_result_is_never_reused(reproduced_repo):
    params = load_params(reproduced_repo)
    assert plan_of(reproduced_repo, params).pending == []
    params["inference"]["batch_size"] = 2
    assert set(plan_of(reproduced_repo, params).why.values()) == {"inference.batch_size 1 -> 2"}
    data = reproduced_repo / "eval/tasks/data/color_mc.jsonl"
    data.write_text(data.read_text() + data.read_text().splitlines()[0] + "\n")
    params = load_params(reproduced_repo)
    assert plan_of(reproduced_repo, params).why["demo_color_mc"] == (
        "data: eval/tasks/data/color_mc.jsonl changed"
    )
    assert plan_of(reproduced_repo, params).pending == ["demo_color_mc"]
    stored = reproduced_repo / "eval/results/demo_home_gen.json"
    original = stored.read_text()
    stored.write_text(original.replace('"score": 0.0', '"score": 1.0', 1))
    recalled = plan_of(reproduced_repo, params)  # the copy kept by key is intact: it replaces the edited one
    assert recalled.why["demo_home_gen"] == "" and recalled.recalled["demo_home_gen"] == original
    shutil.rmtree(reproduced_repo / ".evalpin/results/demo_home_gen")
    why = "eval/results/demo_home_gen.json was changed after it was stored (digest mismatch)"
    assert plan_of(reproduced_repo, params).why["demo_home_gen"] == why
    with pytest.raises(EvalpinError, match=r"no result stored for the current inputs of demo_color_mc"):
        tasks.merge(plan_of(reproduced_repo, params))


def test_removing_a_task_evaluates_nothing_and_adding_it_back_evaluates_only_it(reproduced_repo):
    before = output_bytes(reproduced_repo)
    params = yaml.safe_load((reproduced_repo / "params.yaml").read_text())
    params["suite"]["tasks"].remove("demo_behaviour")
    (reproduced_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    removed = evalpin_in_process(reproduced_repo, "evaluate")
    assert "4 of 4 tasks reused, 0 to run" in removed.stdout and "running" not in removed.stderr
    assert not (reproduced_repo / "eval/samples/demo_behaviour.jsonl").exists()
    assert not (reproduced_repo / "eval/results/demo_behaviour.json").exists()
    params["suite"]["tasks"].append("demo_behaviour")
    (reproduced_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    added = evalpin_in_process(reproduced_repo, "evaluate")  # its result kept by key: nothing runs
    assert "5 of 5 tasks reused, 0 to run" in added.stdout and "running" not in added.stderr
    assert "evaluate: demo_behaviour: reused (evaluated before with these inputs" in added.stdout
    assert output_bytes(reproduced_repo) == before
    forget_results(reproduced_repo, "demo_color_mc")  # the kept copies too: it is evaluated again
    added = evalpin_in_process(reproduced_repo, "evaluate")
    assert "4 of 5 tasks reused, 1 to run" in added.stdout
    assert "evaluate: demo_color_mc: runs (no stored result)" in added.stdout
    assert "evaluate: [1/1] running demo_color_mc" in added.stderr  # progress: one line per task in a log
    assert output_bytes(reproduced_repo) == before


def test_second_repro_is_up_to_date_and_dvc_checkout_of_a_tag_restores_its_stored_results(reproduced_repo):
    proc = dvc(reproduced_repo, "repro")
    assert "Stage 'evaluate' didn't change" in proc.stdout
    assert "verified 6 files" in proc.stdout  # verify runs on every repro: bytes are always checked
    assert json.loads(dvc(reproduced_repo, "status", "--json").stdout) == {"verify": ["always changed"]}
    git(reproduced_repo, "tag", "baseline")
    stored = output_bytes(reproduced_repo)
    shutil.rmtree(reproduced_repo / "eval/results")
    (reproduced_repo / "eval/samples/demo_behaviour.jsonl").unlink()
    git(reproduced_repo, "checkout", "-q", "baseline")
    dvc(reproduced_repo, "checkout")
    assert output_bytes(reproduced_repo) == stored
    assert "5 of 5 tasks reused, 0 to run" in evalpin_in_process(reproduced_repo, "evaluate").stdout


def cache_objects(repo: Path) -> set[str]:
    return {p.relative_to(repo).as_posix() for p in (repo / ".dvc/cache").rglob("*") if p.is_file()}


def test_one_changed_byte_stops_the_pipeline_commits_nothing_and_the_rollback_restores_it(reproduced_repo):
    """The README's rollback recipe, proven: a drift fails `dvc repro` at verify naming the file, DVC's
    pointer and cache keep the pinned bytes, and `git checkout TAG && dvc checkout --force` (restore's
    advice) brings them back."""
    repo = reproduced_repo
    git(repo, "tag", "baseline")
    pointer, objects = (repo / "models/demo-tiny.dvc").read_text(), cache_objects(repo)
    target = repo / "models/demo-tiny/tokenizer_config.json"
    pinned = target.read_bytes()
    target.write_text(target.read_text().replace('"<s>"', '"<S>"', 1))
    before = (repo / "eval/metrics.json").read_text()
    proc = dvc(repo, "repro", check=False)
    assert proc.returncode == 255  # DVC's one failure code (docs/troubleshooting.md): verify itself exits 1
    assert evalpin(repo, "verify", "demo-tiny", check=False).returncode == 1
    output = proc.stdout + proc.stderr
    assert "tokenizer_config.json" in output and "tokenizer" in output and "DRIFT" in output
    assert "Verifying data sources" not in output  # DVC never looked at models/demo-tiny
    assert (repo / "eval/metrics.json").read_text() == before
    assert (repo / "models/demo-tiny.dvc").read_text() == pointer and cache_objects(repo) == objects
    assert git(repo, "status", "--porcelain").stdout == " D eval/verified.json\n"  # the failed stage's out
    advice = "`dvc checkout --force models/demo-tiny.dvc`"
    assert advice in evalpin(repo, "restore", check=False).stderr
    git(repo, "checkout", "-q", "baseline")
    dvc(repo, "checkout", "--force")
    assert target.read_bytes() == pinned
    assert "Stage 'evaluate' didn't change" in dvc(repo, "repro").stdout
    assert git(repo, "status", "--porcelain").stdout == "" and cache_objects(repo) == objects


def test_a_drifted_dataset_fails_verify_and_is_never_committed(pinned_repo):
    """The verify stage depends on no .dvc-tracked directory: a drifted eval/data/NAME stays out of DVC."""
    write_dataset_cache(pinned_repo / "hub")
    pin_dataset(pinned_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub"))
    suite = pinned_repo / "conf/suite/demo.yaml"
    suite.write_text(suite.read_text() + "catalog:\n  - {task: arc_easy, data: arc}\n")
    evalpin(pinned_repo, "compose")
    dvc(pinned_repo, "repro", "verify")
    assert "arc" in read_json(pinned_repo / "eval/verified.json")["datasets"]
    git(pinned_repo, "add", "-A")
    git(pinned_repo, "commit", "-qm", "arc in the suite")
    pointer, objects = (pinned_repo / "eval/data/arc.dvc").read_text(), cache_objects(pinned_repo)
    data = pinned_repo / "eval/data/arc/ARC-Easy/test-00000-of-00001.parquet"
    pinned = data.read_bytes()
    data.write_bytes(pinned[:-1] + b"X")
    proc = dvc(pinned_repo, "repro", "verify", check=False)
    assert proc.returncode != 0 and "ARC-Easy/test-00000-of-00001.parquet" in proc.stdout + proc.stderr
    assert (pinned_repo / "eval/data/arc.dvc").read_text() == pointer and cache_objects(
        pinned_repo
    ) == objects
    assert "`dvc checkout --force eval/data/arc.dvc`" in proc.stdout + proc.stderr
    dvc(pinned_repo, "checkout", "--force", "eval/data/arc.dvc")
    assert data.read_bytes() == pinned


def test_a_hand_edited_params_yaml_stops_the_pipeline_and_evaluate(reproduced_repo):
    """Any key, not only the verify stage's params: verify runs on every `dvc repro`."""
    params = reproduced_repo / "params.yaml"
    params.write_text(params.read_text().replace("batch_size: 1", "batch_size: 4"))
    before = (reproduced_repo / "dvc.lock").read_text()
    proc = dvc(reproduced_repo, "repro", check=False)
    assert proc.returncode != 0
    assert "inference.batch_size: conf/ gives 1, params.yaml has 4" in proc.stdout + proc.stderr
    assert (reproduced_repo / "dvc.lock").read_text() == before
    git(reproduced_repo, "checkout", "--", "eval/verified.json")  # removed by DVC as the failed stage's out
    proc = dvc(reproduced_repo, "repro", "--single-item", "evaluate", check=False)  # without verify
    assert proc.returncode != 0 and "inference.batch_size: conf/ gives 1" in proc.stdout + proc.stderr
    assert (reproduced_repo / "dvc.lock").read_text() == before


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
    assert pipeline_changes(reproduced_repo) == {}
    conf = reproduced_repo / "conf/inference/cpu-fp32.yaml"
    conf.write_text(conf.read_text().replace("batch_size: 1", "batch_size: 2"))
    evalpin(reproduced_repo, "compose")
    status = json.loads(dvc(reproduced_repo, "status", "--json").stdout)
    assert "evaluate" in status
    evaluate_changes = json.dumps(status["evaluate"])
    assert "inference" in evaluate_changes


def test_hf_model_args_cannot_override_the_pins(tmp_path):
    from evalpin.base.errors import EvalpinError
    from evalpin.config.params import Backend
    from evalpin.evaluation.backends import lm_eval_model

    params = Params.from_dict(load_params(TEMPLATE))
    backend = Backend(name="hf", model_args={"trust_remote_code": True})
    with pytest.raises(EvalpinError, match=r"model_args \['trust_remote_code'\] come from the pins"):
        lm_eval_model(tmp_path, params.model, params.inference, backend)


def test_a_catalog_task_runs_on_a_pinned_parquet_snapshot_and_fails_closed(pinned_repo, tmp_path):
    write_dataset_cache(pinned_repo / "hub")
    pin_dataset(pinned_repo, DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub"))
    params = yaml.safe_load((pinned_repo / "params.yaml").read_text())
    params["suite"].update(tasks=[], chat_tasks=[], catalog=[{"task": "arc_easy", "data": "arc"}])
    import lm_eval.tasks  # noqa: F401  (evaluate imports it anyway; locating is what is timed)

    started = time.perf_counter()
    spec = catalog.leaf_specs(pinned_repo, params["suite"])["arc_easy"]
    assert spec.folder == str(locate("arc_easy").parent)
    assert time.perf_counter() - started < 1.0  # only the catalog folder the suite uses
    metrics = evaluate(pinned_repo, Params.from_dict(params))
    assert metrics["tasks"]["arc_easy"]["n"] == 2  # the pinned test split, not the Hub's
    assert read_json(pinned_repo / "eval/metrics.json") == metrics
    first = read_json(pinned_repo / "eval/fingerprint.json")
    data = first["suite"]["tasks"]["arc_easy"]["data"]
    assert data["name"] == "arc" and data["revision"] == ARC_COMMIT
    assert data["lock_digest"] == load_lock(pinned_repo / "eval/data/arc.lock.json").digest
    # the arrow cache the library built is recorded; edited behind the verified files, it is rebuilt
    cache = Path(catalog.cache_dir(pinned_repo, "arc"))
    assert data_cache.problem(cache) is None and data_cache.manifest_path(cache).is_file()
    arrow = sorted(cache.rglob("*test.arrow"))[0]
    forget_results(pinned_repo, "arc_easy")  # so that arc_easy runs and reads the cache
    arrow.write_bytes(arrow.read_bytes().replace(b"Paris", b"Pariz"))
    assert "changed since evalpin built the cache" in str(data_cache.problem(cache))
    assert evaluate(pinned_repo, Params.from_dict(params)) == metrics and data_cache.problem(cache) is None
    assert b"Paris" in arrow.read_bytes()  # rebuilt from eval/data/arc
    # a re-pin that adds ARC-Challenge changes arc's lock, not the files arc_easy reads: it is reused,
    # and the gate still compares it
    hub = pinned_repo / "hub/datasets--tests--arc/snapshots"
    add_challenge(hub / ARC_COMMIT, hub / ARC_CHALLENGE)
    pin_dataset(pinned_repo, DataPinRequest("tests/arc", ARC_CHALLENGE, "arc", "hub"))
    accept_dataset(pinned_repo, load_lock(pinned_repo / "eval/data/arc.lock.json"))
    assert plan_of(pinned_repo, params).pending == []
    assert evaluate(pinned_repo, Params.from_dict(params)) == metrics
    after = read_json(pinned_repo / "eval/fingerprint.json")
    assert after["suite"]["tasks"]["arc_easy"]["data"]["lock_digest"] != data["lock_digest"]
    assert comparable("arc_easy", Side("a", metrics, first), Side("b", metrics, after)) == ""
    # the upstream fixes doc 1's answer key; re-pinned and accepted, the new key is scored (the datasets
    # library's own cache, keyed by folder and config name, would serve the old one)
    fixed = write_dataset_cache(tmp_path / "fix", answers=("A", "A"))
    shutil.copytree(fixed, hub / ARC_FIX)
    pin_dataset(pinned_repo, DataPinRequest("tests/arc", ARC_FIX, "arc", "hub"))
    accept_dataset(pinned_repo, load_lock(pinned_repo / "eval/data/arc.lock.json"))
    changed = "dataset arc: ARC-Easy/test, ARC-Easy/train, ARC-Easy/validation changed"
    assert plan_of(pinned_repo, params).why == {"arc_easy": changed}
    rescored = evaluate(pinned_repo, Params.from_dict(params))["tasks"]["arc_easy"]["score"]
    assert abs(rescored - metrics["tasks"]["arc_easy"]["score"]) == 0.5  # doc 1 of 2 flipped its score
    params["suite"]["catalog"] = [{"task": "arc_nonesuch", "data": "arc"}]
    with pytest.raises(EvalpinError, match="'arc_nonesuch' is no task, group or tag in lm-eval's catalog"):
        evaluate(pinned_repo, Params.from_dict(params))
    params["suite"]["catalog"] = [{"task": "arc_easy", "data": "unpinned"}]
    with pytest.raises(EvalpinError, match="`evalpin pin-data REPO_ID --revision COMMIT --name unpinned`"):
        evaluate(pinned_repo, Params.from_dict(params))


def add_challenge(snapshot, target):
    """`snapshot` with an ARC-Challenge config added (a copy of ARC-Easy's files, listed in the card)."""
    shutil.copytree(snapshot, target)
    shutil.copytree(snapshot / "ARC-Easy", target / "ARC-Challenge")
    config = "".join(
        f"  - split: {s}\n    path: ARC-Challenge/{s}-*\n" for s in ("test", "train", "validation")
    )
    card = (snapshot / "README.md").read_text()
    card = card.replace("configs:\n", f"configs:\n- config_name: ARC-Challenge\n  data_files:\n{config}")
    (target / "README.md").unlink()
    (target / "README.md").write_text(card)


def test_a_pinned_dataset_lacking_the_tasks_config_or_split_is_named(template_repo, tmp_path):
    write_dataset_cache(template_repo / "hub")
    request = DataPinRequest("tests/arc", ARC_COMMIT, "arc", "hub", include=("ARC-Easy/train-*",))
    pin_dataset(template_repo, request)
    suite = {"catalog": [{"task": "arc_easy", "data": "arc"}]}
    with pytest.raises(
        EvalpinError, match=r"README.md: config 'ARC-Easy' has no pinned file for split 'test'"
    ):
        catalog.leaf_specs(template_repo, suite)
    suite["catalog"] = [{"task": "arc_challenge", "data": "arc"}]  # dataset_name ARC-Challenge
    with pytest.raises(EvalpinError, match=r"field 'configs' has no config_name 'ARC-Challenge'"):
        catalog.leaf_specs(template_repo, suite)


def test_the_standard_suite_runs_hellaswag_gsm8k_and_an_mmlu_group_on_the_pinned_demo_data(pinned_repo):
    """The template's own catalog benchmarks (conf/suite/standard.yaml) on its datasets, pinned from
    the demo upstream: the catalog's process_docs (hellaswag), regex filters and 5 shots (gsm8k),
    and a group of mmlu subjects scored by its aggregate."""
    pin_demo_data(pinned_repo)  # from demo/hub, as the template pins them
    suite = compose(pinned_repo, ("suite=standard",))["suite"]
    params = yaml.safe_load((pinned_repo / "params.yaml").read_text())
    params["suite"] = {**suite, "tasks": [], "chat_tasks": []}  # the local tasks are tested above
    metrics = evaluate(pinned_repo, Params.from_dict(params))
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
    # each prompt's start, which the fingerprint counts and the sample records (evaluation/readable.py)
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
            "files_sha256": tasks[task]["data"]["files_sha256"],
        }
    assert len({tasks[t]["data"]["files_sha256"] for t in ("mmlu_demo", *subjects)}) == 4  # what each read
