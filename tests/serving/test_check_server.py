"""`evalpin check-server` (serving/check_server.py): the references a pin recorded, and how a server's
answers are judged against them. The judging is asked here of scripted servers that replay the pinned
references (support/scripted_server.py), faithfully or with one thing changed; a live vLLM on another
delivery, an unreachable server and missing references through the CLI are
tests/serving/test_serve_args.py."""

import hashlib
import json
from dataclasses import replace

import pytest
import yaml

from evalpin.base.errors import DriftError, EvalpinError, ExitCode
from evalpin.serving.check_server import (
    TOLERANCES,
    Finding,
    References,
    Report,
    check_before_evaluation,
    check_server,
    compare_steps,
    load_references,
    server_root,
    serving_dtype,
    token_finding,
)
from evalpin.serving.endpoints import CannotTell
from support import git
from support.scripted_server import scripted_server

GOLDEN = "models/demo-tiny.golden.json"


def _refs(**server) -> References:
    golden = {"token_ids": {}, "conversations": {}, "plain_prompt": ""}
    return References("demo-tiny", GOLDEN, "0" * 64, golden, server, "float32", {})


def _report(tolerance: float = 1e-3, kind: str = "vllm") -> Report:
    return Report(kind, tolerance, _refs())


# --- judging one probe's greedy continuation ------------------------------------------------------------


PROBE = {"tokens": [5, 6, 7, 8], "logprobs": [-0.1, -0.2, -0.3, -0.4], "margins": [2.0, 2.0, 2.0, 2.0]}


def test_equal_tokens_within_the_tolerance_is_no_finding():
    report = _report()
    compare_steps("user", PROBE, [5, 6, 7, 8], [-0.1005, -0.2, -0.3009, -0.4], report)
    assert report.findings == [] and report.exit_code == ExitCode.OK


def test_log_probabilities_beyond_the_tolerance_are_a_weights_finding():
    report = _report()
    compare_steps("user", PROBE, [5, 6, 7, 8], [-0.1, -0.2, -0.3021, -0.4], report)
    (finding,) = report.findings
    assert finding.part == "weights" and report.exit_code == ExitCode.DRIFT
    assert finding.what == "probe user: log-probabilities (largest difference 2.10e-03 > 0.001)"
    assert finding.expected == PROBE["logprobs"] and finding.actual == [-0.1, -0.2, -0.3021, -0.4]


def test_another_greedy_token_is_named_at_its_step():
    report = _report()
    compare_steps("user", PROBE, [5, 6, 9, 8], PROBE["logprobs"], report)
    assert [str(f) for f in report.findings] == [
        "weights: probe user: greedy tokens (first difference at step 2): "
        "expected [5, 6, 7, 8], got [5, 6, 9, 8]"
    ]


def test_a_near_tie_ends_the_comparison_there_whichever_way_it_went():
    """Step 2's runner-up was within the tolerance: another kernel may pick it; nothing after compares."""
    tied = {**PROBE, "margins": [2.0, 2.0, 0.0005, 2.0]}
    went_the_other_way = _report()
    compare_steps("user", tied, [5, 6, 9, 1], [-0.1, -0.2, -5.0, -9.0], went_the_other_way)
    assert went_the_other_way.findings == []
    same_way = _report()
    compare_steps("user", tied, [5, 6, 7, 1], [-0.1, -0.2, -0.3, -9.0], same_way)
    assert same_way.findings == []  # the tie step itself compared, what followed not
    before_the_tie = _report()
    compare_steps("user", tied, [5, 6, 7, 1], [-0.1, -0.25, -0.3, -9.0], before_the_tie)
    assert [f.part for f in before_the_tie.findings] == ["weights"]
    assert before_the_tie.findings[0].expected == [-0.1, -0.2, -0.3]  # up to the tie


def test_a_wider_tolerance_makes_more_steps_near_ties():
    report = _report(tolerance=0.5, kind="llama-cpp")
    probe = {**PROBE, "margins": [2.0, 0.4, 2.0, 2.0]}  # a tie at 0.5, not at 1e-3
    compare_steps("user", probe, [5, 9, 9, 9], [-0.1, -0.2, -0.3, -0.4], report)
    assert report.findings == []
    strict = _report()
    compare_steps("user", probe, [5, 9, 9, 9], [-0.1, -0.2, -0.3, -0.4], strict)
    assert "first difference at step 1" in strict.findings[0].what


