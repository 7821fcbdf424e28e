"""The loop on a real model: SmolLM2-135M-Instruct (49,152-token BPE, ChatML, tied embeddings, 270 MB of
bf16 safetensors) from the `real_upstream` fixture, where the tiny demo model cannot tell the truth.

One scratch repository for the module (pinned and evaluated once, on two samples per task), copied by
the tests that write: pin r1, golden, verify, `dvc repro`, compare with the demo's baseline, serve-args,
vLLM against hf; then the upstream drifts to r2 (template and generation defaults): check-upstream,
re-pin, golden catches it, diff says patch.
"""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from support import (
    REAL_REPO_ID,
    copy_repo,
    dvc,
    evalpin,
    evalpin_in_process,
    git,
    make_template_repo,
    pipeline_changes,
    read_json,
    run,
    select_model,
)
from support.vllm_server import VLLM_PYTHON, free_port, start_vllm, stop_vllm, wait_ready

pytestmark = pytest.mark.slow
NAME = "smollm2"
NO_TORCH = (  # `evalpin ARGS`, then whether it imported torch
    "import sys; from evalpin.cli import main; rc = main(sys.argv[1:]); "
    "print('torch' in sys.modules); sys.exit(rc)"
)


@pytest.fixture(scope="module")
def real_repo(real_upstream, reproduced_repo_origin, tmp_path_factory):
    """A template repo: the demo's baseline (the session's demo run, tag demo-baseline), then SmolLM2 r1
    pinned, selected and evaluated on two samples per task, committed. Tests that write work on a copy."""
    repo = make_template_repo(tmp_path_factory.mktemp("real") / "repo")
    for output in ("metrics.json", "fingerprint.json"):
        shutil.copy2(reproduced_repo_origin / "eval" / output, repo / "eval" / output)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the demo's baseline")
    git(repo, "tag", "demo-baseline")
    hub = str(real_upstream["hub"])
    evalpin_in_process(
        repo, "pin", REAL_REPO_ID, "--revision", real_upstream["r1"], "--upstream", hub, "--name", NAME
    )
    suite = repo / "conf/suite/demo.yaml"
    suite.write_text(suite.read_text().replace("limit: null", "limit: 2"))  # a real model on 2 cores
    select_model(repo, NAME)
    dvc(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "SmolLM2 r1 and its baseline")
    return repo


def test_pin_locks_every_file_and_records_chatml_renderings(real_repo):
    lock = read_json(real_repo / f"models/{NAME}.lock.json")
    roles = {f["path"]: f["role"] for f in lock["files"]}
    assert roles["model.safetensors"] == "weights" and roles["chat_template.jinja"] == "chat_template"
    assert roles["tokenizer.json"] == "tokenizer" and roles["generation_config.json"] == "generation_config"
    assert lock["model_config"]["dtype"] == "bfloat16"  # as the Hub serves it; evaluated in float32
    golden = read_json(real_repo / f"models/{NAME}.golden.json")["token_ids"]
    assert golden["user"][0] == 1 and max(golden["user"]) > 300  # <|im_start|>; a 49,152-token vocabulary
    assert len(golden["user"]) > len(golden["system-user"]) - 5  # the injected default system prompt


def test_verify_of_the_unchanged_delivery_imports_no_transformers(real_repo):
    code = (
        "import sys; from evalpin.cli import main; rc = main(sys.argv[1:]); "
        "print('rendered' if 'transformers' in sys.modules else 'skipped'); sys.exit(rc)"
    )
    proc = run(real_repo, sys.executable, "-c", code, "verify", NAME)
    assert proc.stdout.split()[-1] == "skipped" and "verified 6 files" in proc.stdout
    assert evalpin_in_process(real_repo, "verify", NAME, "--full").returncode == 0  # renders, and agrees


