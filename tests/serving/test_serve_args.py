"""`evalpin serve-args`: the vLLM command derived from the same pinned conf the evaluation read."""

import json
import shutil

import pytest

from evalpin.results.levels import compare_probes
from support import HUB_REPO, TEMPLATE, demo_commit, evalpin, git
from support.vllm_server import VLLM_PYTHON, free_port, start_vllm, stop_vllm, wait_ready


def argv(repo, *args):
    return json.loads(evalpin(repo, "serve-args", *args, "--json").stdout)


def flag(args, name):
    return args[args.index(name) + 1]


def test_serves_the_verified_delivery_with_the_evaluated_parameters(pinned_repo):
    args = argv(pinned_repo, "demo-tiny")
    assert args[:3] == ["vllm", "serve", "models/demo-tiny"]
    assert flag(args, "--dtype") == "float32" and flag(args, "--seed") == "1234"
    assert flag(args, "--max-model-len") == "512"  # the delivery's max_position_embeddings
    assert flag(args, "--chat-template") == "models/demo-tiny/chat_template.jinja"
    assert flag(args, "--generation-config") == "models/demo-tiny"  # its generation_config.json
    assert flag(args, "--tensor-parallel-size") == "1" and flag(args, "--gpu-memory-utilization") == "0.9"
    assert "--override-generation-config" not in args and "--trust-remote-code" not in args
    assert evalpin(pinned_repo, "serve-args", "demo-tiny").stdout.startswith("vllm serve models/demo-tiny ")


def test_hub_form_names_the_pinned_commit(pinned_repo):
    revision = json.loads((pinned_repo / "models/demo-tiny.lock.json").read_text())["source"]["revision"]
    args = argv(pinned_repo, "demo-tiny", "--hub")
    assert args[2] == "evalpin/demo-tiny"
    assert flag(args, "--revision") == revision and flag(args, "--tokenizer-revision") == revision
    assert flag(args, "--generation-config") == "auto"


def test_overrides_and_generation_kwargs_flow_into_the_command(pinned_repo):
    args = argv(
        pinned_repo,
        "demo-tiny",
        "inference.seed=7",
        "backend.model_args.tensor_parallel_size=4",
        "+inference.gen_kwargs.max_gen_toks=32",
        "+inference.gen_kwargs.do_sample=false",
    )
    assert flag(args, "--seed") == "7" and flag(args, "--tensor-parallel-size") == "4"
    generation = json.loads(flag(args, "--override-generation-config"))
    assert generation == {"max_new_tokens": 32, "temperature": 0.0}


def test_a_drifted_delivery_gets_no_command(pinned_repo):
    (pinned_repo / "models/demo-tiny/generation_config.json").write_text("{}\n")
    proc = evalpin(pinned_repo, "serve-args", "demo-tiny", check=False)
    assert proc.returncode == 1 and "generation_config.json" in proc.stderr and not proc.stdout


def test_unknown_model_and_unmappable_settings_are_named(pinned_repo):
    proc = evalpin(pinned_repo, "serve-args", "nope", check=False)
    assert proc.returncode == 2 and "conf/model/nope.yaml: not found" in proc.stderr
    proc = evalpin(pinned_repo, "serve-args", "demo-tiny", "inference.dtype=int3", check=False)
    assert proc.returncode == 2 and "dtype 'int3' has no vLLM equivalent" in proc.stderr
    proc = evalpin(pinned_repo, "serve-args", "demo-tiny", "+inference.gen_kwargs.beams=2", check=False)
    assert proc.returncode == 2 and "gen_kwargs.beams" in proc.stderr


# --- check-server: does a running server serve the pinned delivery? ---------------------------------


def test_pin_records_the_server_references_beside_the_golden_renderings(pinned_repo):
    golden = json.loads((pinned_repo / "models/demo-tiny.golden.json").read_text())
    server = golden["server"]
    assert server["served_model_name"] == "demo-tiny" and server["context_length"] == 512
    assert server["sampling_defaults"] == {} and server["dtype"] == "float32"  # r1 sets no sampling key
    assert set(server["probes"]) == set(golden["token_ids"])  # every golden rendering is a probe prompt
    assert all(len(p["tokens"]) == len(p["logprobs"]) == 8 for p in server["probes"].values())
    assert server["numerics_class"].startswith("cpu-portable-")  # the same bytes on any x86-64 AVX2 CPU
    committed = TEMPLATE / "models/demo-tiny.golden.json"  # absent once the project is clean-started
    if committed.is_file():  # recorded on another machine: exact in the same class, else within tolerance
        theirs = json.loads(committed.read_text())["server"]
        classes = (theirs.get("numerics_class"), server["numerics_class"])
        level = compare_probes(theirs["probes"], server["probes"], classes)
        allowed = ("exact",) if classes[0] == classes[1] else ("exact", "equivalent")
        assert level.name in allowed, level.line()
        floats = ("probes", "numerics_class")
        assert {k: v for k, v in server.items() if k not in floats} == {
            k: v for k, v in theirs.items() if k not in floats
        }


