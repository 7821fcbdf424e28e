"""Keys: EC public keys to verify with, the private signing key (never inside the repository)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from evalpin.base.errors import EvalpinError

SIGN_KEY_ENV = "EVALPIN_SIGN_KEY"  # the configured signing key path (outside the repository)


def read_public_key(path: Path, where: str = "--public-key") -> bytes:
    """A PEM public key's bytes; a private key, or anything that is not an EC public key, is refused."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if not path.is_file():
        raise EvalpinError(f"{where} {path}: no such file. Give the path of a PEM public key.")
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        raise EvalpinError(
            f"{where} {path}: this file holds a PRIVATE key. Verification needs only the public key "
            "(`openssl ec -in KEY -pubout -out KEY.pub`); if it is tracked by git, remove it from the "
            "history and rotate the key."
        )
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise EvalpinError(f"{where} {path}: not a PEM public key ({exc}).") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise EvalpinError(f"{where} {path}: model-signing keys are elliptic-curve (P-256/384/521) keys.")
    return data


def key_fingerprint(public_pem: bytes) -> str:
    """ "sha256:" + sha256 of the key's PEM SubjectPublicKeyInfo: model-signing's bundle hint."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(public_pem)
    canonical = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def resolve_sign_key(root: Path, path: Path | None) -> Path:
    """The private key to sign with: --sign-key, else $EVALPIN_SIGN_KEY. Refused inside the repository."""
    if path is None:
        configured = os.environ.get(SIGN_KEY_ENV)
        if not configured:
            raise EvalpinError(
                f"release: no signing key. Pass --sign-key PEM or set {SIGN_KEY_ENV}=PATH, a private key "
                "kept outside the repository."
            )
        path = Path(configured)
    real = path.expanduser().resolve()
    if real.is_relative_to(root.resolve()):
        raise EvalpinError(
            f"--sign-key {path}: the private key is inside the repository ({real}). Keys never enter git: "
            "move it outside (e.g. ~/.config/evalpin/release.pem, mode 600), and if it was ever committed, "
            "remove it from the history and rotate it."
        )
    if not real.is_file():
        raise EvalpinError(f"--sign-key {path}: no such file. Give the path of a PEM private key.")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_private_key(real.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise EvalpinError(
            f"--sign-key {path}: not an unencrypted PEM private key ({exc}). Generate one: `openssl "
            "ecparam -name prime256v1 -genkey -noout -out release.pem` (outside the repository)."
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise EvalpinError(f"--sign-key {path}: model-signing signs with elliptic-curve keys (P-256).")
    return real


def public_pem_of(private_key: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
