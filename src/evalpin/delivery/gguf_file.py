"""Quantized (GGUF) deliveries: what is inside a .gguf file, recorded apart, and how two of them differ.

A GGUF file carries the tokenizer, the chat template, the architecture and the quantization in its own
header, so its whole-file sha256 can only say "the file changed". The lock therefore also records, per
GGUF file, what llama.cpp's own reader (the `gguf` package's GGUFReader) finds inside: header fields,
digests of the tokenizer's arrays, the chat template's sha256, and one digest over the tensor data
(names, types, shapes, bytes). Two such summaries say *what* changed: "chat template inside model.gguf
changed; tensor data identical", "re-quantized Q4_1 -> Q8_0".

`gguf` is imported inside functions: it pulls numpy, and `evalpin --help` must stay fast.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from evalpin.base.errors import EvalpinError

SUFFIX = ".gguf"
SPLIT = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")
SPECIAL_IDS = ("bos", "eos", "unknown", "padding", "separator", "mask", "eot", "eom")
TOKENIZER_FLAGS = ("add_bos_token", "add_eos_token", "add_space_prefix")
# Header fields summarized on their own; every other key/value goes into metadata_sha256.
TOKENIZER_ARRAYS = {"tokens": "tokens", "merges": "merges", "token_type": "token_types", "scores": "scores"}


@dataclass(frozen=True)
class GgufTokenizer:
    model: str | None  # tokenizer.ggml.model: gpt2 (BPE), llama (SentencePiece), ...
    pre: str | None  # tokenizer.ggml.pre: the pre-tokenizer llama.cpp applies
    arrays: dict[str, str]  # tokens, merges, token_types, scores -> sha256 of their encoded values
    special_ids: dict[str, int]  # bos, eos, padding, ... -> token id
    flags: dict[str, bool]  # add_bos_token, add_eos_token, add_space_prefix


@dataclass(frozen=True)
class GgufInfo:
    """What one GGUF file holds, as GGUFReader reads it."""

    version: int  # the GGUF container version
    architecture: str | None  # general.architecture (absent in the later parts of a split file)
    file_type: str | None  # general.file_type by name: Q4_1, Q8_0, F16, ...
    quantization_version: int | None  # general.quantization_version
    context_length: int | None  # {architecture}.context_length
    hyperparameters: dict[str, object]  # the other {architecture}.* scalars (layers, heads, rope, eps)
    tokenizer: GgufTokenizer | None
    chat_template_sha256: str | None  # tokenizer.chat_template
    tensor_types: dict[str, int]  # quantization type -> number of tensors
    tensors_sha256: str  # over every tensor's name, type, shape and bytes, in file order
    metadata_sha256: str  # over every header field not summarized above (general.name, license, ...)
    split: list[int] | None  # [part number, part count] of a split file


def is_gguf(path: str) -> bool:
    return path.endswith(SUFFIX)


def read_info(path: Path) -> GgufInfo:
    """The summary of one GGUF file; EvalpinError naming the file and the field when it cannot be read."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path, "r")
    except Exception as exc:  # GGUFReader raises ValueError, KeyError, IndexError... on bad input
        raise _unreadable(path, exc) from exc
    fields = reader.fields
    arch = _scalar(fields, "general.architecture")
    summarized = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "general.architecture"}
    summarized |= {"general.file_type", "general.quantization_version", "tokenizer.chat_template"}
    hyper = {}
    for key in fields:
        if arch and key.startswith(f"{arch}.") and not _is_array(fields[key]):
            hyper[key.removeprefix(f"{arch}.")] = _scalar(fields, key)
            summarized.add(key)
    context = hyper.pop("context_length", None)
    tokenizer, tokenizer_keys = _tokenizer(fields)
    summarized |= tokenizer_keys
    split = _split(fields)
    summarized |= {"split.no", "split.count", "split.tensors.count"} if split else set()
    template = _scalar(fields, "tokenizer.chat_template")
    return GgufInfo(
        version=int(_scalar(fields, "GGUF.version")),
        architecture=arch,
        file_type=_file_type_name(_scalar(fields, "general.file_type")),
        quantization_version=_scalar(fields, "general.quantization_version"),
        context_length=context,
        hyperparameters=dict(sorted(hyper.items())),
        tokenizer=tokenizer,
        chat_template_sha256=None if template is None else hashlib.sha256(template.encode()).hexdigest(),
        tensor_types=_tensor_types(reader),
        tensors_sha256=_tensors_digest(path, reader),
        metadata_sha256=_fields_digest(fields, [k for k in fields if k not in summarized]),
        split=split,
    )


