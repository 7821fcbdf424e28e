"""What a running server says about itself, over HTTP (urllib + json: no torch, no model load).

Two servers, the two evalpin starts with `evalpin serve-args`: vLLM (OpenAI-compatible, plus /tokenize with
`messages`, token-ID prompts and `return_tokens_as_token_ids`) and llama-cpp-python's server (OpenAI-
compatible, plus /extras/tokenize and /extras/detokenize; it has no endpoint that returns a rendered chat
template, and its /v1/completions takes text prompts only). Every answer the check needs is one method
here; a failure to get one is CannotTell (exit 2), never a pass.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from evalpin.base.errors import EvalpinError, ExitCode

TOKEN_ENV = "EVALPIN_SERVER_TOKEN"  # the endpoint's API key (sent as a Bearer token), never in git
TIMEOUT_S = 60  # each socket operation
DEADLINE_S = 600  # a whole answer, however slowly it trickles in
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # the largest answer read: token lists and probe logprobs are KiBs
# Every sampling parameter at its neutral value: a request that sets them all leaves no server default.
NEUTRAL_VLLM = {
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": 0,
    "min_p": 0.0,
    "repetition_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}
GREEDY_LLAMA_CPP = {
    "temperature": 0.0,
    "top_p": 1.0,
    "top_k": 0,
    "min_p": 0.0,
    "repeat_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}


class CannotTell(EvalpinError):
    """The server could not be asked (unreachable, an API missing, auth refused): exit 2, never a pass."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Step:
    """Greedy tokens a server generated, with each one's log-probability; `stopped` when it ended early."""

    tokens: list
    logprobs: list[float]
    stopped: bool = False


class Server:
    def __init__(self, url: str, name: str):
        self.url, self.name = url.rstrip("/"), name
        self.token = os.environ.get(TOKEN_ENV)

    def call(self, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        try:
            with OPENER.open(request, timeout=TIMEOUT_S) as response:
                return json.loads(read_bounded(response, self.url + path))
        except urllib.error.HTTPError as exc:
            raise CannotTell(http_problem(self.url + path, exc)) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CannotTell(
                f"{self.url}: unreachable ({reason}); start the server or fix --url (its root, no /v1)."
            ) from exc
        except ValueError as exc:
            raise CannotTell(f"{self.url + path}: the answer is not JSON; is --url an LLM server?") from exc

    def models(self) -> list[dict]:
        data = self.call("/v1/models").get("data")
        if not isinstance(data, list) or not data:
            raise CannotTell(f"{self.url}/v1/models: lists no model; is --url the server's root?")
        return data


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is refused, not followed: urllib would send the endpoint's key (the Authorization
    header) along to wherever the server points, another host included."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise CannotTell(
            f"{req.full_url}: the server redirects (HTTP {code}) to {newurl}; evalpin follows no redirect, "
            "so that the endpoint's key never goes elsewhere. Give --url the address it redirects to."
        )


OPENER = urllib.request.build_opener(NoRedirect)


def read_bounded(response: object, where: str) -> bytes:
    """The answer's bytes, refused past MAX_ANSWER_BYTES or DEADLINE_S (read1: one receive at a time, so
    a server that trickles a byte a second is caught by the deadline, not only the socket's timeout)."""
    deadline, chunks, size = time.monotonic() + DEADLINE_S, [], 0
    while chunk := response.read1(65536):  # type: ignore[attr-defined]
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise CannotTell(
                f"{where}: the answer exceeds {MAX_ANSWER_BYTES // 2**20} MiB; is --url an LLM server?"
            )
        if time.monotonic() > deadline:
            raise CannotTell(
                f"{where}: the answer took over {DEADLINE_S} s; the server is stalling, try again."
            )
        chunks.append(chunk)
    return b"".join(chunks)


def http_problem(where: str, exc: urllib.error.HTTPError) -> str:
    if exc.code in (401, 403):
        return f"{where}: HTTP {exc.code}, auth refused; export {TOKEN_ENV} with the endpoint's API key."
    if exc.code in (404, 405):
        return (
            f"{where}: HTTP {exc.code}, the server has no such API; check-server needs it "
            "(pass the right --kind, vllm or llama-cpp: docs/servers.md)."
        )
    detail = exc.read()[:300].decode(errors="replace").replace("\n", " ")
    return f"{where}: HTTP {exc.code} ({detail}); fix the server, then rerun."