def test_no_tokens_or_fewer_than_asked_are_a_finding_unless_the_server_stopped_where_the_reference_ends():
    report = _report()
    compare_steps("user", PROBE, [], [], report)
    assert [f.what for f in report.findings] == ["probe user: greedy tokens (0 returned of the 4 asked for)"]
    short = _report()  # vLLM is asked to ignore end-of-sequence: two of four tokens is a mismatch (it passed)
    compare_steps("user", PROBE, [5, 6], [-0.1, -0.2], short)
    assert [f.what for f in short.findings] == ["probe user: greedy tokens (2 returned of the 4 asked for)"]
    stopped = _report(kind="llama-cpp")  # stopped at an end-of-sequence token where the reference has one
    compare_steps("user", PROBE, [5, 6], [-0.1, -0.2], stopped, ended=True)
    assert stopped.findings == []
    tied = _report()  # nothing after a near tie is compared: fewer tokens past it are no finding
    compare_steps("user", {**PROBE, "margins": [2.0, 0.0, 2.0, 2.0]}, [5, 6], [-0.1, -0.2], tied)
    assert tied.findings == []


def test_a_token_list_difference_shows_a_window_around_the_first_difference():
    finding = token_finding("tokenizer/template", "user", list(range(20)), [*range(10), 99, *range(11, 20)])
    assert finding.what == "user: first difference at token 10 (20 vs 20 tokens)"
    assert (finding.expected, finding.actual) == ([8, 9, 10, 11, 12, 13], [8, 9, 99, 11, 12, 13])
    shorter = token_finding("tokenizer/template", "plain-prompt", [1, 2, 3], [1, 2])
    assert shorter.what == "plain-prompt: first difference at token 2 (3 vs 2 tokens)"
    assert (shorter.expected, shorter.actual) == ([1, 2, 3], [1, 2])


def test_a_report_says_what_it_checked_per_server_kind_and_records_no_url():
    vllm, llama = _report(), _report(0.5, "llama-cpp")
    assert vllm.checked == ["identity", "tokenizer/template", "weights", "generation defaults"]
    assert llama.checked == ["identity (name)", "tokenizer/template", "weights"]
    assert llama.record() == {
        "server": "llama-cpp",
        "checked": ["identity (name)", "tokenizer/template", "weights"],
        "references": GOLDEN,
        "references_sha256": "0" * 64,
        "tolerance": 0.5,
        "result": "served the pinned delivery",
    }
    assert str(Finding("identity", "served model name", "a", ["b"])) == (
        "identity: served model name: expected a, got ['b']"
    )


@pytest.mark.parametrize(
    ("base_url", "root"),
    [
        ("http://gpu:8000/v1/completions", "http://gpu:8000"),
        ("http://gpu:8000/v1/completions/", "http://gpu:8000"),
        ("http://gpu:8000/v1", "http://gpu:8000"),
        ("http://gpu:8000/", "http://gpu:8000"),
        ("http://gpu:8000/proxy/v1/completions", "http://gpu:8000/proxy"),
    ],
)
def test_a_backends_base_url_becomes_the_servers_root(base_url, root):
    assert server_root(base_url) == root


def test_a_gguf_is_served_at_its_own_quantization_anything_else_at_the_inference_dtype():
    assert (
        serving_dtype({"gguf": {"m.gguf": {"file_type": "Q4_1"}}}, {"inference": {"dtype": "bf16"}}) == "Q4_1"
    )
    assert serving_dtype({"gguf": None}, {"inference": {"dtype": "bfloat16"}}) == "bfloat16"
    assert serving_dtype({}, {}) == "float32"


# --- the references, from the workspace or a release tag --------------------------------------------


