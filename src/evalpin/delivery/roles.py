"""What each file of a delivery is (its role), and the safety policy the roles decide: pickle weights and
remote code in a model, loading scripts in a dataset, are refused unless the user opted in."""

from __future__ import annotations

import fnmatch
from pathlib import PurePosixPath

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
