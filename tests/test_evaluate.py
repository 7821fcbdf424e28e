"""The pipeline end to end: real `dvc repro` running real lm-eval on the pinned tiny model."""

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

from evalpin import catalog, data_cache
from evalpin.catalog_tree import locate
from evalpin.compose import compose
from evalpin.errors import EvalpinError
from evalpin.evaluate import evaluate
from evalpin.lock import load_lock
from evalpin.pin import DataPinRequest, accept_dataset, pin_dataset
from support import (
    ARC_COMMIT,
    ARC_FIX,
    TEMPLATE,
    committed_scores,
    dvc,
    evalpin,
    git,
    pipeline_changes,
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
    assert set(first) == {"doc_id", "doc_hash", "prompt_hash", "target_hash", "response", "score"}
    assert isinstance(first["response"], str)


def test_second_repro_is_up_to_date(reproduced_repo):
    proc = dvc(reproduced_repo, "repro")
    assert "Stage 'evaluate' didn't change" in proc.stdout
    assert "verified 6 files" in proc.stdout  # verify runs on every repro: bytes are always checked
    assert json.loads(dvc(reproduced_repo, "status", "--json").stdout) == {"verify": ["always changed"]}


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
    assert proc.returncode != 0
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


def test_plots_render(reproduced_repo):
    proc = dvc(reproduced_repo, "plots", "show", "--json")
    assert "eval/scores.json" in proc.stdout


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
    # the arrow cache the library built is recorded; edited behind the verified files, it is rebuilt
    cache = Path(catalog.cache_dir(pinned_repo, "arc"))
    assert data_cache.problem(cache) is None and data_cache.manifest_path(cache).is_file()
    arrow = sorted(cache.rglob("*test.arrow"))[0]
    arrow.write_bytes(arrow.read_bytes().replace(b"Paris", b"Pariz"))
    assert "changed since evalpin built the cache" in str(data_cache.problem(cache))
    assert evaluate(pinned_repo, params) == metrics and data_cache.problem(cache) is None
    assert b"Paris" in arrow.read_bytes()  # rebuilt from eval/data/arc
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
