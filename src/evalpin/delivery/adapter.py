"""LoRA (peft) adapters: a delivery of their own, certified on exactly one pinned base.

An adapter is pinned like any model (its own lock, versions and DVC tracking), and its lock records the
base it was certified on: the base's name, commit and lock digest. An adapter's weights are deltas against
that base's weights, so on any other base it computes something nobody measured. verify therefore refuses
an adapter whose base no longer has the recorded digest, until someone re-certifies it: pins an adapter
revision trained on the new base (or re-pins the same one, having checked it still holds) with --base.
"""

from __future__ import annotations

import json
from pathlib import Path

from evalpin.base import project
from evalpin.base.errors import DriftError, EvalpinError
from evalpin.delivery.lock import BaseBinding, Lock, load_lock
from evalpin.delivery.roles import role_of
from evalpin.delivery.sources import is_commit

ADAPTER_CONFIG = "adapter_config.json"


def binding(base: Lock) -> BaseBinding:
    return BaseBinding(base.name, base.source.repo_id, base.source.revision, base.digest)


def check_delivery(staged: Path, base: Lock, where: str) -> None:
    """Refuse what is not a peft adapter, or one whose own config names another base than `base`."""
    config_file = staged / ADAPTER_CONFIG
    if not config_file.is_file():
        raise EvalpinError(
            f"{where}: no {ADAPTER_CONFIG}, so this is not a peft adapter. Pin a full model without --base."
        )
    config = json.loads(config_file.read_text())
    claimed = config.get("base_model_name_or_path")
    if _is_hub_id(claimed) and claimed != base.source.repo_id:
        raise EvalpinError(
            f"{where}: {ADAPTER_CONFIG} says it was trained on {claimed!r}, but --base {base.name} is "
            f"{base.source.repo_id}. Pin the base it was trained on, or the adapter trained on this base."
        )
    trained_on = config.get("revision")
    if isinstance(trained_on, str) and is_commit(trained_on) and trained_on != base.source.revision:
        raise EvalpinError(
            f"{where}: {ADAPTER_CONFIG} says it was trained on commit {trained_on}, but models/{base.name} "
            f"is {base.source.repo_id}@{base.source.revision}. An adapter's weights are deltas against "
            "one base; pin the adapter revision trained on this base."
        )
    tokenizer = sorted(
        p.relative_to(staged).as_posix()
        for p in staged.rglob("*")
        if p.is_file() and role_of(p.name) in ("tokenizer", "chat_template")
    )
    if tokenizer:
        raise EvalpinError(
            f"{where}: the adapter ships its own tokenizer or chat template {tokenizer}; evalpin evaluates "
            "an adapter with its base's verified tokenizer. Merge the adapter into a full model and pin that."
        )


def check_binding(root: Path, adapter: Lock) -> Lock:
    """The base's lock, if it is still exactly the one the adapter was certified on; else DriftError."""
    bound = adapter.base
    if bound is None:
        raise EvalpinError(f"models/{adapter.name}.lock.json: not an adapter (no `base`).")
    base = load_lock(project.lock_path(root, bound.name))
    if base.digest != bound.lock_digest:
        raise DriftError(
            f"models/{adapter.name} was certified on {bound.name} = {bound.repo_id}@{bound.revision} "
            f"(lock digest {bound.lock_digest[:12]}), but models/{bound.name}.lock.json is now "
            f"{base.source.repo_id}@{base.source.revision} (lock digest {base.digest[:12]}). An adapter "
            "is only measured on the base it was certified on, so it is not evaluated on this one.\n"
            f"Re-certify: pin the adapter revision trained on the new base, `evalpin pin "
            f"{adapter.source.repo_id} --revision COMMIT --name {adapter.name} --base {bound.name}` "
            "(or re-pin the same revision if you have checked it still holds), then `dvc repro` and "
            f"`evalpin compare`; or restore the old base (`git checkout` its lock, `dvc checkout`)."
        )
    return base


def base_name(lock: Lock) -> str:
    """The delivery whose weights are loaded: the bound base for an adapter, else the model itself."""
    return lock.base.name if lock.base else lock.name


def _is_hub_id(value: object) -> bool:
    return isinstance(value, str) and value.count("/") == 1 and not value.startswith((".", "/", "~"))
