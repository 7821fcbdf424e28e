"""Prompt-rendering golden check: fixed conversations rendered to token IDs through the pinned tokenizer.

A file-hash lock says *that* the tokenizer or template changed; this says *what the model now sees*.
models/NAME.golden.json is written once, at the first pin, and `evalpin pin` never overwrites it: after a
re-pin (or a transformers upgrade) verify re-renders and fails on double BOS, a lost generation prompt or
new delimiters until someone looks and accepts the new rendering with `evalpin golden NAME --accept`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from evalpin import project
from evalpin.atomic import write_atomic
from evalpin.errors import EvalpinError

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

    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    rendered = {}
    for name, messages in CONVERSATIONS.items():
        if messages is None:
            rendered[name] = list(tokenizer(PLAIN_PROMPT)["input_ids"])
        elif tokenizer.chat_template is not None:
            ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
            rendered[name] = list(ids["input_ids"] if hasattr(ids, "keys") else ids)  # BatchEncoding in 5.x
    return rendered, tokenizer


def write_golden(root: Path, name: str, model_dir: Path | None = None) -> Path:
    rendered, _ = render_all(model_dir or project.model_dir(root, name))
    path = golden_path(root, name)
    body = {"conversations": CONVERSATIONS, "plain_prompt": PLAIN_PROMPT, "token_ids": rendered}
    write_atomic(path, json.dumps(body, indent=1, sort_keys=True) + "\n")
    return path


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
