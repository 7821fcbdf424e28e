"""What a running server says about itself, over HTTP (serving/endpoints.py): each question in the wire
format of vLLM or llama-cpp-python's server, and every failure to get an answer a CannotTell (exit 2)
naming the URL and the fix, never a pass. Asked here of a scripted server (support/scripted_server.py);
of a live vLLM in tests/serving/test_serve_args.py."""

import socket

import pytest

from evalpin.base.errors import EvalpinError, ExitCode
from evalpin.serving import endpoints
from evalpin.serving.endpoints import (
    NEUTRAL_VLLM,
    TOKEN_ENV,
    CannotTell,
    LlamaCpp,
    Server,
    Step,
    Vllm,
    connect,
)
from support.scripted_server import scripted_server


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with scripted_server() as scripted:
        yield scripted


def test_a_question_is_json_with_the_endpoints_key_as_a_bearer_token(server, monkeypatch):
    server.answer("/v1/models", {"data": [{"id": "demo-tiny", "owned_by": "vllm"}]})
    assert Server(server.url + "/", "demo-tiny").models() == [{"id": "demo-tiny", "owned_by": "vllm"}]
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    Server(server.url, "demo-tiny").models()
    first, second = server.requests
    assert first.method == "GET" and first.path == "/v1/models"  # the root's trailing slash dropped
    assert "Authorization" not in first.headers  # no key exported, none sent
    assert second.headers["Authorization"] == "Bearer s3cret"


def test_cannot_tell_is_a_usage_error_never_a_pass():
    assert issubclass(CannotTell, EvalpinError) and CannotTell.exit_code == ExitCode.USAGE == 2


@pytest.mark.parametrize(
    ("status", "payload", "said"),
    [
        (401, {}, "HTTP 401, auth refused; export EVALPIN_SERVER_TOKEN with the endpoint's API key."),
        (403, {}, "HTTP 403, auth refused; export EVALPIN_SERVER_TOKEN"),
        (404, {}, "HTTP 404, the server has no such API; check-server needs it (pass the right --kind"),
        (405, {}, "HTTP 405, the server has no such API"),
        (500, b"CUDA out of memory\nat line 2", "HTTP 500 (CUDA out of memory at line 2); fix the server"),
    ],
)
def test_an_http_error_is_named_with_its_url_and_fix(server, status, payload, said):
    server.answer("/v1/models", payload, status)
    with pytest.raises(CannotTell) as caught:
        Server(server.url, "demo-tiny").models()
    assert str(caught.value).startswith(f"{server.url}/v1/models: {said}")


def test_a_long_error_body_is_cut_to_a_line(server):
    server.answer("/v1/models", b"x" * 5000, 500)
    with pytest.raises(CannotTell, match=r"HTTP 500 \(x{300}\); fix the server, then rerun\.$"):
        Server(server.url, "demo-tiny").models()


def test_an_answer_that_is_not_json_or_lists_no_model(server):
    server.answer("/v1/models", b"<html>a web page</html>")
    with pytest.raises(CannotTell, match=r"/v1/models: the answer is not JSON; is --url an LLM server\?"):
        Server(server.url, "demo-tiny").models()
    for listed in ({"data": []}, {"object": "list"}, {"data": {"id": "demo-tiny"}}):
        server.answer("/v1/models", listed)
        with pytest.raises(CannotTell, match=r"/v1/models: lists no model; is --url the server's root\?"):
            Server(server.url, "demo-tiny").models()


def test_an_unreachable_server_is_named_with_the_fix():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(CannotTell) as caught:
        Server(url, "demo-tiny").call("/v1/models")
    message = str(caught.value)
    assert message.startswith(f"{url}: unreachable (") and "refused" in message
    assert message.endswith("start the server or fix --url (its root, no /v1).")


