"""conf/signing/: what must be signed and by whom, enforced fail-closed by the pipeline's verify stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalpin.base import project
from evalpin.base.errors import EvalpinError
from evalpin.config.compose import load_params
from evalpin.delivery.lock import Lock, load_lock
from evalpin.signing.bundles import Trust
from evalpin.signing.keys import key_fingerprint, read_public_key
from evalpin.signing.paths import rel
from evalpin.signing.publisher import recheck_publisher
from evalpin.signing.release import verify_release


@dataclass(frozen=True)
class Policy:
    """conf/signing/: what must be signed, by whom (public keys, paths relative to the repository)."""

    publisher_keys: tuple[Path, ...] = ()
    release_keys: tuple[Path, ...] = ()
    signed_stages: tuple[str, ...] = ()

    @property
    def requires_anything(self) -> bool:
        return bool(self.publisher_keys or self.signed_stages)


def load_policy(root: Path, params: dict | None = None) -> Policy:

    section = (params if params is not None else load_params(root)).get("signing") or {}
    where = "params.yaml: signing (conf/signing/)"
    unknown = set(section) - {"publisher_keys", "release_keys", "signed_stages"}
    if unknown:
        raise EvalpinError(
            f"{where}: unknown key(s) {sorted(unknown)}; expected publisher_keys, "
            "release_keys, signed_stages."
        )
    keys = {}
    for field in ("publisher_keys", "release_keys"):
        values = section.get(field) or []
        if not isinstance(values, list):
            raise EvalpinError(f"{where}.{field}: expected a list of public key paths.")
        keys[field] = tuple(root / v for v in values)
        for path in keys[field]:
            read_public_key(path, f"{where}.{field}")
    stages = section.get("signed_stages") or []
    if stages and not keys["release_keys"]:
        raise EvalpinError(
            f"{where}.signed_stages {stages}: list the keys releases must be signed by under release_keys."
        )
    return Policy(keys["publisher_keys"], keys["release_keys"], tuple(stages))


def enforce_policy(root: Path, lock: Lock, policy: Policy) -> list[str]:
    """The pipeline's verify stage: fail-closed on every requirement of conf/signing/. What was checked."""
    done = []
    if policy.publisher_keys:
        locks = [lock]
        if lock.base:
            locks.append(load_lock(project.lock_path(root, lock.base.name)))
        allowed = {key_fingerprint(k.read_bytes()): k for k in policy.publisher_keys}
        for one in locks:
            if one.signed is None or one.signed.method != "key" or one.signed.signer not in allowed:
                who = "unsigned" if one.signed is None else f"signed by {one.signed.signer}"
                raise EvalpinError(
                    f"models/{one.name}.lock.json: conf/signing/ requires a publisher signature by one of "
                    f"{', '.join(rel(root, k) for k in policy.publisher_keys)}; this delivery is {who}. "
                    f"Re-pin with `evalpin pin ... --signature FILE --public-key PEM`."
                )
            done.append(recheck_publisher(root, one, Trust(public_key=allowed[one.signed.signer])))
    if policy.signed_stages:
        for tag in stage_versions(root, policy.signed_stages):
            verify_release(root, tag, list(policy.release_keys), workspace=False)
            done.append(f"{tag}: release signature verified")
    return done


def stage_versions(root: Path, stages: tuple[str, ...]) -> list[str]:
    """NAME@vX.Y.Z of every version active in one of `stages` (gto), not only the latest one."""
    from gto.api import show

    tags = []
    for name, row in show(str(root), versions_per_stage=-1).items():  # {name: {"stage": {stage: "v1, v2"}}}
        for stage in stages:
            versions = (row.get("stage") or {}).get(stage) or ""
            tags += [f"{name}@{v.strip()}" for v in versions.split(",") if v.strip()]
    return sorted(set(tags))