def test_references_are_the_pinned_golden_file_with_its_digest_and_serving_dtype(pinned_repo_origin):
    repo = pinned_repo_origin  # read, never written
    refs = load_references(repo, "demo-tiny")
    text = (repo / GOLDEN).read_text()
    assert refs.name == "demo-tiny" and refs.source == GOLDEN
    assert refs.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert refs.golden == json.loads(text) and refs.server == refs.golden["server"]
    assert refs.dtype == "float32" and refs.gen_overrides == {}


def test_generation_kwargs_become_overrides_less_the_token_budget(pinned_repo):
    params = yaml.safe_load((pinned_repo / "params.yaml").read_text())
    params["inference"]["gen_kwargs"] = {"do_sample": False, "max_gen_toks": 32}
    (pinned_repo / "params.yaml").write_text(yaml.safe_dump(params))
    assert load_references(pinned_repo, "demo-tiny").gen_overrides == {"temperature": 0.0}


def test_a_release_tags_references_are_read_without_a_checkout(pinned_repo):
    git(pinned_repo, "tag", "-a", "demo-tiny@v1.2.3", "-m", "a release")
    committed = (pinned_repo / GOLDEN).read_text()
    (pinned_repo / GOLDEN).write_text("{}")  # the workspace moved on
    refs = load_references(pinned_repo, "demo-tiny@v1.2.3")
    assert refs.source == f"demo-tiny@v1.2.3:{GOLDEN}" and refs.golden == json.loads(committed)
    with pytest.raises(EvalpinError) as caught:
        load_references(pinned_repo, "demo-tiny@v9.0.0")
    assert str(caught.value).startswith(f"demo-tiny@v9.0.0:{GOLDEN}: not in the release (")
    assert str(caught.value).endswith("check the tag (`git tag -l`).")


@pytest.mark.parametrize("spec", ["demo tiny", "../demo", "demo-tiny@1.0.0", "demo-tiny@v1", "@v1.0.0"])
def test_a_spec_that_is_no_name_or_release_is_refused(tmp_path, spec):
    with pytest.raises(EvalpinError) as caught:
        load_references(tmp_path, spec)
    assert str(caught.value) == f"check-server {spec}: not NAME or NAME@vX.Y.Z (a release tag); fix the name."


def test_missing_or_outdated_references_name_the_file_and_fix(pinned_repo):
    with pytest.raises(EvalpinError, match=r"^models/nope.golden.json: not found; pin the model first"):
        load_references(pinned_repo, "nope")
    golden = json.loads((pinned_repo / GOLDEN).read_text())
    del golden["server"]
    (pinned_repo / GOLDEN).write_text(json.dumps(golden))
    with pytest.raises(EvalpinError) as caught:
        load_references(pinned_repo, "demo-tiny")
    assert str(caught.value) == (
        f"{GOLDEN}: field server is missing (recorded before check-server existed); re-record it with "
        "`evalpin golden demo-tiny --accept` and commit it."
    )


def test_a_dtype_without_a_measured_tolerance_cannot_tell_before_asking(pinned_repo_origin):
    repo = pinned_repo_origin  # read, never written
    refs = replace(load_references(repo, "demo-tiny"), dtype="bfloat16")
    with pytest.raises(CannotTell) as caught:
        check_server(refs, "http://127.0.0.1:9", "vllm")  # nothing is asked: no server needed
    assert str(caught.value).startswith(
        f"{GOLDEN}: no measured tolerance for a vllm server at dtype bfloat16"
    )
    assert "pass --tolerance or set backend.server_tolerance" in str(caught.value)


def test_an_in_process_backend_asks_no_server(pinned_repo_origin):
    repo = pinned_repo_origin  # read, never written
    assert check_before_evaluation(repo, "demo-tiny", {"name": "hf", "model_args": {}}) is None


# --- a vLLM server replaying the references -----------------------------------------------------------


def _key_of(refs: References, ids: list[int]) -> str:
    return next(key for key, known in refs.golden["token_ids"].items() if known == ids)


