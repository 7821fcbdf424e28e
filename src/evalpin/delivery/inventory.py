"""Taking stock of a delivery directory: its files (hashed, each with its role), chat templates, model
config and the runtime (base/runtime.py), as a Lock (lock.py holds the schema and reads locks back)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from evalpin.base.errors import EvalpinError
from evalpin.base.hashing import sha256_files
from evalpin.base.runtime import current_runtime
from evalpin.delivery.card import loading_of
from evalpin.delivery.gguf_file import summarize_delivery
from evalpin.delivery.lock import SCHEMA, BaseBinding, Lock, LockedFile, Source, read_json
from evalpin.delivery.roles import DATASET, role_of


def list_delivery(directory: Path) -> list[str]:
    """Relative POSIX paths of every file in a delivery; symlinks are refused (a pinned copy has none).

    os.scandir reads entry types from the directory itself: no stat per file, which matters at 1000s."""
    return sorted(_walk(directory, ""))


def _walk(directory: Path | str, prefix: str):
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_symlink():
                raise EvalpinError(
                    f"{entry.path}: symlinks are not allowed in a pinned model directory (they can point "
                    "outside it). Replace it with the file it points to, or re-pin with `evalpin pin`."
                )
            if entry.is_dir():
                yield from _walk(entry.path, f"{prefix}{entry.name}/")
            elif entry.is_file():
                yield f"{prefix}{entry.name}"


def build_lock(
    directory: Path, name: str, source: Source, base: BaseBinding | None = None, kind: str | None = None
) -> Lock:
    paths = list_delivery(directory)
    digests = sha256_files(directory / p for p in paths)
    files = tuple(
        LockedFile(p, (directory / p).stat().st_size, digests[directory / p], role_of(p, kind)) for p in paths
    )
    if kind == DATASET:  # no chat template, model config or GGUF in a dataset; what its card loads
        runtime = current_runtime()
        return Lock(SCHEMA, name, source, files, {}, {}, runtime, kind=kind, loading=loading_of(directory))
    return Lock(
        schema=SCHEMA,
        name=name,
        source=source,
        files=files,
        chat_templates=chat_template_digests(directory),
        model_config=model_config_summary(directory),
        runtime=current_runtime(),
        base=base,
        gguf=summarize_delivery(directory, paths),
    )


def chat_template_digests(directory: Path) -> dict[str, str]:
    """Each chat template the delivery carries, hashed on its own: the file and any embedded copy."""
    found = {}
    for path in sorted(directory.rglob("*.jinja")):
        found[path.relative_to(directory).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    tokenizer_config = directory / "tokenizer_config.json"
    if tokenizer_config.is_file():
        embedded = read_json(tokenizer_config).get("chat_template")
        if embedded is not None:
            text = embedded if isinstance(embedded, str) else json.dumps(embedded, sort_keys=True)
            found["tokenizer_config.json#chat_template"] = hashlib.sha256(text.encode()).hexdigest()
    return found


def model_config_summary(directory: Path) -> dict:
    config_path = directory / "config.json"
    if not config_path.is_file():
        return {}
    config = read_json(config_path)
    return {
        "architectures": config.get("architectures"),
        "model_type": config.get("model_type"),
        "dtype": config.get("dtype", config.get("torch_dtype")),
        "quantization_config": config.get("quantization_config"),
    }


def max_positions(delivery: Path) -> int | None:
    try:
        value = json.loads((delivery / "config.json").read_text()).get("max_position_embeddings")
    except (OSError, ValueError, AttributeError):  # unreadable, or not an object: no length to pass on
        return None
    return int(value) if isinstance(value, int) else None
