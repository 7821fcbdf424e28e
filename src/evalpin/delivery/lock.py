"""The delivery lock: every file of a pinned delivery with its size, sha256 and role, plus where it came from.

A delivery is a model (models/NAME, locked in models/NAME.lock.json) or a dataset (eval/data/NAME,
locked in eval/data/NAME.lock.json, `kind: dataset`): the same lock, with roles of its own kind.
A lock is git-tracked JSON next to the DVC-tracked directory. Loading is
strict: an unknown or missing field is an error, never silently dropped, because a lock that quietly lost
a field would verify less than its author thinks.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path, PurePosixPath

from evalpin.base.atomic import write_atomic
from evalpin.base.documents import unique_keys
from evalpin.base.errors import EvalpinError
from evalpin.base.project import DATA_DIR, MODELS_DIR
from evalpin.delivery.card import Loading
from evalpin.delivery.gguf_file import GgufInfo, GgufTokenizer
from evalpin.delivery.roles import DATA_ROLES, DATASET, ROLES

SCHEMA = 1
RE_PIN = "A lock is written by `evalpin pin`; re-pin rather than editing it by hand."


def check_relative(path: str, where: str) -> None:
    """Lock entries are POSIX paths inside the model directory: no absolute paths, no `..`."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or "\\" in path or path in ("", "."):
        raise EvalpinError(
            f"{where}: file path {path!r} is not a plain relative path inside the model directory. "
            "Lock entries must not be absolute or contain '..'; re-pin the model with `evalpin pin`."
        )


@dataclass(frozen=True)
class LockedFile:
    path: str
    size: int
    sha256: str
    role: str


@dataclass(frozen=True)
class Source:
    repo_id: str  # the hub repo id ("org/name")
    revision: str  # the full 40-hex commit the files came from
    requested: str | None  # the branch or tag the user asked to resolve, if any
    tokenizer_revision: str | None  # where the tokenizer came from another commit
    upstream: str | None  # a huggingface_hub cache directory (relative to the repo); None is the Hub
    # Fields with a default were added after schema 1: optional on read, left out of the JSON when unset.
    local_dir: str | None = None  # pinned from a plain directory instead of the upstream
    provenance: str | None = None  # how the local directory's commit was established (LOCAL_PROVENANCE)
    repo_type: str | None = None  # "dataset" for a Hub dataset repo; unset for a model repo


@dataclass(frozen=True)
class BaseBinding:
    """The base model an adapter was certified on: its pinned name, commit and lock digest."""

    name: str
    repo_id: str
    revision: str
    lock_digest: str


@dataclass(frozen=True)
class Signed:
    """A publisher's signature, checked at pin time (signing/publisher.py): who signed, where the bundle is.

    `method`: "key" (an EC public key; `signer` is its fingerprint, "sha256:" + sha256 of its PEM, as
    model-signing's bundle hint), "certificate" (`signer`: the leaf certificate's sha256 fingerprint and
    subject) or "sigstore" (`signer`: the certificate identity, `issuer`: its OIDC issuer). `signature`:
    the bundle, git-tracked beside the lock; `sha256`: its bytes. `unsigned`: locked files the signature
    does not cover (model-signing ignores git files such as .gitattributes); the lock still covers them."""

    method: str
    signer: str
    signature: str
    sha256: str
    unsigned: tuple[str, ...] = ()
    issuer: str | None = None


SIGNED_METHODS = ("key", "certificate", "sigstore")