def _unreadable(path: Path, exc: Exception) -> EvalpinError:
    text = str(exc)
    if "version" in text:
        from gguf.gguf_reader import READER_SUPPORTED_VERSIONS

        return EvalpinError(
            f"{path}: field GGUF.version: {text}; the gguf package here reads versions "
            f"{READER_SUPPORTED_VERSIONS}. Convert the model again with a current llama.cpp "
            "(convert_hf_to_gguf.py writes version 3), or upgrade the gguf package."
        )
    if "magic" in text:
        return EvalpinError(
            f"{path}: field GGUF.magic: not a GGUF file (it does not start with 'GGUF'). Download it again, "
            "or remove it from the delivery."
        )
    return EvalpinError(
        f"{path}: not a readable GGUF file ({type(exc).__name__}: {text}); it is truncated or corrupt. "
        "Download it again (compare its size and sha256 with what the hub lists)."
    )


def _is_array(reader_field) -> bool:
    from gguf import GGUFValueType

    return reader_field.types[:1] == [GGUFValueType.ARRAY]


def _scalar(fields: dict, key: str):
    """A scalar field's value (str, int, float, bool), or None when the header lacks it."""
    if key not in fields:
        return None
    value = fields[key].contents()
    return value.item() if hasattr(value, "item") else value


def _tokenizer(fields: dict) -> tuple[GgufTokenizer | None, set[str]]:
    if "tokenizer.ggml.model" not in fields and "tokenizer.ggml.tokens" not in fields:
        return None, set()
    keys = {"tokenizer.ggml.model", "tokenizer.ggml.pre"}

    def present(names: dict[str, str], read) -> dict:
        """name -> read(key) for each tokenizer.ggml.<key> the header has; the keys join `keys`."""
        found = {name: key for key, name in names.items() if f"tokenizer.ggml.{key}" in fields}
        keys.update(f"tokenizer.ggml.{key}" for key in found.values())
        return {name: read(f"tokenizer.ggml.{key}") for name, key in found.items()}

    arrays = present(TOKENIZER_ARRAYS, lambda key: _fields_digest(fields, [key], with_keys=False))
    special = present({f"{n}_token_id": n for n in SPECIAL_IDS}, lambda key: int(_scalar(fields, key)))
    flags = present({n: n for n in TOKENIZER_FLAGS}, lambda key: bool(_scalar(fields, key)))
    model, pre = _scalar(fields, "tokenizer.ggml.model"), _scalar(fields, "tokenizer.ggml.pre")
    return GgufTokenizer(model, pre, arrays, special, flags), keys


def _split(fields: dict) -> list[int] | None:
    if "split.count" not in fields:
        return None
    return [int(_scalar(fields, "split.no")), int(_scalar(fields, "split.count"))]


def _file_type_name(value: int | None) -> str | None:
    if value is None:
        return None
    from gguf import LlamaFileType

    try:
        return LlamaFileType(value).name.removeprefix("MOSTLY_")
    except ValueError:
        return f"file_type {value}"


def _tensor_types(reader) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tensor in reader.tensors:
        counts[tensor.tensor_type.name] = counts.get(tensor.tensor_type.name, 0) + 1
    return dict(sorted(counts.items()))


def _tensors_digest(path: Path, reader) -> str:
    """sha256 over each tensor's (name, type, shape, size) and its bytes, in file order."""
    digest = hashlib.sha256()
    for tensor in reader.tensors:
        if tensor.data.nbytes != tensor.n_bytes:
            raise EvalpinError(
                f"{path}: tensor {tensor.name!r} should hold {tensor.n_bytes} bytes, the file has "
                f"{tensor.data.nbytes}: it is truncated. Download it again."
            )
        shape = [int(n) for n in tensor.shape]
        head = [tensor.name, tensor.tensor_type.name, shape, int(tensor.n_bytes)]
        digest.update(json.dumps(head).encode() + b"\n")
        digest.update(memoryview(tensor.data).cast("B"))
    return digest.hexdigest()


