"""What a pin is asked to fetch, as the CLI and the API build it: a model (PinRequest) or a dataset repo
(DataPinRequest), both a Fetch of one commit from one place under one name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fetch:
    """What a pin fetches, for models and datasets alike: a repo's commit, from where, under which name."""

    repo_id: str
    revision: str
    name: str
    upstream: str | None  # huggingface_hub cache dir relative to the repo root; None is the Hub
    resolve: bool = False  # allow a branch or tag name, recording the commit it resolved to
    local_dir: str | None = None  # a plain directory holding the commit's files (air-gapped)
    unverified_origin: bool = False  # accept a local directory whose commit nothing proves


@dataclass(frozen=True)
class PinRequest(Fetch):
    allow_pickle: bool = False
    trust_remote_code: bool = False
    base: str | None = None  # pinning a peft adapter: the pinned model it is certified on
    gguf_file: str | None = None  # of a delivery holding several GGUF files: the one to pin
    quant: str | None = None  # ... or the one whose name carries this quantization type (Q4_1)
    signature: Path | None = None  # the publisher's model-signing bundle, checked before anything lands
    trust: object | None = None  # signing.Trust: the key, chain or identity to check it with


@dataclass(frozen=True)
class DataPinRequest(Fetch):
    include: tuple[str, ...] = ()  # glob(s) on paths: only these data files (one config, one split)
    trust_loading_script: bool = False