@pytest.mark.parametrize(("owner", "kind"), [("vllm", Vllm), ("me", LlamaCpp)])
def test_the_kind_is_told_by_who_owns_the_served_models(server, owner, kind):
    server.answer("/v1/models", {"data": [{"id": "demo-tiny", "owned_by": owner}]})
    connected = connect(server.url, "demo-tiny", None)
    assert type(connected) is kind and connected.kind == {"vllm": "vllm", "me": "llama-cpp"}[owner]
    assert connected.url == server.url and connected.name == "demo-tiny"


@pytest.mark.parametrize("owners", [["openai"], ["vllm", "me"], [None]])
def test_a_server_that_does_not_say_which_it_is_needs_kind(server, owners):
    server.answer("/v1/models", {"data": [{"id": f"m{i}", "owned_by": o} for i, o in enumerate(owners)]})
    with pytest.raises(CannotTell) as caught:
        connect(server.url, "demo-tiny", None)
    assert str(caught.value) == (
        f"{server.url}/v1/models: owned_by {sorted(map(str, owners))} does not say which server this is; "
        "pass --kind vllm or --kind llama-cpp."
    )


def test_a_named_kind_asks_nothing(server):
    assert isinstance(connect(server.url, "demo-tiny", "llama-cpp"), LlamaCpp)
    assert isinstance(connect(server.url, "demo-tiny", "vllm"), Vllm)
    assert server.requests == []


def test_vllm_context_length_is_its_own_models_max_model_len(server):
    listed = [{"id": "other", "max_model_len": 8192}, {"id": "demo-tiny", "max_model_len": 512}]
    server.answer("/v1/models", {"data": listed})
    assert Vllm(server.url, "demo-tiny").context_length() == 512
    assert Vllm(server.url, "absent").context_length() is None


def test_vllm_renders_a_conversation_with_its_template_or_a_text_with_special_tokens(server):
    server.answer("/tokenize", {"tokens": [1, 2, 3], "count": 3})
    vllm = Vllm(server.url, "demo-tiny")
    messages = [{"role": "user", "content": "hi"}]
    assert vllm.render(messages, "ignored") == [1, 2, 3]
    assert vllm.render(None, "plain text") == [1, 2, 3]
    assert server.bodies("/tokenize") == [
        {"model": "demo-tiny", "messages": messages, "add_generation_prompt": True},
        {"model": "demo-tiny", "prompt": "plain text", "add_special_tokens": True},
    ]


def _completions(body):
    """vLLM's batched answer: one choice per prompt, not in prompt order, tokens as `token_id:N`."""
    choices = [
        {
            "index": i,
            "text": f"text {i}",
            "logprobs": {
                "tokens": [f"token_id:{t + 100}" for t in prompt],
                "token_logprobs": [-0.5] * len(prompt),
            },
        }
        for i, prompt in enumerate(body["prompt"])
    ]
    return 200, {"choices": choices[::-1]}


def test_vllm_greedy_continues_every_prompt_in_one_request_at_neutral_sampling(server):
    server.answers["/v1/completions"] = _completions
    steps = Vllm(server.url, "demo-tiny").greedy([[1, 2], [3]], count=4)
    assert steps == [Step([101, 102], [-0.5, -0.5]), Step([103], [-0.5])]  # back in prompt order
    (body,) = server.bodies("/v1/completions")
    assert body["prompt"] == [[1, 2], [3]] and body["model"] == "demo-tiny" and body["max_tokens"] == 4
    assert body["temperature"] == 0.0 and body["ignore_eos"] is True
    assert body["logprobs"] == 1 and body["return_tokens_as_token_ids"] is True
    assert {k: body[k] for k in NEUTRAL_VLLM if k != "temperature"} == {
        k: v for k, v in NEUTRAL_VLLM.items() if k != "temperature"
    }  # no sampling parameter left to a server default


