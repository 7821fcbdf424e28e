"""`evalpin check-server`: does a live server serve the pinned delivery? Asked, never assumed.

Four parts, each against what models/NAME.golden.json recorded from the verified delivery (probes.py):
identity (served name, context length), tokenizer and chat template (the golden conversations as the server
renders them), weights (greedy probe continuations and their log-probabilities, within a tolerance measured
per server kind and dtype: docs/servers.md) and generation defaults (a request with no sampling parameter
must sample exactly as one that sets the pinned defaults explicitly, same seed). Exit 0: every part matched;
1: a part differs, each named with expected and actual; 2: cannot tell (CannotTell), never a pass.
`NAME@vX.Y.Z` reads the references a release pinned from its tag (`git show`), without a checkout.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from evalpin.base import project
from evalpin.base.errors import DriftError, EvalpinError, ExitCode
from evalpin.serving.endpoints import NEUTRAL_VLLM, CannotTell, LlamaCpp, Server, Vllm, connect
from evalpin.serving.serve_args import generation_overrides

# Largest |log-probability difference| accepted on a probe token, per server kind and serving dtype, as
# measured against the in-process float32 references (docs/servers.md); other weights differ far more.
TOLERANCES = {("vllm", "float32"): 1e-3, ("llama-cpp", "Q4_1"): 0.5}  # measured: 1.2e-5, 0.25
SAMPLE_TOKENS, SAMPLE_SEEDS, SAMPLE_PROMPTS = 24, (1,), ("plain-prompt", "user")
SPEC = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(@v\d+\.\d+\.\d+)?")
SERVER_BACKENDS = {"local-completions": "vllm", "gguf": "llama-cpp"}  # conf/backend name -> server kind


@dataclass(frozen=True)
class References:
    name: str
    source: str  # where they were read: models/NAME.golden.json, or TAG:models/NAME.golden.json
    sha256: str
    golden: dict
    server: dict
    dtype: str  # the serving dtype: conf/inference's, or the GGUF file's quantization
    gen_overrides: dict  # inference.gen_kwargs as vLLM generation-config keys (serve-args passes them)


@dataclass(frozen=True)
class Finding:
    part: str
    what: str
    expected: object
    actual: object

    def __str__(self) -> str:
        return f"{self.part}: {self.what}: expected {self.expected}, got {self.actual}"


@dataclass
class Report:
    kind: str
    tolerance: float
    references: References
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.DRIFT if self.findings else ExitCode.OK

    @property
    def checked(self) -> list[str]:
        if self.kind == "vllm":
            return ["identity", "tokenizer/template", "weights", "generation defaults"]
        return ["identity (name)", "tokenizer/template", "weights"]  # what its server lets anyone ask

    def record(self) -> dict:
        """What the fingerprint says about the check (no URL: that is per machine)."""
        return {
            "server": self.kind,
            "checked": self.checked,
            "references": self.references.source,
            "references_sha256": self.references.sha256,
            "tolerance": self.tolerance,
            "result": "served the pinned delivery",
        }


def load_references(root: Path, spec: str) -> References:
    """models/NAME.golden.json of the workspace (NAME) or of a release tag (NAME@vX.Y.Z)."""
    if not SPEC.fullmatch(spec):
        raise EvalpinError(f"check-server {spec}: not NAME or NAME@vX.Y.Z (a release tag); fix the name.")
    name, _, version = spec.partition("@")
    tag = f"{name}@{version}" if version else None
    golden_rel = f"{project.MODELS_DIR}/{name}.golden.json"
    text = _read(root, tag, golden_rel)
    golden = json.loads(text)
    if "server" not in golden:
        raise EvalpinError(
            f"{golden_rel}: field server is missing (recorded before check-server existed); re-record it "
            f"with `evalpin golden {name} --accept` and commit it."
        )
    params = yaml.safe_load(_read(root, tag, "params.yaml")) or {}
    lock = json.loads(_read(root, tag, f"{project.MODELS_DIR}/{name}.lock.json"))
    return References(
        name=name,
        source=f"{tag}:{golden_rel}" if tag else golden_rel,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        golden=golden,
        server=golden["server"],
        dtype=serving_dtype(lock, params),
        gen_overrides=_gen_overrides(params),
    )


def _read(root: Path, tag: str | None, rel: str) -> str:
    """The file's text, in the workspace or at a release tag; EvalpinError naming it when it is absent or
    not UTF-8."""
    if tag is None:
        path = root / rel
        if not path.is_file():
            raise EvalpinError(f"{rel}: not found; pin the model first (`evalpin pin ... --name NAME`).")
        data = path.read_bytes()
    else:
        data, reason = project.git_show(root, tag, rel)
        if data is None:
            raise EvalpinError(f"{tag}:{rel}: not in the release ({reason}); check the tag (`git tag -l`).")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"{tag}:{rel}" if tag else rel
        raise EvalpinError(
            f"{where}: not UTF-8 (byte {exc.start}); restore it (`git checkout {tag or 'HEAD'} -- {rel}`)."
        ) from None


def serving_dtype(lock: dict, params: dict) -> str:
    """A GGUF is served at its own quantization; anything else at conf/inference's dtype."""
    gguf = lock.get("gguf") or {}
    if gguf:
        return str(next(iter(gguf.values()))["file_type"])
    return str((params.get("inference") or {}).get("dtype", "float32"))


