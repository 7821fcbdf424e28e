"""LoRA adapters: pinned like a model, bound to the base lock they were certified on, evaluated with peft."""

import shutil

import pytest
import yaml

from support import (
    TEMPLATE,
    dvc,
    evalpin,
    evalpin_in_process,
    git,
    pin_demo,
    pipeline_changes,
    read_json,
    select_model,
)

LORA_REPO = TEMPLATE / "demo" / "hub" / "models--evalpin--demo-tiny-lora"


def lora_commit(ref: str) -> str:
    return (LORA_REPO / "refs" / ref).read_text().strip()


def pin_lora(repo, ref: str = "a1", check: bool = True):
    return evalpin_in_process(
        repo,
        "pin",
        "evalpin/demo-tiny-lora",
        "--revision",
        lora_commit(ref),
        "--upstream",
        "demo/hub",
        "--base",
        "demo-tiny",
        check=check,
    )


def test_an_adapter_lock_records_the_base_it_was_certified_on(pinned_repo):
    proc = pin_lora(pinned_repo)
    assert "certified on demo-tiny" in proc.stdout
    lock = read_json(pinned_repo / "models/demo-tiny-lora.lock.json")
    base = read_json(pinned_repo / "models/demo-tiny.lock.json")
    assert lock["base"]["name"] == "demo-tiny"
    assert lock["base"]["revision"] == base["source"]["revision"]
    digest = evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--record", "base.json").stdout
    assert "verified" in digest
    assert lock["base"]["lock_digest"] == read_json(pinned_repo / "base.json")["lock_digest"]
    assert {f["path"] for f in lock["files"]} == {"adapter_config.json", "adapter_model.safetensors"}
    assert not (pinned_repo / "models/demo-tiny-lora.golden.json").exists()  # renders through its base
    conf = yaml.safe_load((pinned_repo / "conf/model/demo-tiny-lora.yaml").read_text())
    assert conf["base"] == "demo-tiny"
    artifacts = yaml.safe_load((pinned_repo / "dvc.yaml").read_text())["artifacts"]
    assert artifacts["demo-tiny-lora"]["labels"] == ["adapter"]
    verified = evalpin_in_process(pinned_repo, "verify", "demo-tiny-lora", "--record", "v.json")
    assert "on base demo-tiny" in verified.stdout
    assert read_json(pinned_repo / "v.json")["base"]["lock_digest"] == lock["base"]["lock_digest"]


def test_an_adapter_trained_on_another_base_revision_is_refused_at_pin(pinned_repo):
    proc = pin_lora(pinned_repo, "a2", check=False)  # a2 was trained on r3; the pinned base is r1
    assert proc.returncode == 2
    assert (
        "trained on commit" in proc.stderr and "pin the adapter revision trained on this base" in proc.stderr
    )
    assert not (pinned_repo / "models/demo-tiny-lora").exists()
    assert not (pinned_repo / "models/demo-tiny-lora.lock.json").exists()


def test_an_unpinned_or_adapter_base_is_refused(template_repo):
    proc = pin_lora(template_repo, check=False)
    assert proc.returncode == 2 and "models/demo-tiny.lock.json: lock file not found" in proc.stderr
    pin_demo(template_repo)
    pin_lora(template_repo)
    proc = evalpin(
        template_repo,
        *("pin", "evalpin/demo-tiny-lora", "--revision", lora_commit("a1"), "--upstream", "demo/hub"),
        *("--name", "lora-on-lora", "--base", "demo-tiny-lora"),
        check=False,
    )
    assert proc.returncode == 2 and "is itself an adapter" in proc.stderr


def test_a_full_model_pinned_as_an_adapter_is_refused(pinned_repo):
    proc = evalpin(
        pinned_repo,
        *(
            "pin",
            "evalpin/demo-tiny",
            "--revision",
            read_json(pinned_repo / "models/demo-tiny.lock.json")["source"]["revision"],
        ),
        *("--upstream", "demo/hub", "--name", "not-an-adapter", "--base", "demo-tiny"),
        check=False,
    )
    assert proc.returncode == 2 and "not a peft adapter" in proc.stderr


def test_a_new_base_refuses_the_adapter_until_it_is_recertified(pinned_repo):
    pin_lora(pinned_repo)
    git(pinned_repo, "add", "-A")
    git(pinned_repo, "commit", "-qm", "adapter a1")
    pin_demo(pinned_repo, "r3")  # the base's new weights (and r2's chat template)
    evalpin_in_process(pinned_repo, "golden", "demo-tiny", "--accept")
    proc = evalpin_in_process(pinned_repo, "verify", "demo-tiny-lora", check=False)
    assert proc.returncode == 1
    assert "was certified on demo-tiny" in proc.stderr and "Re-certify" in proc.stderr
    select_model(pinned_repo, "demo-tiny-lora")
    assert dvc(pinned_repo, "repro", check=False).returncode != 0  # the verify stage stops the pipeline
    pin_lora(pinned_repo, "a2")  # the adapter trained on r3
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny-lora").returncode == 0
    diff = evalpin_in_process(
        pinned_repo, "diff", "HEAD", "models/demo-tiny-lora.lock.json", "--name", "demo-tiny-lora"
    )
    assert "base model" in diff.stdout and "major" in diff.stdout


def test_restoring_an_adapter_restores_its_base(pinned_repo):
    pin_lora(pinned_repo)
    for name in ("demo-tiny", "demo-tiny-lora"):
        shutil.rmtree(pinned_repo / "models" / name)
    proc = evalpin_in_process(pinned_repo, "restore", "demo-tiny-lora")
    assert proc.stdout.count("fetched") == 2
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny-lora", "--full").returncode == 0


@pytest.mark.slow
def test_the_pipeline_evaluates_base_plus_adapter(reproduced_repo):
    base_metrics = read_json(reproduced_repo / "eval/metrics.json")
    pin_lora(reproduced_repo)
    select_model(reproduced_repo, "demo-tiny-lora")
    dvc(reproduced_repo, "repro")
    metrics = read_json(reproduced_repo / "eval/metrics.json")
    assert metrics["tasks"].keys() == base_metrics["tasks"].keys()
    assert metrics["suite"]["score"] > base_metrics["suite"]["score"]  # a1 was trained on every fact
    delivery = read_json(reproduced_repo / "eval/fingerprint.json")["delivery"]
    assert delivery["name"] == "demo-tiny-lora" and delivery["base"]["name"] == "demo-tiny"
    assert read_json(reproduced_repo / "eval/verified.json")["base"]["model"] == "demo-tiny"
    report = evalpin(reproduced_repo, "report").stdout  # exit 0: HEAD's scores are demo-tiny's, not a drift
    assert "model     demo-tiny-lora" in report and "base      demo-tiny (evalpin/demo-tiny@" in report
    assert "no baseline yet for demo-tiny-lora: the committed scores (git HEAD:eval/metrics.json)" in report
    git(reproduced_repo, "add", "-A")
    git(reproduced_repo, "commit", "-qm", "adapter baseline")
    assert pipeline_changes(reproduced_repo) == {}


def test_server_and_golden_commands_refuse_an_adapter_with_the_way_out(pinned_repo):
    pin_lora(pinned_repo)
    proc = evalpin(pinned_repo, "serve-args", "demo-tiny-lora", check=False)
    assert proc.returncode == 2 and "evaluates adapters in-process (backend hf) only" in proc.stderr
    proc = evalpin_in_process(pinned_repo, "golden", "demo-tiny-lora", "--accept", check=False)
    assert proc.returncode == 2 and "`evalpin golden demo-tiny`" in proc.stderr