def replay_vllm(server, refs: References, change: set[str] = frozenset()) -> None:
    """Answer as vLLM serving exactly the pinned delivery, except what `change` names: "name",
    "context", "template" (the user conversation renders one token longer), "weights" (another greedy
    token), "defaults" (a request without sampling parameters samples otherwise)."""
    golden, recorded = refs.golden, refs.server
    name = "another" if "name" in change else recorded["served_model_name"]
    context = recorded["context_length"] * (2 if "context" in change else 1)
    server.answer("/v1/models", {"data": [{"id": name, "owned_by": "vllm", "max_model_len": context}]})

    def tokenize(body):
        messages = body.get("messages")
        key = next(k for k, m in golden["conversations"].items() if m == messages)
        ids = golden["token_ids"][key]
        return 200, {"tokens": [*ids, 0] if key == "user" and "template" in change else ids}

    def completions(body):
        choices = []
        for i, prompt in enumerate(body["prompt"]):
            if "logprobs" in body:
                probe = recorded["probes"][_key_of(refs, prompt)]
                tokens = probe["tokens"][: body["max_tokens"]]
                if "weights" in change:
                    tokens = [tokens[0] + 1, *tokens[1:]]
                logprobs = {"tokens": [f"token_id:{t}" for t in tokens], "token_logprobs": probe["logprobs"]}
                choices.append({"index": i, "text": "", "logprobs": logprobs})
            else:
                bare = "temperature" not in body
                text = "other" if bare and "defaults" in change else f"sampled {i} seed {body['seed']}"
                choices.append({"index": i, "text": text})
        return 200, {"choices": choices}

    server.answers["/tokenize"] = tokenize
    server.answers["/v1/completions"] = completions


def test_a_server_that_serves_the_pinned_delivery_passes_every_part(pinned_repo_origin):
    repo = pinned_repo_origin  # read, never written
    refs = load_references(repo, "demo-tiny")
    with scripted_server() as server:
        replay_vllm(server, refs)
        report = check_server(refs, server.url, None)  # the kind told by /v1/models
        backend = {"name": "local-completions", "model_args": {"base_url": f"{server.url}/v1/completions"}}
        recorded = check_before_evaluation(repo, "demo-tiny", backend)
    assert report.findings == [] and report.exit_code == ExitCode.OK
    assert report.kind == "vllm" and report.tolerance == TOLERANCES[("vllm", "float32")]
    assert recorded == report.record() and recorded["references"] == GOLDEN
    renders = server.bodies("/tokenize")
    assert len(renders) == 2 * len(refs.golden["token_ids"])  # every golden rendering, once per check


def test_each_part_that_differs_is_named_with_expected_and_actual(pinned_repo_origin):
    repo = pinned_repo_origin  # read, never written
    refs = load_references(repo, "demo-tiny")
    with scripted_server() as server:
        replay_vllm(server, refs, {"name", "context", "template", "weights", "defaults"})
        report = check_server(refs, server.url, "vllm")
    found = {(f.part, f.what.split(" (")[0]) for f in report.findings}
    assert ("identity", "served model name") in found
    assert ("identity", "context length") in found
    assert ("tokenizer/template", "user: first difference at token 27") in found
    assert {what for part, what in found if part == "weights"} == {
        f"probe {key}: greedy tokens" for key in refs.server["probes"]
    }
    assert any(part == "generation defaults" for part, _ in found)
    assert report.exit_code == ExitCode.DRIFT
    identity = next(f for f in report.findings if f.what == "served model name")
    assert (identity.expected, identity.actual) == ("demo-tiny", ["another"])


def test_evaluation_refuses_to_score_a_server_that_serves_something_else(pinned_repo_origin):
    repo = pinned_repo_origin  # read, never written
    refs = load_references(repo, "demo-tiny")
    with scripted_server() as server:
        replay_vllm(server, refs, {"weights"})
        backend = {"name": "local-completions", "model_args": {"base_url": f"{server.url}/v1/completions"}}
        with pytest.raises(DriftError) as caught:
            check_before_evaluation(repo, "demo-tiny", backend)
    message = str(caught.value)
    assert message.startswith(
        f"{server.url} does not serve models/demo-tiny (refusing to score it): weights:"
    )
    assert message.endswith(f"then `evalpin check-server demo-tiny --url {server.url}`.")