def _gen_overrides(params: dict) -> dict:
    """The --override-generation-config serve-args derives from inference.gen_kwargs, less max_new_tokens
    (the check always sets max_tokens)."""

    overrides = generation_overrides((params.get("inference") or {}).get("gen_kwargs") or {})
    return {key: value for key, value in overrides.items() if key != "max_new_tokens"}


def check_server(refs: References, url: str, kind: str | None, tolerance: float | None = None) -> Report:
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance > 0):  # before any request
        raise EvalpinError(
            f"--tolerance {tolerance}: give a finite number > 0 (a NaN or infinite tolerance would pass any "
            "log-probability), or leave it out for the measured one (docs/servers.md)."
        )
    server = connect(url, refs.name, kind)
    tolerance = tolerance if tolerance is not None else TOLERANCES.get((server.kind, refs.dtype))
    if tolerance is None:
        raise CannotTell(
            f"{refs.source}: no measured tolerance for a {server.kind} server at dtype {refs.dtype} "
            f"(measured: {sorted(TOLERANCES)}); measure one, then pass --tolerance or set "
            "backend.server_tolerance (docs/servers.md)."
        )
    report = Report(server.kind, tolerance, refs)
    try:
        check_served_identity(server, refs, report)
        if isinstance(server, Vllm):
            check_vllm(server, refs, report)
        else:
            check_llama_cpp(server, refs, report)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
        raise CannotTell(
            f"{url}: an answer lacks what check-server reads ({type(exc).__name__}: {exc}); start the server "
            f"as `evalpin serve-args {refs.name}` prints it (llama.cpp needs --logits_all true)."
        ) from exc
    return report


def check_served_identity(server: Server, refs: References, report: Report) -> None:
    """What the server says it serves: the pinned model's name and (vLLM) its context length."""
    served = [m.get("id") for m in server.models()]
    if refs.name not in served:
        report.findings.append(Finding("identity", "served model name", refs.name, served))
        server.name = str(served[0])  # ask the rest of the questions of what it does serve
    expected = refs.server.get("context_length")
    if isinstance(server, Vllm):
        actual = server.context_length()
        if expected and actual != expected:
            report.findings.append(Finding("identity", "context length (max_model_len)", expected, actual))
    else:
        report.notes.append("identity: llama-cpp-python's server does not report its context length")