def test_vllm_sampling_sends_exactly_the_parameters_given_or_none_at_all(server):
    server.answers["/v1/completions"] = _completions
    vllm = Vllm(server.url, "demo-tiny")
    assert vllm.sample([[1], [2]], 8, seed=1, params=None) == ["text 0", "text 1"]
    vllm.sample([[1]], 8, seed=1, params={"temperature": 0.7})
    bare, pinned = server.bodies("/v1/completions")
    assert bare == {
        "model": "demo-tiny",
        "prompt": [[1], [2]],
        "max_tokens": 8,
        "seed": 1,
        "ignore_eos": True,
    }
    assert pinned["temperature"] == 0.7 and "logprobs" not in pinned


def test_llama_cpp_tokenizes_detokenizes_and_continues_text_greedily(server):
    server.answer("/extras/tokenize", {"tokens": [5, 6]})
    server.answer("/extras/detokenize", {"text": "hi"})
    server.answer(
        "/v1/completions",
        {
            "choices": [
                {"finish_reason": "stop", "logprobs": {"tokens": [" a", "."], "token_logprobs": [-1, -2]}}
            ]
        },
    )
    llama = LlamaCpp(server.url, "demo-tiny")
    assert llama.tokenize("hi") == [5, 6] and llama.detokenize([5, 6]) == "hi"
    assert llama.greedy("prompt", 8) == Step([" a", "."], [-1.0, -2.0], stopped=True)  # ended early
    body = server.bodies("/v1/completions")[0]
    assert body["temperature"] == 0.0 and body["repeat_penalty"] == 1.0 and body["max_tokens"] == 8
    assert server.bodies("/extras/tokenize") == [{"model": "demo-tiny", "input": "hi"}]
    assert server.bodies("/extras/detokenize") == [{"model": "demo-tiny", "tokens": [5, 6]}]


def test_llama_cpp_chat_first_step_is_the_prompt_length_first_token_and_logprob(server):
    answer = {
        "usage": {"prompt_tokens": "17"},
        "choices": [{"logprobs": {"content": [{"token": "Hello", "logprob": -0.25}]}}],
    }
    server.answer("/v1/chat/completions", answer)
    messages = [{"role": "user", "content": "hi"}]
    assert LlamaCpp(server.url, "demo-tiny").chat_first_step(messages) == (17, "Hello", -0.25)
    (body,) = server.bodies("/v1/chat/completions")
    assert body["messages"] == messages and body["max_tokens"] == 1 and body["top_logprobs"] == 1


def test_a_redirect_is_refused_and_the_key_never_reaches_the_other_host(server, monkeypatch):
    """urllib forwards the Authorization header on a redirect, to any host."""
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    with scripted_server() as elsewhere:
        elsewhere.answer("/v1/models", {"data": [{"id": "demo-tiny"}]})
        server.answer("/v1/models", {}, status=302)
        server.headers["Location"] = elsewhere.url + "/v1/models"
        with pytest.raises(CannotTell, match=r"redirects \(HTTP 302\) to http://127.0.0.1:\d+/v1/models"):
            Server(server.url, "demo-tiny").models()
        assert elsewhere.requests == []


def test_an_answer_over_the_byte_cap_is_refused(server, monkeypatch):
    monkeypatch.setattr(endpoints, "MAX_ANSWER_BYTES", 1024)
    server.answer("/v1/models", {"data": [{"id": "x" * 2000}]})
    with pytest.raises(CannotTell, match=r"the answer exceeds 0 MiB"):
        Server(server.url, "demo-tiny").models()


def test_an_answer_that_trickles_in_meets_the_deadline(server, monkeypatch):
    """A byte every 0.2 s never trips the socket's timeout: the whole answer has a deadline."""
    monkeypatch.setattr(endpoints, "DEADLINE_S", 0.5)
    server.answer("/v1/models", {"data": [{"id": "demo-tiny"}]})
    server.trickle_s = 0.2
    with pytest.raises(CannotTell, match=r"the answer took over 0.5 s"):
        Server(server.url, "demo-tiny").models()