def test_an_answer_lacking_what_the_check_reads_cannot_tell(pinned_repo_origin):
    repo = pinned_repo_origin  # read, never written
    refs = load_references(repo, "demo-tiny")
    with scripted_server() as server:
        replay_vllm(server, refs)
        server.answer("/tokenize", {"count": 3})  # no tokens
        with pytest.raises(CannotTell) as caught:
            check_server(refs, server.url, "vllm")
    assert str(caught.value).startswith(f"{server.url}: an answer lacks what check-server reads (KeyError")
    assert "start the server as `evalpin serve-args demo-tiny` prints it" in str(caught.value)


# --- a llama-cpp-python server replaying the references -----------------------------------------------


def _key_of_text(recorded: dict, text: str) -> str:
    return next(key for key, known in recorded["prompt_texts"].items() if known == text)


def replay_llama_cpp(server, refs: References, change: set[str] = frozenset()) -> None:
    """Answer as llama-cpp-python's server on the pinned delivery; each token detokenizes to `<ID>`.
    `change`: "template" (the server's chat template renders the user conversation one token longer)."""
    golden, recorded = refs.golden, refs.server
    server.answer("/v1/models", {"data": [{"id": refs.name, "owned_by": "me"}]})

    def tokenize(body):  # the plain prompt, or a golden rendering as text (its special tokens spelled out)
        text = body["input"]
        key = "plain-prompt" if text == golden["plain_prompt"] else _key_of_text(recorded, text)
        return 200, {"tokens": golden["token_ids"][key]}

    def detokenize(body):
        return 200, {"text": "".join(f"<{t}>" for t in body["tokens"])}

    def completions(body):
        probe = recorded["probes"][_key_of_text(recorded, body["prompt"])]
        logprobs = {"tokens": [f"<{t}>" for t in probe["tokens"]], "token_logprobs": probe["logprobs"]}
        return 200, {"choices": [{"finish_reason": "length", "logprobs": logprobs}]}

    def chat(body):
        key = next(k for k, m in golden["conversations"].items() if m == body["messages"])
        length = len(golden["token_ids"][key]) + (1 if key == "user" and "template" in change else 0)
        probe = recorded["probes"][key]
        first = {"token": f"<{probe['tokens'][0]}>", "logprob": probe["logprobs"][0]}
        return 200, {"usage": {"prompt_tokens": length}, "choices": [{"logprobs": {"content": [first]}}]}

    server.answers.update(
        {
            "/extras/tokenize": tokenize,
            "/extras/detokenize": detokenize,
            "/v1/completions": completions,
            "/v1/chat/completions": chat,
        }
    )


def test_a_llama_cpp_server_is_judged_by_round_trips_probes_and_its_own_chat_rendering(pinned_repo_origin):
    repo = pinned_repo_origin  # read, never written
    refs = load_references(repo, "demo-tiny")
    with scripted_server() as server:
        replay_llama_cpp(server, refs)
        report = check_server(refs, server.url, None, tolerance=0.5)
        assert report.kind == "llama-cpp" and report.findings == []
        assert any(
            note.startswith("identity: llama-cpp-python's server does not report") for note in report.notes
        )
        chats = len(server.bodies("/v1/chat/completions"))
        assert chats == sum(m is not None for m in refs.golden["conversations"].values())
        replay_llama_cpp(server, refs, {"template"})
        report = check_server(refs, server.url, "llama-cpp", tolerance=0.5)
    (finding,) = report.findings
    assert finding.part == "tokenizer/template" and finding.what.startswith(
        "user as the server's chat template"
    )
    length = len(refs.golden["token_ids"]["user"])
    assert finding.expected[0] == length and finding.actual[0] == length + 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_log_probability_is_a_weights_finding(bad):
    """max() of differences with a NaN in them was NaN, and NaN > tolerance is false: it passed."""
    report = _report()
    compare_steps("user", PROBE, [5, 6, 7, 8], [-0.1, bad, -0.3, -0.4], report)
    assert [f.part for f in report.findings] == ["weights"]


@pytest.mark.parametrize("tolerance", [float("nan"), float("inf"), 0.0, -1e-3])
def test_a_tolerance_that_would_pass_anything_is_refused_before_any_request(tolerance):
    with pytest.raises(EvalpinError, match=r"--tolerance .*: give a finite number > 0"):
        check_server(_refs(), "http://127.0.0.1:9", None, tolerance)