def check_vllm(server: Vllm, refs: References, report: Report) -> None:
    golden = refs.golden
    for key, expected in sorted(golden["token_ids"].items()):
        actual = server.render(golden["conversations"].get(key), golden["plain_prompt"])
        if actual != expected:
            report.findings.append(token_finding("tokenizer/template", key, expected, actual))
    probes = sorted(refs.server["probes"].items())
    steps = server.greedy([golden["token_ids"][key] for key, _ in probes], refs.server["probe_tokens"])
    for (key, probe), step in zip(probes, steps, strict=True):
        compare_steps(key, probe, step.tokens, step.logprobs, report)
    check_generation_defaults(server, refs, report)


def check_generation_defaults(server: Vllm, refs: References, report: Report) -> None:
    """Same seed, same prompt: no sampling parameter vs the pinned defaults set explicitly. Equal outputs
    on every probe, or the server adds defaults of its own (another generation config)."""
    pinned = {**refs.server.get("sampling_defaults", {}), **refs.gen_overrides}
    keys = [key for key in SAMPLE_PROMPTS if key in refs.golden["token_ids"]]
    prompts = [refs.golden["token_ids"][key] for key in keys]
    for seed in SAMPLE_SEEDS:
        bare = server.sample(prompts, SAMPLE_TOKENS, seed, None)
        wanted = server.sample(prompts, SAMPLE_TOKENS, seed, {**NEUTRAL_VLLM, **pinned})
        for key, got, expected in zip(keys, bare, wanted, strict=True):
            if got != expected:
                what = f"{key}, seed {seed}, no sampling parameter (pinned defaults {pinned or 'none'})"
                report.findings.append(Finding("generation defaults", what, repr(expected), repr(got)))
                return


def check_llama_cpp(server: LlamaCpp, refs: References, report: Report) -> None:
    """No endpoint returns the rendered template: the plain prompt is tokenized, each golden rendering
    round-trips through the server's tokenizer, and the server's own rendering of each conversation is
    judged by its length and the first greedy token's log-probability (a function of every prompt token;
    by its length alone when the weights already differ)."""
    golden, probes = refs.golden, refs.server["probes"]
    plain = server.tokenize(golden["plain_prompt"])
    if plain != golden["token_ids"]["plain-prompt"]:
        report.findings.append(
            token_finding("tokenizer/template", "plain-prompt", golden["token_ids"]["plain-prompt"], plain)
        )
    texts = refs.server["prompt_texts"]  # its /extras/detokenize drops special tokens
    for key, ids in sorted(golden["token_ids"].items()):
        if (again := server.tokenize(texts[key])) != ids:
            report.findings.append(token_finding("tokenizer/template", f"{key} (round trip)", ids, again))
    for key, probe in sorted(probes.items()):
        step = server.greedy(texts[key], len(probe["tokens"]))
        expected = [server.detokenize([t]) for t in probe["tokens"]]  # a special token reads as ""
        ended = step.stopped and expected[len(step.tokens) : len(step.tokens) + 1] == [""]
        compare_steps(key, {**probe, "tokens": expected}, step.tokens, step.logprobs, report, ended)
    weights_differ = any(f.part == "weights" for f in report.findings)
    for key, messages in sorted(golden["conversations"].items()):
        if messages is not None and key in golden["token_ids"]:
            ids = golden["token_ids"][key]
            check_chat_rendering(server, key, ids, probes[key], messages, report, weights_differ)
    report.notes.append(
        "generation defaults: llama-cpp-python's server applies its own fixed request defaults; a GGUF "
        "delivery pins none (lm-eval's gguf backend sends its sampling parameters with every request)"
    )