def test_repro_evaluates_and_compare_names_both_models(real_repo):
    metrics = read_json(real_repo / "eval/metrics.json")
    assert {task["n"] for task in metrics["tasks"].values()} == {2}
    fingerprint = read_json(real_repo / "eval/fingerprint.json")
    assert fingerprint["delivery"]["name"] == NAME
    assert fingerprint["chat_templates"]  # ChatML, recorded by sha256
    proc = evalpin(real_repo, "compare", "--baseline", "demo-baseline", check=False)
    assert proc.returncode == 3, proc.stdout  # 2 samples against the demo's whole suite: not comparable
    revision = read_json(real_repo / "eval/verified.json")["revision"]
    assert f"candidate workspace: {NAME} at commit {revision[:12]}" in proc.stdout
    assert "baseline  demo-baseline: demo-tiny at commit e0df55c47369" in proc.stdout
    assert pipeline_changes(real_repo) == {}


def test_serve_args_serve_exactly_the_pinned_files(real_repo):
    argv = json.loads(evalpin(real_repo, "serve-args", NAME, "--json").stdout)
    assert argv[:3] == ["vllm", "serve", f"models/{NAME}"]
    flags = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert flags["--served-model-name"] == NAME and flags["--dtype"] == "float32"
    assert flags["--chat-template"] == f"models/{NAME}/chat_template.jinja"
    assert flags["--max-model-len"] == "8192"  # from the real config.json


@pytest.mark.walkthrough  # its own vLLM server on the real model: 75 s of make test's 8 minutes; CI runs it
@pytest.mark.skipif(
    not VLLM_PYTHON.is_file(), reason=f"no vLLM server venv at {VLLM_PYTHON} (make server-env)"
)
def test_vllm_on_the_real_model_scores_what_hf_scores(real_repo, tmp_path):
    """The same pinned files served by vLLM's CPU build on 127.0.0.1, prompts tokenized by the pinned
    tokenizer: every score and greedy output equal to the hf backend's (the committed evaluation)."""
    real_repo = copy_repo(real_repo, tmp_path / "repo")
    hf = read_json(real_repo / "eval/metrics.json")
    hf_outputs = read_json(real_repo / "eval/fingerprint.json")["output_fingerprint"]
    port, log = free_port(), tmp_path / "vllm.log"
    server = start_vllm(real_repo, port, log, NAME)
    try:
        wait_ready(server, port, log, NAME)
        url = f"backend.model_args.base_url=http://127.0.0.1:{port}/v1/completions"
        evalpin(real_repo, "compose", "backend=local-completions", url)
        evalpin(real_repo, "evaluate")  # checks the server first (check-server), then scores it
        check = run(
            real_repo,
            sys.executable,
            "-c",
            NO_TORCH,
            "check-server",
            NAME,
            "--url",
            f"http://127.0.0.1:{port}",
        )
    finally:
        stop_vllm(server)
    assert "serves the pinned delivery" in check.stdout and check.stdout.split()[-1] == "False"  # no torch
    assert read_json(real_repo / "eval/metrics.json") == hf
    fingerprint = read_json(real_repo / "eval/fingerprint.json")
    assert fingerprint["output_fingerprint"] == hf_outputs
    assert fingerprint["server_check"]["server"] == "vllm"
    assert fingerprint["server_check"]["references"] == f"models/{NAME}.golden.json"
    assert '"POST /v1/completions HTTP/1.1" 200' in log.read_text()


def test_upstream_drift_to_r2_is_caught_and_classified_as_patch(real_repo, real_upstream, tmp_path):
    real_repo = copy_repo(real_repo, tmp_path / "repo")
    proc = evalpin_in_process(real_repo, "check-upstream", NAME, check=False)  # main is r2
    assert proc.returncode == 1
    assert "chat_template.jinja" in proc.stdout and "generation_config.json" in proc.stdout
    assert "weights identical" in proc.stdout
    hub = str(real_upstream["hub"])
    evalpin_in_process(
        real_repo, "pin", REAL_REPO_ID, "--revision", real_upstream["r2"], "--upstream", hub, "--name", NAME
    )
    proc = evalpin_in_process(real_repo, "verify", NAME, check=False)
    assert proc.returncode == 1 and "prompt rendering differs" in proc.stderr  # the system prompt is gone
    assert "user: first difference at token 1" in proc.stderr
    diff = evalpin_in_process(real_repo, "diff", "HEAD", f"models/{NAME}.lock.json", "--name", NAME).stdout
    assert "suggested bump: patch" in diff