def test_the_next_fine_tune_differs_far_beyond_every_tolerance(pinned_repo, tmp_path):
    """The demo upstream's r3 (a further fine-tune: other weights), recorded in-process as the references
    are: every server kind's measured tolerance refuses it, on greedy tokens or log-probabilities."""
    from evalpin.delivery.probes import record_probes
    from evalpin.serving.check_server import TOLERANCES, References, Report, compare_steps

    other = tmp_path / "r3"
    shutil.copytree(HUB_REPO / "snapshots" / demo_commit("r3"), other)  # resolves the cache's symlinks
    golden = json.loads((pinned_repo / "models/demo-tiny.golden.json").read_text())
    fine_tuned = record_probes(other, "demo-tiny", golden["token_ids"])["probes"]
    refs = References("demo-tiny", "golden", "", golden, golden["server"], "float32", {})
    refused = {}
    for (kind, _), tolerance in TOLERANCES.items():
        report = Report(kind, tolerance, refs)
        for key, probe in golden["server"]["probes"].items():
            compare_steps(key, probe, fine_tuned[key]["tokens"], fine_tuned[key]["logprobs"], report)
        assert {f.part for f in report.findings} == {"weights"}
        refused[kind] = len(report.findings)
    assert refused == {"vllm": 4, "llama-cpp": 3}  # of 4 probes; llama.cpp's tolerance is wider (Q4_1)


def test_an_unreachable_server_or_missing_references_cannot_tell(pinned_repo):
    url = f"http://127.0.0.1:{free_port()}"
    proc = evalpin(pinned_repo, "check-server", "demo-tiny", "--url", url, check=False)
    assert proc.returncode == 2 and f"{url}: unreachable" in proc.stderr and not proc.stdout
    golden = pinned_repo / "models/demo-tiny.golden.json"
    git(pinned_repo, "tag", "-a", "demo-tiny@v1.0.0", "-m", "a release")
    body = json.loads(golden.read_text())
    del body["server"]
    golden.write_text(json.dumps(body))
    proc = evalpin(pinned_repo, "check-server", "demo-tiny", "--url", url, check=False)
    assert proc.returncode == 2 and "golden.json: field server is missing" in proc.stderr
    assert "evalpin golden demo-tiny --accept" in proc.stderr
    proc = evalpin(pinned_repo, "check-server", "demo-tiny@v1.0.0", "--url", url, check=False)
    assert proc.returncode == 2 and "unreachable" in proc.stderr  # the tag's references, no checkout
    proc = evalpin(pinned_repo, "check-server", "demo-tiny@v9.0.0", "--url", url, check=False)
    assert proc.returncode == 2 and "demo-tiny@v9.0.0:models/demo-tiny.golden.json: not in the release" in (
        proc.stderr
    )


@pytest.fixture(scope="module")
def next_fine_tune_server(pinned_repo_origin, tmp_path_factory):
    """vLLM started with the flags `serve-args demo-tiny` prints, on the upstream's r3 instead: another
    delivery under the same name (other weights, chat template and generation defaults)."""
    if not VLLM_PYTHON.is_file():
        pytest.skip(f"no vLLM server venv at {VLLM_PYTHON} (make server-env)")
    scratch = tmp_path_factory.mktemp("r3-server")
    other = scratch / "r3"
    shutil.copytree(HUB_REPO / "snapshots" / demo_commit("r3"), other)
    port, log = free_port(), scratch / "vllm.log"
    server = start_vllm(pinned_repo_origin, port, log, delivery=other)
    try:
        wait_ready(server, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_vllm(server)


@pytest.mark.slow
def test_a_server_on_another_delivery_is_refused_naming_each_part(pinned_repo, next_fine_tune_server):
    url = next_fine_tune_server
    proc = evalpin(pinned_repo, "check-server", "demo-tiny", "--url", url, check=False)
    assert proc.returncode == 1 and "MISMATCH" in proc.stdout, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()[1:]
    parts = {line.strip().split(":")[0] for line in lines}
    assert parts == {"tokenizer/template", "weights", "generation defaults"}, proc.stdout
    assert "identity" not in proc.stdout  # same name, same context length: the name proves nothing
    assert any("user: first difference at token" in line and "expected [" in line for line in lines)
    assert "probe plain-prompt" in proc.stdout  # greedy tokens or log-probabilities, expected vs actual
    git(pinned_repo, "tag", "-a", "demo-tiny@v1.0.0", "-m", "a release")
    tagged = evalpin(pinned_repo, "check-server", "demo-tiny@v1.0.0", "--url", url, check=False)
    assert tagged.returncode == 1 and "demo-tiny@v1.0.0:models/demo-tiny.golden.json" in tagged.stdout


@pytest.mark.slow
def test_evaluate_refuses_to_score_a_server_that_serves_something_else(pinned_repo, next_fine_tune_server):
    base_url = f"backend.model_args.base_url={next_fine_tune_server}/v1/completions"
    evalpin(pinned_repo, "compose", "backend=local-completions", base_url)
    proc = evalpin(pinned_repo, "evaluate", check=False)
    assert proc.returncode == 1 and "does not serve models/demo-tiny (refusing to score it)" in proc.stderr
    assert "weights: probe" in proc.stderr and not (pinned_repo / "eval/metrics.json").exists()  # no score
