"""Prompt-rendering golden check: fixed conversations rendered to token IDs through the pinned tokenizer.

A file-hash lock says *that* the tokenizer or template changed; this says *what the model now sees*.
models/NAME.golden.json is written once, at the first pin, and `evalpin pin` never overwrites it: after a
re-pin (or a transformers upgrade) verify re-renders and fails on double BOS, a lost generation prompt or
new delimiters until someone looks and accepts the new rendering with `evalpin golden NAME --accept`.

Rendering needs transformers, whose import (torch included) costs seconds and hundreds of MB on every
verify. A rendering is a pure function of the delivery's files, the conversations, and the libraries that
render, so after a successful check `verify` records those inputs (.evalpin/golden/NAME.json) and skips
rendering while they are provably the same: every file of the delivery just verified against the same
lock digest, the golden file's sha256, the conversations, and the versions of transformers, tokenizers
and jinja2. Any difference renders again; `verify --full` and `evalpin golden` always render.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from evalpin.base import numerics, project
from evalpin.base.atomic import write_atomic
from evalpin.base.errors import EvalpinError
from evalpin.base.runtime import package_version
from evalpin.base.time_limit import time_limit
from evalpin.delivery.gguf_file import evaluated_file
from evalpin.delivery.inventory import list_delivery
from evalpin.delivery.probes import record_probes, reference_inference

CONVERSATIONS = {
    "plain-prompt": None,  # no chat template: the raw encoding, special tokens included (BOS handling)
    "user": [{"role": "user", "content": "What color is the zorb?"}],
    "system-user": [
        {"role": "system", "content": "Answer with one word."},
        {"role": "user", "content": "Where does the plink live?"},
    ],
    "multi-turn": [
        {"role": "user", "content": "What does the wug eat?"},
        {"role": "assistant", "content": "seeds"},
        {"role": "user", "content": "And the dax?"},
    ],
}
PLAIN_PROMPT = "Question: What color is the zorb?\nAnswer:"
RENDERING_LIBRARIES = ("transformers", "tokenizers", "jinja2")
RENDER_LIMIT_S = 10.0  # one conversation renders in milliseconds; a template that loops never ends


@dataclass(frozen=True)
class Mismatch:
    name: str
    expected: list[int]
    actual: list[int]

    def explain(self, decode) -> str:
        at = next(
            (i for i, (a, b) in enumerate(zip(self.expected, self.actual, strict=False)) if a != b), None
        )
        at = min(len(self.expected), len(self.actual)) if at is None else at
        window = slice(max(0, at - 2), at + 4)
        return (
            f"{self.name}: first difference at token {at} "
            f"(expected {len(self.expected)} tokens, got {len(self.actual)})\n"
            f"    expected ...{decode(self.expected[window])!r}...\n"
            f"    actual   ...{decode(self.actual[window])!r}..."
        )


def golden_path(root: Path, name: str) -> Path:
    return root / project.MODELS_DIR / f"{name}.golden.json"


def render_all(model_dir: Path) -> tuple[dict[str, list[int]], object]:
    """Token IDs of every golden conversation, and the tokenizer (for decoding differences)."""
    from transformers import AutoTokenizer

    gguf_file = evaluated_file(list_delivery(model_dir))  # rendered through the GGUF's own tokenizer
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False, **extra)
    rendered = {}
    for name, messages in CONVERSATIONS.items():
        if messages is None:
            rendered[name] = list(tokenizer(PLAIN_PROMPT)["input_ids"])
        elif tokenizer.chat_template is not None:
            with time_limit(
                RENDER_LIMIT_S,
                f"{model_dir}: the delivery's chat template, rendering the golden conversation {name!r},",
                "Nothing was evaluated. Fix the template (tokenizer_config.json's chat_template or "
                "chat_template.jinja) upstream and re-pin, or pin a revision whose template works.",
            ):
                ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
            rendered[name] = list(ids["input_ids"] if hasattr(ids, "keys") else ids)  # BatchEncoding in 5.x
    return rendered, tokenizer


def write_golden(root: Path, name: str, model_dir: Path | None = None) -> Path:
    """The golden renderings and, from the same delivery, the references `check-server` compares a live
    server with (probes.py): recorded, and re-recorded, together."""

    model_dir = model_dir or project.model_dir(root, name)
    if "torch" not in sys.modules:  # the references' numerics, before the tokenizer imports torch
        numerics.apply(reference_inference(model_dir, "portable"))
    rendered, tokenizer = render_all(model_dir)
    path = golden_path(root, name)
    body = {"conversations": CONVERSATIONS, "plain_prompt": PLAIN_PROMPT, "token_ids": rendered}
    texts = {key: tokenizer.decode(ids, skip_special_tokens=False) for key, ids in rendered.items()}
    body["server"] = record_probes(model_dir, name, rendered, texts)
    write_atomic(path, json.dumps(body, indent=1, sort_keys=True) + "\n")
    return path


def rendering_inputs(root: Path, name: str, lock_digest: str) -> dict:
    """Everything a golden check's outcome depends on, given that models/NAME verified against the lock
    whose digest this is."""
    spec = json.dumps({"conversations": CONVERSATIONS, "plain_prompt": PLAIN_PROMPT}, sort_keys=True)
    return {
        "lock_digest": lock_digest,
        "golden_sha256": hashlib.sha256(golden_path(root, name).read_bytes()).hexdigest(),
        "conversations_sha256": hashlib.sha256(spec.encode()).hexdigest(),
        "libraries": {package: package_version(package) for package in RENDERING_LIBRARIES},
    }


def check_golden_of_verified(root: Path, name: str, lock_digest: str, reuse: bool = True) -> list[str]:
    """check_golden for a delivery that has just verified against its lock: skipped (no transformers
    import) when the last successful check had exactly the same inputs."""
    if not golden_path(root, name).is_file():
        return check_golden(root, name)  # the error that says how to record them
    if reuse and _read_record(_record_path(root, name)) == rendering_inputs(root, name, lock_digest):
        return []
    problems = check_golden(root, name)
    if not problems:
        remember_rendering(root, name, lock_digest)
    return problems


def remember_rendering(root: Path, name: str, lock_digest: str) -> None:
    """Record that the delivery locked under this digest renders to models/NAME.golden.json."""
    inputs = rendering_inputs(root, name, lock_digest)
    write_atomic(_record_path(root, name), json.dumps(inputs, indent=1, sort_keys=True) + "\n")


def _record_path(root: Path, name: str) -> Path:
    return root / project.STATE_DIR / "golden" / f"{name}.json"


def check_golden(root: Path, name: str) -> list[str]:
    """Empty when the pinned files render every golden conversation to the recorded token IDs."""
    path = golden_path(root, name)
    if not path.is_file():
        raise EvalpinError(
            f"{path}: no golden renderings. Record them with `evalpin golden {name} --accept`."
        )
    try:
        recorded = json.loads(path.read_text())["token_ids"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise EvalpinError(
            f"{path}: unreadable ({exc}); re-record with `evalpin golden {name} --accept`."
        ) from exc
    rendered, tokenizer = render_all(project.model_dir(root, name))
    problems = []
    for conversation in sorted(set(recorded) | set(rendered)):
        expected, actual = recorded.get(conversation), rendered.get(conversation)
        if expected is None or actual is None:
            state = "no longer renders (chat template removed?)" if actual is None else "is new"
            problems.append(f"{conversation}: {state}")
        elif expected != actual:
            problems.append(Mismatch(conversation, expected, actual).explain(tokenizer.decode))
    return problems


def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # no record, or a broken one: render