class Vllm(Server):
    kind = "vllm"

    def context_length(self) -> int | None:
        entry = next((m for m in self.models() if m.get("id") == self.name), {})
        return entry.get("max_model_len")

    def render(self, messages: list | None, text: str) -> list[int]:
        """The token IDs the server's own tokenizer and chat template make of a conversation (or text)."""
        body = {"model": self.name, "prompt": text, "add_special_tokens": True}
        if messages is not None:
            body = {"model": self.name, "messages": messages, "add_generation_prompt": True}
        return list(self.call("/tokenize", body)["tokens"])

    def greedy(self, prompts: list[list[int]], count: int) -> list[Step]:
        """Each prompt (token IDs) continued greedily, in one batched request."""
        body = {**NEUTRAL_VLLM, "temperature": 0.0, "ignore_eos": True, "max_tokens": count}
        steps = []
        for choice in self.complete(prompts, body, logprobs=1):
            logprobs = choice["logprobs"]
            tokens = [int(t.removeprefix("token_id:")) for t in logprobs["tokens"]]
            steps.append(Step(tokens, [float(x) for x in logprobs["token_logprobs"]]))
        return steps

    def sample(self, prompts: list[list[int]], count: int, seed: int, params: dict | None) -> list[str]:
        """What the server samples with `params` (None: no sampling parameter at all, its defaults)."""
        body = {"max_tokens": count, "seed": seed, "ignore_eos": True, **(params or {})}
        return [choice["text"] for choice in self.complete(prompts, body)]

    def complete(self, prompts: list[list[int]], body: dict, logprobs: int | None = None) -> list[dict]:
        body = {"model": self.name, "prompt": prompts, **body}
        if logprobs is not None:
            body.update(logprobs=logprobs, return_tokens_as_token_ids=True)
        choices = self.call("/v1/completions", body)["choices"]
        return sorted(choices, key=lambda c: c["index"])


class LlamaCpp(Server):
    kind = "llama-cpp"

    def tokenize(self, text: str) -> list[int]:
        return list(self.call("/extras/tokenize", {"model": self.name, "input": text})["tokens"])

    def detokenize(self, tokens: list[int]) -> str:
        return self.call("/extras/detokenize", {"model": self.name, "tokens": tokens})["text"]

    def greedy(self, text: str, count: int) -> Step:
        body = {"model": self.name, "prompt": text, "max_tokens": count, "logprobs": 1, **GREEDY_LLAMA_CPP}
        choice = self.call("/v1/completions", body)["choices"][0]
        logprobs = choice["logprobs"]
        return Step(
            list(logprobs["tokens"]),
            [float(x) for x in logprobs["token_logprobs"]],
            stopped=choice.get("finish_reason") == "stop",
        )

    def chat_first_step(self, messages: list) -> tuple[int, str, float]:
        """Prompt length, first greedy token and its log-probability of a conversation rendered by the
        server's own chat template: the only view llama-cpp-python's server gives of that template."""
        body = {"model": self.name, "messages": messages, "max_tokens": 1, "logprobs": True}
        answer = self.call("/v1/chat/completions", {**body, "top_logprobs": 1, **GREEDY_LLAMA_CPP})
        first = answer["choices"][0]["logprobs"]["content"][0]
        return int(answer["usage"]["prompt_tokens"]), first["token"], float(first["logprob"])


KINDS = {"vllm": Vllm, "llama-cpp": LlamaCpp}
OWNERS = {"vllm": "vllm", "me": "llama-cpp"}  # /v1/models' owned_by, as each server answers it


def connect(url: str, name: str, kind: str | None) -> Server:
    """The server at url as its kind: named, or told by /v1/models' owned_by."""
    if kind is None:
        owners = {m.get("owned_by") for m in Server(url, name).models()}
        kinds = {OWNERS[o] for o in owners if o in OWNERS}
        if len(kinds) != 1:
            raise CannotTell(
                f"{url}/v1/models: owned_by {sorted(map(str, owners))} does not say which server this is; "
                "pass --kind vllm or --kind llama-cpp."
            )
        kind = kinds.pop()
    return KINDS[kind](url, name)
