"""params.yaml, the composition of conf/ that the stages read, typed: one frozen dataclass per section,
built once per run from the mapping params_check accepts (`Params.from_dict`; compose.load_typed_params
reads params.yaml). Each section keeps `raw`, its mapping as params.yaml holds it: a task's key hashes
exactly that (typing never changes a stored result's key), and the packages below config (the catalog,
numerics, the server check) take it as a mapping."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from evalpin.base.errors import EvalpinError
from evalpin.config.params_check import check_values


def section(params: dict, key: str) -> dict:
    value = params.get(key)
    if not isinstance(value, dict):
        raise EvalpinError(
            f"params.yaml: section {key!r} is missing. It comes from conf/{key}/; run `evalpin compose`."
        )
    return value


def typed(cls: type, data: dict, **converted: object) -> Any:
    """`cls` from the fields of `data` it declares (the others stay in `raw`), `converted` overriding."""
    given = {f.name: data[f.name] for f in fields(cls) if f.name != "raw" and f.name in data}
    return cls(**{**given, **converted, "raw": data})


def names(value: object) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list | tuple) else ()


@dataclass(frozen=True)
class Model:
    """conf/model/NAME.yaml: the pinned delivery, its safety switches, and (an adapter) its `base`."""

    name: str
    repo_id: str | None = None
    revision: str | None = None
    upstream: str | None = None  # where the pin was fetched from (not in a task's key)
    base: str | None = None  # whose weights load: the model itself, or the base an adapter is certified on
    gguf_file: str | None = None  # the GGUF file the backends load (a quantized delivery)
    trust_remote_code: bool = False
    allow_pickle: bool = False
    add_bos_token: bool = False
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict) -> Model:
        switches = {k: bool(data.get(k)) for k in ("trust_remote_code", "allow_pickle", "add_bos_token")}
        return typed(cls, data, name=str(data.get("name") or ""), **switches)


@dataclass(frozen=True)
class Inference:
    """conf/inference/: how the model computes (params_check.RULES["inference"])."""

    dtype: str
    device: str
    batch_size: int
    torch_threads: int
    seed: int
    apply_chat_template: bool
    system_instruction: str | None = None
    gen_kwargs: dict = field(default_factory=dict)
    numerics: str = "fast"  # absent: fast, how evalpin before 0.2 computed
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict) -> Inference:
        return typed(cls, data, gen_kwargs=dict(data.get("gen_kwargs") or {}))


@dataclass(frozen=True)
class Suite:
    """conf/suite/: the tasks evaluated (local ones under include_path, catalog entries on pinned data)."""

    name: str
    include_path: str
    tasks: tuple[str, ...] = ()
    chat_tasks: tuple[str, ...] = ()
    limit: int | None = None
    catalog: tuple[dict, ...] = ()
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict) -> Suite:
        lists = {k: names(data.get(k)) for k in ("tasks", "chat_tasks", "catalog")}
        return typed(cls, data, **lists)


@dataclass(frozen=True)
class Backend:
    """conf/backend/: how lm-eval reaches the model (evaluation/backends.py)."""

    name: str
    model_args: dict = field(default_factory=dict)
    server_tolerance: float | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict) -> Backend:
        return typed(cls, data, model_args=dict(data.get("model_args") or {}))


@dataclass(frozen=True)
class Gate:
    """conf/gate/: the regression thresholds of `evalpin compare`."""

    k_stderr: float
    abs_floor: float
    alpha: float = 0.05
    correction: str = "holm"
    power: float = 0.8
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict) -> Gate:
        return typed(cls, data)


@dataclass(frozen=True)
class Signing:
    """conf/signing/: the signature policy (signing/policy.py checks its values)."""

    publisher_keys: tuple[str, ...] = ()
    release_keys: tuple[str, ...] = ()
    signed_stages: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict) -> Signing:
        lists = {k: names(data.get(k)) for k in ("publisher_keys", "release_keys", "signed_stages")}
        return typed(cls, data, **lists)


@dataclass(frozen=True)
class Launcher:
    """conf/launcher/: where pending tasks run (evaluation/launcher.py checks its fields; no result
    depends on it)."""

    name: str = "local"
    tasks_per_job: int | None = None
    partition: str | None = None
    time_min: int | None = None
    cpus_per_task: int | None = None
    gpus_per_node: int | None = None
    mem_gb: float | None = None
    array_parallelism: int | None = None
    additional_parameters: dict | None = None
    folder: str | None = None
    poll_s: float | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict) -> Launcher:
        return typed(cls, data)


@dataclass(frozen=True)
class Params:
    """params.yaml, typed; `raw`: the mapping it was built from (a copy: later edits of that mapping do
    not reach it)."""

    model: Model
    inference: Inference
    suite: Suite
    backend: Backend
    gate: Gate
    signing: Signing = field(default_factory=Signing)
    launcher: Launcher = field(default_factory=Launcher)
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict) -> Params:
        """EvalpinError naming the field (as params_check does) when a section or value cannot be typed."""
        check_values(data)
        data = copy.deepcopy(data)
        optional = {k: data.get(k) if isinstance(data.get(k), dict) else {} for k in ("signing", "launcher")}
        return cls(
            Model.from_dict(data["model"]),
            Inference.from_dict(data["inference"]),
            Suite.from_dict(data["suite"]),
            Backend.from_dict(data["backend"]),
            Gate.from_dict(data["gate"]),
            Signing.from_dict(optional["signing"]),
            Launcher.from_dict(optional["launcher"]),
            raw=data,
        )
