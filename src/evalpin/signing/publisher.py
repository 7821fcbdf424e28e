"""The publisher's signature: checked on the staged bytes at pin time, kept beside the lock, re-checked."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from evalpin.base import project
from evalpin.base.atomic import write_atomic
from evalpin.base.errors import DriftError, EvalpinError
from evalpin.delivery.lock import Lock, Signed
from evalpin.signing.bundles import Trust, bundle_resources, check_trust, verify_bundle
from evalpin.signing.keys import key_fingerprint, read_public_key
from evalpin.signing.paths import publisher_chain_path, publisher_key_path, publisher_signature_path, rel


def check_publisher(staged: Path, lock: Lock, signature: Path, trust: Trust, where: str) -> Signed:
    """Verify the publisher's bundle over the staged delivery; the lock's `signed` record."""
    check_trust(trust)
    verify_bundle(staged, signature, trust, f"{where} (pin --signature {signature})")
    covered = bundle_resources(signature)
    unsigned = tuple(f.path for f in lock.files if f.path not in covered)
    return Signed(
        method=trust.method,
        signer=signer_of(signature, trust),
        signature=f"{project.MODELS_DIR}/{lock.name}.publisher.sig",
        sha256=hashlib.sha256(signature.read_bytes()).hexdigest(),
        unsigned=unsigned,
        issuer=trust.oidc_issuer,
    )


def signer_of(signature: Path, trust: Trust) -> str:
    if trust.public_key:
        return key_fingerprint(trust.public_key.read_bytes())
    if trust.identity:
        return trust.identity
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    bundle = json.loads(signature.read_text())
    material = bundle["verificationMaterial"]
    chain = material.get("x509CertificateChain", {}).get("certificates") or [material.get("certificate")]
    leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0]["rawBytes"]))
    return f"sha256:{leaf.fingerprint(hashes.SHA256()).hex()} {leaf.subject.rfc4514_string()}"


def store_publisher(root: Path, name: str, signature: Path | None, trust: Trust | None) -> None:
    """Keep the publisher's bundle (and the key or chain it verified with) beside the lock, in git.
    A re-pin without --signature removes the previous delivery's files."""
    bundle, key, chain = (
        publisher_signature_path(root, name),
        publisher_key_path(root, name),
        publisher_chain_path(root, name),
    )
    kept: dict[Path, bytes] = {}  # read before anything is removed: the source may be the kept file itself
    if signature is not None and trust is not None:
        kept[bundle] = signature.read_bytes()
        if trust.public_key:
            kept[key] = trust.public_key.read_bytes()
        elif trust.certificate_chain:
            kept[chain] = b"".join(p.read_bytes() for p in trust.certificate_chain)
    for path in (bundle, key, chain):
        if path in kept:
            write_atomic(path, kept[path])
        else:
            path.unlink(missing_ok=True)


def stored_trust(root: Path, lock: Lock) -> Trust:
    """The trust a lock's publisher signature was checked with, from the files kept beside it."""
    signed = lock.signed
    assert signed is not None
    if signed.method == "key":
        key = publisher_key_path(root, lock.name)
        if key.is_file() and key_fingerprint(read_public_key(key, rel(root, key))) != signed.signer:
            raise EvalpinError(
                f"{rel(root, key)}: this key's fingerprint is not the lock's signed.signer "
                f"({signed.signer}). "
                f"Restore it (`git checkout -- {rel(root, key)}`) or re-pin with --signature."
            )
        return Trust(public_key=key)
    if signed.method == "sigstore":
        return Trust(identity=signed.signer, oidc_issuer=signed.issuer)
    return Trust(certificate_chain=(publisher_chain_path(root, lock.name),))


def recheck_publisher(root: Path, lock: Lock, trust: Trust | None = None) -> str:
    """Re-verify a lock's publisher signature over models/NAME (restore, the signature policy)."""
    signed = lock.signed
    if signed is None:
        raise EvalpinError(f"models/{lock.name}.lock.json: no publisher signature (field 'signed').")
    signature = root / signed.signature
    if not signature.is_file():
        raise EvalpinError(
            f"{signed.signature}: the publisher's signature recorded in models/{lock.name}.lock.json is "
            f"missing. Restore it from git (`git checkout -- {signed.signature}`)."
        )
    actual = hashlib.sha256(signature.read_bytes()).hexdigest()
    if actual != signed.sha256:
        raise DriftError(
            f"{signed.signature}: sha256 {actual[:12]} is not the lock's signed.sha256 {signed.sha256[:12]}: "
            f"the bundle was replaced. Restore it (`git checkout -- {signed.signature}`) or re-pin."
        )
    trust = trust or stored_trust(root, lock)
    verify_bundle(project.model_dir(root, lock.name), signature, trust, f"models/{lock.name}")
    return f"publisher signature verified ({signed.method} {signed.signer})"