def _fields_digest(fields: dict, keys: list[str], with_keys: bool = True) -> str:
    """sha256 over fields exactly as encoded in the file (type tags, lengths, values)."""
    digest = hashlib.sha256()
    for key in sorted(keys):
        parts = fields[key].parts
        for part in parts if with_keys else parts[2:]:  # parts[:2] are the key's length and name
            digest.update(part.tobytes())
    return digest.hexdigest()


# --- choosing the GGUF file(s) of a delivery --------------------------------------------------------


def gguf_units(files: list[str]) -> dict[str, list[str]]:
    """GGUF files grouped into what a user picks: one file, or every part of a split file (by its stem)."""
    units: dict[str, list[str]] = {}
    for name in sorted(f for f in files if is_gguf(f)):
        match = SPLIT.match(name)
        units.setdefault(f"{match['stem']}{SUFFIX}" if match else name, []).append(name)
    return units


def select(files: list[str], gguf_file: str | None, quant: str | None, where: str) -> list[str]:
    """The delivery's files minus the GGUF files not chosen. With more than one GGUF (or split set) and
    no choice, an error: evaluating "whichever came first" is exactly what a pin exists to prevent."""
    units = gguf_units(files)
    if not units:
        if gguf_file or quant:
            raise EvalpinError(f"{where}: --gguf-file/--quant given, but the delivery holds no .gguf file.")
        return files
    chosen = _choose(units, gguf_file, quant, where)
    check_split_complete(chosen, where)
    dropped = {name for unit in units.values() for name in unit} - set(chosen)
    return [f for f in files if f not in dropped]


def _choose(units: dict[str, list[str]], gguf_file: str | None, quant: str | None, where: str) -> list[str]:
    listing = ", ".join(units)
    if gguf_file:
        hits = [unit for key, unit in units.items() if gguf_file in (key, *unit)]
        if not hits:
            raise EvalpinError(f"{where}: --gguf-file {gguf_file}: no such GGUF file (found: {listing}).")
        return hits[0]
    if quant:
        token = re.compile(rf"(?<![A-Za-z0-9]){re.escape(quant)}(?![A-Za-z0-9_])", re.IGNORECASE)
        hits = [unit for key, unit in units.items() if token.search(key)]
        if len(hits) != 1:
            found = str(len(hits)) if hits else "no"
            raise EvalpinError(
                f"{where}: --quant {quant}: {found} GGUF file names carry that quantization type (found: "
                f"{listing}). Name the file with --gguf-file NAME."
            )
        return hits[0]
    if len(units) > 1:
        raise EvalpinError(
            f"{where}: the delivery holds {len(units)} GGUF files ({listing}); say which one to pin with "
            "--gguf-file NAME or --quant TYPE (e.g. --quant Q4_1). Nothing was written."
        )
    return next(iter(units.values()))


def check_split_complete(parts: list[str], where: str) -> None:
    match = SPLIT.match(parts[0])
    if not match:
        return
    count = int(match["count"])
    expected = [f"{match['stem']}-{n:05d}-of-{count:05d}{SUFFIX}" for n in range(1, count + 1)]
    missing = [name for name in expected if name not in parts]
    if missing:
        raise EvalpinError(
            f"{where}: split GGUF {parts[0]} is part of {count} files, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing. Download every part "
            f"(`hf download REPO --include '{match['stem']}-*.gguf'`), then pin again."
        )


def check_quant(infos: dict[str, GgufInfo], quant: str | None, where: str) -> None:
    """--quant chose by file name; the header's general.file_type must say the same."""
    if quant is None:
        return
    for path, info in infos.items():
        if info.file_type is not None and info.file_type.upper() != quant.upper():
            raise EvalpinError(
                f"{where}: {path}: --quant {quant} matched its name, but its header field general.file_type "
                f"says {info.file_type}. The file is misnamed; pick it with --gguf-file {path} if "
                f"{info.file_type} is what you want."
            )


def summarize_delivery(directory: Path, paths: list[str]) -> dict[str, GgufInfo] | None:
    """The GGUF summaries of a delivery's files; None when it holds no GGUF (the lock leaves it out)."""
    ggufs = [p for p in paths if is_gguf(p)]
    if not ggufs:
        return None
    for unit in gguf_units(ggufs).values():
        check_split_complete(unit, str(directory))
    return {p: read_info(directory / p) for p in ggufs}


