"""What each file of a delivery is (its role), and the safety policy the roles decide: pickle weights and
remote code in a model, loading scripts in a dataset, are refused unless the user opted in."""

from __future__ import annotations

import fnmatch
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from evalpin.errors import EvalpinError

if TYPE_CHECKING:
    from evalpin.lock import Lock

DATASET = "dataset"  # Lock.kind of a pinned dataset (its files take DATA_ROLES); unset for a model
ROLES = (
    "weights",
    "tokenizer",
    "chat_template",
    "generation_config",
    "model_config",
    "quantization",
    "remote_code",
    "other",
    "data",
    "card",
    "loading_script",
)
DATA_ROLES = ROLES[-3:]
# A dataset's files: loading scripts are remote code, the card and metadata describe, the rest is data.
DATA_ROLE_PATTERNS = (
    ("loading_script", ("*.py",)),
    ("card", ("README.md", "*.json", ".gitattributes", "*.md")),
)
# First match wins; patterns are matched against the file's name (not its folder).
ROLE_PATTERNS = (
    ("generation_config", ("generation_config.json",)),
    ("model_config", ("config.json", "adapter_config.json")),
    ("chat_template", ("chat_template.jinja", "chat_template.json", "*.jinja")),
    (
        "quantization",
        ("quantize_config.json", "quant_config.json", "quantization_config.json", "*.imatrix", "hqq_*"),
    ),
    (
        "tokenizer",
        (
            "tokenizer.json",
            "tokenizer_config.json",
            "tokenizer.model",
            "special_tokens_map.json",
            "added_tokens.json",
            "vocab.json",
            "vocab.txt",
            "merges.txt",
            "spiece.model",
            "*.tiktoken",
        ),
    ),
    (
        "weights",
        (
            "*.safetensors",
            "*.safetensors.index.json",
            "*.bin",
            "*.bin.index.json",
            "*.pt",
            "*.pth",
            "*.pkl",
            "*.ckpt",
            "*.gguf",
            "*.onnx",
            "*.msgpack",
            "*.h5",
        ),
    ),
    ("remote_code", ("*.py",)),
)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def role_of(path: str, kind: str | None = None) -> str:
    name = PurePosixPath(path).name
    dataset = kind == DATASET
    for role, patterns in DATA_ROLE_PATTERNS if dataset else ROLE_PATTERNS:
        if any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
            return role
    return "data" if dataset else "other"


def is_pickle(path: str) -> bool:
    return path.endswith(PICKLE_SUFFIXES)


def check_safety(lock: Lock, allow_pickle: bool, trust_remote_code: bool, where: str) -> None:
    """Pickle weights and remote code can run code when loaded: refused unless the user opted in."""
    if (pickles := [f.path for f in lock.files if is_pickle(f.path)]) and not allow_pickle:
        raise EvalpinError(
            f"{where}: pickle weights {pickles} can run code when loaded. Prefer a safetensors revision; "
            "if you must, set `allow_pickle: true` in conf/model/NAME.yaml (pin with --allow-pickle)."
        )
    if (code := files_of_role(lock, "remote_code")) and not trust_remote_code:
        raise EvalpinError(
            f"{where}: the delivery carries remote code {code}, which transformers would execute. "
            "Review it, then pin with --trust-remote-code "
            "(sets `trust_remote_code: true`; every .py is locked)."
        )


def check_data_safety(lock: Lock, trust_loading_script: bool, where: str) -> None:
    """A dataset loading script (*.py) is remote code that `datasets` would run: refused unless trusted."""
    if (scripts := files_of_role(lock, "loading_script")) and not trust_loading_script:
        raise EvalpinError(
            f"{where}: the dataset carries loading script(s) {scripts}, code that `datasets` would run. "
            "Prefer a revision with parquet data (the Hub's `refs/convert/parquet`); if you reviewed the "
            "script, pin with `evalpin pin-data ... --trust-loading-script` (sets `trust_loading_script: "
            "true` in conf/data/NAME.yaml; every .py is locked)."
        )


def files_of_role(lock: Lock, role: str) -> list[str]:
    return [f.path for f in lock.files if f.role == role]