def check_chat_rendering(
    server: LlamaCpp, key: str, ids: list[int], probe: dict, messages: list, report: Report, length_only: bool
) -> None:
    length, token, logprob = server.chat_first_step(messages)
    if length_only or (probe.get("margins") or [float("inf")])[0] <= report.tolerance:  # or a near tie
        expected, actual = len(ids), length
        what = f"{key} as the server's chat template renders it (prompt tokens only: other weights or a tie)"
    else:
        expected = (len(ids), server.detokenize(probe["tokens"][:1]), probe["logprobs"][0])
        actual = (length, token, round(logprob, 6))
        what = f"{key} as the server's chat template renders it (prompt tokens, first token, logprob)"
        if length == expected[0] and token == expected[1] and abs(logprob - expected[2]) <= report.tolerance:
            return
    if expected != actual:
        report.findings.append(Finding("tokenizer/template", what, expected, actual))


def compare_steps(
    key: str, probe: dict, tokens: list, logprobs: list[float], report: Report, ended: bool = False
) -> None:
    """Greedy tokens equal and log-probabilities within the tolerance, up to the first step where the
    reference's runner-up was within the tolerance: a near tie another kernel may break the other way
    (the continuations part there, and nothing after it is comparable). Fewer tokens than that are a
    finding unless `ended`: the server stopped at an end-of-sequence token where the reference has one
    (llama.cpp stops there; vLLM is asked to ignore it)."""
    expected = probe["tokens"]
    margins = probe.get("margins") or [float("inf")] * len(expected)
    tie = next((i for i, m in enumerate(margins) if m <= report.tolerance), len(expected) - 1)
    compared = min(len(tokens), tie + 1)
    for i in range(compared):
        if tokens[i] != expected[i] and i == tie:
            compared = i  # the near tie went the other way: compare what came before it
        elif tokens[i] != expected[i]:
            what = f"probe {key}: greedy tokens (first difference at step {i})"
            report.findings.append(Finding("weights", what, expected, tokens))
            return
    if not tokens or (len(tokens) < tie + 1 and not ended):
        what = f"probe {key}: greedy tokens ({len(tokens)} returned of the {len(expected)} asked for)"
        report.findings.append(Finding("weights", what, expected, tokens))
        return
    drift = max((abs(logprobs[i] - probe["logprobs"][i]) for i in range(compared)), default=0.0)
    if any(not math.isfinite(x) for x in logprobs[:compared]) or drift > report.tolerance:
        report.findings.append(
            Finding(
                "weights",
                f"probe {key}: log-probabilities (largest difference {drift:.2e} > {report.tolerance:g})",
                probe["logprobs"][:compared],
                [round(x, 6) for x in logprobs[:compared]],
            )
        )


def token_finding(part: str, key: str, expected: list[int], actual: list[int]) -> Finding:
    at = next((i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b), None)
    at = min(len(expected), len(actual)) if at is None else at
    window = slice(max(0, at - 2), at + 4)
    what = f"{key}: first difference at token {at} ({len(expected)} vs {len(actual)} tokens)"
    return Finding(part, what, expected[window], actual[window])


def server_root(base_url: str) -> str:
    """conf/backend's base_url (vLLM: .../v1/completions; gguf: the root) as the server's root."""
    url = base_url.rstrip("/")
    for suffix in ("/v1/completions", "/v1"):
        url = url.removesuffix(suffix)
    return url


def check_before_evaluation(root: Path, name: str, backend: dict) -> dict | None:
    """Before a server-backed evaluation: the same check, fail-closed; what the fingerprint records."""
    kind = SERVER_BACKENDS.get(str(backend.get("name")))
    if kind is None:
        return None
    url = server_root(str((backend.get("model_args") or {}).get("base_url", "")))
    report = check_server(load_references(root, name), url, kind, backend.get("server_tolerance"))
    if report.findings:
        raise DriftError(
            f"{url} does not serve models/{name} (refusing to score it): "
            + "; ".join(map(str, report.findings))
            + f". Serve the pinned delivery (`evalpin serve-args {name}`), then `evalpin check-server {name} "
            f"--url {url}`."
        )
    return report.record()