@dataclass(frozen=True)
class Lock:
    schema: int
    name: str
    source: Source
    files: tuple[LockedFile, ...]
    chat_templates: dict[str, str]  # where the template lives -> sha256 of its text
    model_config: dict  # architectures, model_type, dtype, quantization_config
    runtime: dict[str, str]  # versions the baseline was made with
    base: BaseBinding | None = None  # set for an adapter (LoRA): evaluated only on exactly this base
    gguf: dict[str, GgufInfo] | None = None  # per .gguf file: what is inside it (gguf_file.py)
    kind: str | None = None  # DATASET for a pinned dataset; unset for a model
    signed: Signed | None = None  # the publisher's signature, checked at pin time (pin --signature)
    loading: Loading | None = None  # a dataset's: what its card tells the datasets library to load

    @property
    def what(self) -> str:
        """The words for this delivery in messages: `models/NAME` or `eval/data/NAME`."""
        return f"{DATA_DIR if self.kind == DATASET else MODELS_DIR}/{self.name}"

    @property
    def digest(self) -> str:
        """One sha256 for the delivery: over the sorted (path, size, sha256) entries, nothing else."""
        canonical = json.dumps([[f.path, f.size, f.sha256] for f in self.files], separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def by_path(self) -> dict[str, LockedFile]:
        return {f.path: f for f in self.files}

    def to_json(self) -> str:
        data = _without_unset(self)
        data["source"] = _without_unset(self.source)
        data["files"] = [asdict(f) for f in self.files]
        if self.base is not None:
            data["base"] = asdict(self.base)
        if self.loading is not None:
            data["loading"] = asdict(self.loading)
        if self.signed is not None:
            data["signed"] = _without_unset(self.signed)
            data["signed"]["unsigned"] = list(self.signed.unsigned)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _without_unset(obj: object) -> dict:
    """asdict, minus the later-added optional fields that are unset: older locks stay byte-identical."""
    data = asdict(obj)
    for f in fields(obj):
        if f.default is None and data[f.name] is None:
            del data[f.name]
    return data


def read_json(path: Path) -> dict:
    """A JSON object from a delivery's file (config.json, tokenizer_config.json, ...): anything else is
    refused in one line."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=unique_keys)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a duplicate key
        raise EvalpinError(
            f"{path}: not valid JSON ({exc}). Restore it (`git checkout {path.name}` in its folder), or "
            "re-pin."
        ) from exc
    if not isinstance(data, dict):
        raise EvalpinError(
            f"{path}: expected an object, found {type(data).__name__}. Restore the file as pinned "
            "(`dvc checkout --force`, or `git checkout` for a lock), or re-pin."
        )
    return data


def save_lock(lock: Lock, path: Path) -> None:
    write_atomic(path, lock.to_json())


def load_lock(path: Path) -> Lock:
    if path.is_dir():
        raise EvalpinError(f"{path}: a directory, where the lock file is expected. Remove it, then re-pin.")
    if not path.is_file():
        raise EvalpinError(
            f"{path}: lock file not found. Pin the model first: `evalpin pin REPO_ID --revision COMMIT`."
        )
    data = read_json(path)
    return parse_lock(data, str(path))


def _parse_files(entries: list, kind: str, where: str) -> list[LockedFile]:
    """The lock's file entries, each checked: its fields, a relative path, a role of its kind, once."""
    roles = DATA_ROLES if kind == DATASET else ROLES[: -len(DATA_ROLES)]
    kind_word = " dataset" if kind == DATASET else " model"
    files, seen = [], set()
    for i, entry in enumerate(entries):
        path = entry.get("path") if isinstance(entry, dict) else None
        named = f" ({path})" if isinstance(path, str) else ""
        _expect_fields(entry, LockedFile, f"{where}: files[{i}]{named}")
        check_relative(entry["path"], f"{where}: files[{i}]")
        _check_entry(entry, f"{where}: files[{i}]{named}")
        if entry["role"] not in roles:
            raise EvalpinError(
                f"{where}: files[{i}] ({entry['path']}): role {entry['role']!r} is not a{kind_word} role "
                f"({', '.join(roles)}); re-pin rather than editing the lock."
            )
        if entry["path"] in seen:
            raise EvalpinError(
                f"{where}: files[{i}]: path {entry['path']!r} is listed twice; re-pin the model."
            )
        seen.add(entry["path"])
        files.append(LockedFile(**entry))
    return files


def parse_lock(data: dict, where: str) -> Lock:
    _expect_fields(data, Lock, where)
    if data["schema"] != SCHEMA:
        raise EvalpinError(
            f"{where}: field 'schema' is {data['schema']!r}, this evalpin reads schema {SCHEMA}. "
            "Upgrade evalpin, or re-pin the model with this version."
        )
    _expect_fields(data["source"], Source, f"{where}: source")
    kind = _parse_kind(data.get("kind"), where)
    files = _parse_files(data["files"], kind, where)
    base = data.get("base")
    if base is not None:
        _expect_fields(base, BaseBinding, f"{where}: base")
    gguf = data.get("gguf")
    if gguf is not None:
        gguf = _parse_gguf(gguf, {f.path for f in files}, where)
    signed = data.get("signed")
    if signed is not None:
        signed = _parse_signed(signed, {f.path for f in files}, where)
    loading = data.get("loading")
    if loading is not None:
        _expect_fields(loading, Loading, f"{where}: loading")
        loading = Loading(**loading)
    return Lock(
        schema=data["schema"],
        name=data["name"],
        source=Source(**data["source"]),
        files=tuple(files),
        chat_templates=data["chat_templates"],
        model_config=data["model_config"],
        runtime=data["runtime"],
        base=None if base is None else BaseBinding(**base),
        gguf=gguf,
        kind=kind,
        signed=signed,
        loading=loading,
    )


def _parse_signed(data: object, paths: set[str], where: str) -> Signed:
    _expect_fields(data, Signed, f"{where}: signed")
    assert isinstance(data, dict)
    if data["method"] not in SIGNED_METHODS:
        raise EvalpinError(
            f"{where}: signed.method is {data['method']!r}, expected one of {SIGNED_METHODS}; re-pin the "
            "model with `evalpin pin ... --signature FILE`."
        )
    unsigned = data.get("unsigned", [])
    if not isinstance(unsigned, list) or not set(unsigned) <= paths:
        raise EvalpinError(f"{where}: signed.unsigned must list files under 'files'; re-pin the model.")
    return Signed(**{**data, "unsigned": tuple(unsigned)})


def _parse_kind(kind: object, where: str) -> str | None:
    if kind not in (None, DATASET):
        raise EvalpinError(f"{where}: field 'kind' is {kind!r}; expected {DATASET!r} or no field (a model).")
    return kind  # type: ignore[return-value]


def _parse_gguf(data: object, paths: set[str], where: str) -> dict[str, GgufInfo]:
    if not isinstance(data, dict):
        raise EvalpinError(f"{where}: gguf: expected an object (file -> summary); re-pin the model.")
    parsed = {}
    for path, info in data.items():
        at = f"{where}: gguf[{path!r}]"
        if path not in paths:
            raise EvalpinError(f"{at}: no such entry under 'files'; re-pin the model.")
        _expect_fields(info, GgufInfo, at)
        tokenizer = info["tokenizer"]
        if tokenizer is not None:
            _expect_fields(tokenizer, GgufTokenizer, f"{at}: tokenizer")
            tokenizer = GgufTokenizer(**tokenizer)
        parsed[path] = GgufInfo(**{**info, "tokenizer": tokenizer})
    return parsed


SHA256 = re.compile(r"^[0-9a-f]{64}$")
SCALARS: dict[str, type] = {"str": str, "int": int, "bool": bool, "float": float, "object": object}


def _check_entry(entry: dict, where: str) -> None:
    """A file entry's values: a size a verify compares, a sha256 it can equal (else every file "changed")."""
    if entry["size"] < 0 or not SHA256.match(entry["sha256"]):
        field = "size" if entry["size"] < 0 else "sha256"
        expected = "a size in bytes (>= 0)" if field == "size" else "64 lower-case hex digits"
        raise EvalpinError(f"{where}: field {field!r} is {entry[field]!r}, expected {expected}. {RE_PIN}")


def _matches(value: object, annotation: str) -> bool:
    """Whether `value`, as read from JSON, has the type a dataclass field declares (its annotation
    string: `str | None`, `dict[str, int]`, `tuple[LockedFile, ...]`). A nested dataclass matches any
    value here: its own _expect_fields checks it. bool is not an int (JSON true is no size)."""
    options = _split_top(annotation, "|")
    if len(options) > 1:
        return any(_matches(value, option) for option in options)
    head, _, rest = annotation.partition("[")
    inner = _split_top(rest[:-1], ",") if rest else []
    if head == "None":
        return value is None
    if head in ("tuple", "list"):
        return isinstance(value, list) and all(_matches(v, inner[0]) for v in value if inner)
    if head == "dict":
        return isinstance(value, dict) and (
            not inner or all(_matches(k, inner[0]) and _matches(v, inner[1]) for k, v in value.items())
        )
    if head in SCALARS:
        kind = SCALARS[head]
        return isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    return True


def _split_top(text: str, separator: str) -> list[str]:
    """`text` split at each `separator` outside brackets, stripped."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char == "[") - (char == "]")
        if char == separator and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    return [*parts, text[start:].strip()]


JSON_WORDS = {"str": "a string", "int": "an integer", "bool": "true or false", "float": "a number"}
JSON_WORDS.update({"None": "null", "dict": "an object", "tuple": "a list", "list": "a list"})


def _in_json(annotation: str) -> str:
    """A field's type in JSON's words: `str | None` -> "a string or null"."""
    heads = [option.partition("[")[0] for option in _split_top(annotation, "|")]
    return " or ".join(JSON_WORDS.get(head, "an object") for head in heads)


def _expect_types(data: dict, cls: type, where: str) -> None:
    for f in fields(cls):
        if f.name in data and not _matches(data[f.name], str(f.type)):
            value = data[f.name]
            shown = repr(value) if len(repr(value)) <= 60 else f"a {type(value).__name__}"
            expected = _in_json(str(f.type))
            raise EvalpinError(f"{where}: field {f.name!r} is {shown}, expected {expected}. {RE_PIN}")


def _expect_fields(data: object, cls: type, where: str) -> None:
    if not isinstance(data, dict):
        raise EvalpinError(f"{where}: expected an object, found {type(data).__name__}. {RE_PIN}")
    expected = {f.name for f in fields(cls)}
    required = {f.name for f in fields(cls) if f.default is MISSING}
    missing, unknown = required - data.keys(), data.keys() - expected
    if missing or unknown:
        detail = "; ".join(
            part
            for part in (
                f"missing field(s) {sorted(missing)}" if missing else "",
                f"unknown field(s) {sorted(unknown)}" if unknown else "",
            )
            if part
        )
        raise EvalpinError(f"{where}: {detail}. {RE_PIN}")
    _expect_types(data, cls, where)


def delivery_identity(lock: Lock, base: Lock | None = None, revision: bool = True) -> dict:
    """What names a pinned delivery (a model or a dataset): its name, the upstream revision it was pinned
    from (as the fingerprint records it; a task key leaves it out, `revision=False`: the lock digest names
    the bytes) and its lock's digest; with `base` (an adapter's, when it is not the delivery itself) the
    base's identity under "base"."""
    found = {"name": lock.name, **({"revision": lock.source.revision} if revision else {})}
    found["lock_digest"] = lock.digest
    if base is not None and base.name != lock.name:
        found["base"] = delivery_identity(base, revision=revision)
    return found