def evaluated_file(paths: list[str]) -> str | None:
    """The GGUF file a delivery is evaluated and rendered through (the first part of a split file): its
    only GGUF file, unless it is also a Hugging Face model (config.json), which transformers loads as such."""
    if "config.json" in paths:
        return None
    units = gguf_units(paths)
    if len(units) > 1:
        raise EvalpinError(
            f"the delivery holds {len(units)} GGUF files ({', '.join(units)}); re-pin it with "
            "--gguf-file NAME to keep just one."
        )
    return next(iter(units.values()))[0] if units else None


# --- what changed inside -----------------------------------------------------------------------------


@dataclass(frozen=True)
class InsideChange:
    path: str
    category: str  # in diff.py's words: architecture, weights, quantization, tokenizer, chat template, ...
    bump: str  # patch, minor, major
    words: str  # "{path} re-quantized Q4_1 -> Q8_0": {path} is where the file is named

    def __str__(self) -> str:
        return self.words.replace("{path}", self.path)  # not str.format: a value may hold braces


def compare(path: str, a: GgufInfo, b: GgufInfo) -> tuple[InsideChange, ...]:
    """What changed inside the GGUF file at `path` between two summaries, one entry per kind."""
    found = []

    def add(category: str, bump: str, words: str) -> None:
        found.append(InsideChange(path, category, bump, words))

    if a.architecture != b.architecture:
        add(
            "architecture",
            "major",
            f"architecture inside {{path}} changed: {a.architecture} -> {b.architecture}",
        )
    if a.file_type != b.file_type or a.tensor_types != b.tensor_types:
        add("quantization", "minor", f"{{path}} re-quantized {a.file_type} -> {b.file_type}")
    elif a.tensors_sha256 != b.tensors_sha256:
        add("weights", "minor", f"tensor data inside {{path}} changed (same quantization, {b.file_type})")
    if a.quantization_version != b.quantization_version:
        versions = f"{a.quantization_version} -> {b.quantization_version}"
        add("quantization", "minor", f"quantization version inside {{path}} changed: {versions}")
    if a.architecture == b.architecture and a.hyperparameters != b.hyperparameters:
        keys = ", ".join(_changed_keys(a.hyperparameters, b.hyperparameters))
        add("model config", "minor", f"hyperparameters inside {{path}} changed: {keys}")
    if a.context_length != b.context_length:
        lengths = f"{a.context_length} -> {b.context_length}"
        add("model config", "minor", f"context length inside {{path}} changed: {lengths}")
    if a.tokenizer != b.tokenizer:
        parts = ", ".join(_tokenizer_parts(a.tokenizer, b.tokenizer))
        add("tokenizer", "minor", f"tokenizer inside {{path}} changed ({parts})")
    if a.chat_template_sha256 != b.chat_template_sha256:
        add("chat template", "patch", "chat template inside {path} changed")
    if a.metadata_sha256 != b.metadata_sha256 or a.version != b.version or a.split != b.split:
        add("metadata only", "patch", "other header metadata inside {path} changed")
    return tuple(found)


def _changed_keys(a: dict, b: dict) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _tokenizer_parts(a: GgufTokenizer | None, b: GgufTokenizer | None) -> list[str]:
    if a is None or b is None:
        return ["added" if a is None else "removed"]
    parts = [name for name in ("model", "pre") if getattr(a, name) != getattr(b, name)]
    parts += _changed_keys(a.arrays, b.arrays)
    parts += [f"{k} id" for k in _changed_keys(a.special_ids, b.special_ids)]
    parts += _changed_keys(a.flags, b.flags)
    return parts


@dataclass(frozen=True)
class InsideDiff:
    """What changed inside one GGUF file whose bytes differ."""

    path: str
    changes: tuple[InsideChange, ...]
    tensors_identical: bool

    def __str__(self) -> str:
        """One line: "chat template inside model.gguf changed; tensor data identical"."""
        if not self.changes:
            return f"{self.path}: the bytes differ, but every field recorded from inside it is identical"
        same = "; tensor data identical" if self.tensors_identical else ""
        return "; ".join(str(c) for c in self.changes) + same


def diff_inside(path: str, a: GgufInfo, b: GgufInfo) -> InsideDiff:
    return InsideDiff(path, compare(path, a, b), a.tensors_sha256 == b.tensors_sha256)


def describe_file(path: str, locked: GgufInfo, file: Path) -> str:
    """What changed inside `file` since its locked summary, in one line (or why it cannot be read)."""
    try:
        return str(diff_inside(path, locked, read_info(file)))
    except EvalpinError as exc:
        return str(exc)
