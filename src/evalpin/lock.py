"""The delivery lock: every file of a pinned delivery with its size, sha256 and role, plus where it came from.

A delivery is a model (models/NAME, locked in models/NAME.lock.json) or a dataset (eval/data/NAME,
locked in eval/data/NAME.lock.json, `kind: dataset`): the same lock, with roles of its own kind.
A lock is git-tracked JSON next to the DVC-tracked directory. Loading is
strict: an unknown or missing field is an error, never silently dropped, because a lock that quietly lost
a field would verify less than its author thinks.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import platform
from dataclasses import MISSING, asdict, dataclass, fields
from importlib import metadata
from pathlib import Path, PurePosixPath

from evalpin.atomic import write_atomic
from evalpin.errors import EvalpinError
from evalpin.ggufinfo import GgufInfo, GgufTokenizer, summarize_delivery
from evalpin.hashing import sha256_files

SCHEMA = 1
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
DATASET = "dataset"  # Lock.kind of a pinned dataset; unset for a model
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
RUNTIME_PACKAGES = ("torch", "transformers", "tokenizers", "lm_eval", "dvc", "huggingface_hub")


def role_of(path: str, kind: str | None = None) -> str:
    name = PurePosixPath(path).name
    dataset = kind == DATASET
    for role, patterns in DATA_ROLE_PATTERNS if dataset else ROLE_PATTERNS:
        if any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
            return role
    return "data" if dataset else "other"


def is_pickle(path: str) -> bool:
    return path.endswith(PICKLE_SUFFIXES)


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
    """A publisher's signature, checked at pin time (signing.py): who signed, and where the bundle is kept.

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
    gguf: dict[str, GgufInfo] | None = None  # per .gguf file: what is inside it (ggufinfo.py)
    kind: str | None = None  # DATASET for a pinned dataset; unset for a model
    signed: Signed | None = None  # the publisher's signature, checked at pin time (pin --signature)

    @property
    def what(self) -> str:
        """The words for this delivery in messages: `models/NAME` or `eval/data/NAME`."""
        return f"eval/data/{self.name}" if self.kind == DATASET else f"models/{self.name}"

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


def current_runtime() -> dict[str, str]:
    """Versions read from package metadata (no imports: torch takes seconds to import)."""
    versions = {"python": platform.python_version()}
    for package in RUNTIME_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    image = os.environ.get("EVALPIN_IMAGE_DIGEST")
    if image:
        versions["image"] = image
    return versions


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
    if kind == DATASET:  # no chat template, model config or GGUF in a dataset
        return Lock(SCHEMA, name, source, files, {}, {}, current_runtime(), kind=kind)
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
        embedded = _read_json(tokenizer_config).get("chat_template")
        if embedded is not None:
            text = embedded if isinstance(embedded, str) else json.dumps(embedded, sort_keys=True)
            found["tokenizer_config.json#chat_template"] = hashlib.sha256(text.encode()).hexdigest()
    return found


def model_config_summary(directory: Path) -> dict:
    config_path = directory / "config.json"
    if not config_path.is_file():
        return {}
    config = _read_json(config_path)
    return {
        "architectures": config.get("architectures"),
        "model_type": config.get("model_type"),
        "dtype": config.get("dtype", config.get("torch_dtype")),
        "quantization_config": config.get("quantization_config"),
    }


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvalpinError(f"{path}: not valid JSON ({exc}).") from exc


def save_lock(lock: Lock, path: Path) -> None:
    write_atomic(path, lock.to_json())


def load_lock(path: Path) -> Lock:
    if not path.is_file():
        raise EvalpinError(
            f"{path}: lock file not found. Pin the model first: `evalpin pin REPO_ID --revision COMMIT`."
        )
    data = _read_json(path)
    return parse_lock(data, str(path))


def parse_lock(data: dict, where: str) -> Lock:
    _expect_fields(data, Lock, where)
    if data["schema"] != SCHEMA:
        raise EvalpinError(
            f"{where}: field 'schema' is {data['schema']!r}, this evalpin reads schema {SCHEMA}. "
            "Upgrade evalpin, or re-pin the model with this version."
        )
    _expect_fields(data["source"], Source, f"{where}: source")
    kind = _parse_kind(data.get("kind"), where)
    roles = DATA_ROLES if kind == DATASET else ROLES[: -len(DATA_ROLES)]
    kind_word = " dataset" if kind == DATASET else " model"
    files = []
    for i, entry in enumerate(data["files"]):
        _expect_fields(entry, LockedFile, f"{where}: files[{i}]")
        check_relative(entry["path"], f"{where}: files[{i}]")
        if entry["role"] not in roles:
            raise EvalpinError(
                f"{where}: files[{i}] ({entry['path']}): role {entry['role']!r} is not a{kind_word} role "
                f"({', '.join(roles)}); re-pin rather than editing the lock."
            )
        if any(f.path == entry["path"] for f in files):
            raise EvalpinError(
                f"{where}: files[{i}]: path {entry['path']!r} is listed twice; re-pin the model."
            )
        files.append(LockedFile(**entry))
    base = data.get("base")
    if base is not None:
        _expect_fields(base, BaseBinding, f"{where}: base")
    gguf = data.get("gguf")
    if gguf is not None:
        gguf = _parse_gguf(gguf, {f.path for f in files}, where)
    signed = data.get("signed")
    if signed is not None:
        signed = _parse_signed(signed, {f.path for f in files}, where)
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


def _expect_fields(data: object, cls: type, where: str) -> None:
    if not isinstance(data, dict):
        raise EvalpinError(f"{where}: expected an object, found {type(data).__name__}.")
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
        raise EvalpinError(
            f"{where}: {detail}. A lock is written by `evalpin pin`; re-pin rather than editing it by hand."
        )


def check_safety(lock: Lock, allow_pickle: bool, trust_remote_code: bool, where: str) -> None:
    pickles = [f.path for f in lock.files if is_pickle(f.path)]
    if pickles and not allow_pickle:
        raise EvalpinError(
            f"{where}: pickle weights {pickles} can run code when loaded. Prefer a safetensors revision; "
            "if you must, set `allow_pickle: true` in conf/model/NAME.yaml (pin with --allow-pickle)."
        )
    code = [f.path for f in lock.files if f.role == "remote_code"]
    if code and not trust_remote_code:
        raise EvalpinError(
            f"{where}: the delivery carries remote code {code}, which transformers would execute. "
            "Review it, then pin with --trust-remote-code "
            "(sets `trust_remote_code: true`; every .py is locked)."
        )


def check_data_safety(lock: Lock, trust_loading_script: bool, where: str) -> None:
    """A dataset loading script (*.py) is remote code that `datasets` would run: refused unless trusted."""
    scripts = [f.path for f in lock.files if f.role == "loading_script"]
    if scripts and not trust_loading_script:
        raise EvalpinError(
            f"{where}: the dataset carries loading script(s) {scripts}, code that `datasets` would run. "
            "Prefer a revision with parquet data (the Hub's `refs/convert/parquet`); if you reviewed the "
            "script, pin with `evalpin pin-data ... --trust-loading-script` (sets `trust_loading_script: "
            "true` in conf/data/NAME.yaml; every .py is locked)."
        )
