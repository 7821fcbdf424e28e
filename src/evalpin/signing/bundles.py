"""model-signing bundles: whom to trust, checking a bundle over a directory, writing one.

model_signing is imported only inside functions: `evalpin --help` stays fast."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evalpin.base.atomic import temp_prefix
from evalpin.base.errors import DriftError, EvalpinError
from evalpin.base.hashing import sha256_files
from evalpin.base.table import columns
from evalpin.delivery.inventory import list_delivery
from evalpin.signing.keys import read_public_key


@dataclass(frozen=True)
class Trust:
    """How to check a model-signing bundle: an EC public key, a certificate chain, or a Sigstore identity."""

    public_key: Path | None = None
    certificate_chain: tuple[Path, ...] = ()
    identity: str | None = None
    oidc_issuer: str | None = None

    @property
    def method(self) -> str:
        if self.public_key:
            return "key"
        return "sigstore" if self.identity else "certificate"


def check_trust(trust: Trust) -> None:
    given = [bool(trust.public_key), bool(trust.certificate_chain), bool(trust.identity or trust.oidc_issuer)]
    if sum(given) != 1:
        raise EvalpinError(
            "pin --signature: say whom to trust, exactly one of: --public-key PEM, --certificate-chain PEM "
            "(repeatable), or --certificate-identity with --certificate-oidc-issuer (Sigstore keyless)."
        )
    if (trust.identity and not trust.oidc_issuer) or (trust.oidc_issuer and not trust.identity):
        raise EvalpinError(
            "pin --signature: --certificate-identity and --certificate-oidc-issuer go together."
        )
    if trust.public_key:
        read_public_key(trust.public_key)


def bundle_resources(signature: Path) -> dict[str, str]:
    """The files a model-signing bundle names (path -> sha256 hex), read from its DSSE payload.
    Only meaningful once the bundle's signature verified."""
    return bundle_manifest(signature)[0]


def bundle_manifest(signature: Path) -> tuple[dict[str, str], list[str]]:
    """(path -> sha256 hex, the paths the signer ignored) from a model-signing bundle's payload."""
    try:
        bundle = json.loads(signature.read_text())
        payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        resources = {r["name"]: r["digest"] for r in payload["predicate"]["resources"]}
        return resources, list(payload["predicate"].get("serialization", {}).get("ignore_paths", []))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EvalpinError(f"{signature}: not a model-signing bundle (file serialization): {exc}") from exc


def verify_bundle(directory: Path, signature: Path, trust: Trust, what: str) -> None:
    """Check a model-signing bundle over `directory` with the model_signing library, fail-closed.
    A wrong key or a forged bundle: EvalpinError; bytes that differ from what was signed: DriftError
    naming each file."""
    import model_signing

    if not signature.is_file():
        raise EvalpinError(f"{signature}: signature file not found ({what}).")
    for path in (trust.public_key, *trust.certificate_chain):
        if path is not None and not path.is_file():
            raise EvalpinError(
                f"{path}: the key or certificate to check {rel_or(signature)} with is missing. Restore it "
                f"(`git checkout -- {rel_or(path)}`), or pass the publisher's key again (re-pin)."
            )
    try:
        config = model_signing.verifying.Config()
        if trust.public_key:
            config.use_elliptic_key_verifier(public_key=trust.public_key)
        elif trust.identity:  # Sigstore's trust root: fetched (TUF) and cached, so the network once
            config.use_sigstore_verifier(identity=trust.identity, oidc_issuer=trust.oidc_issuer or "")
        else:
            config.use_certificate_verifier(certificate_chain=list(trust.certificate_chain))
        config.verify(directory, signature)
    except ValueError as exc:
        if str(exc).startswith("Signature mismatch"):  # the bundle verified; the bytes differ
            raise DriftError(
                f"{what}: the files differ from what {rel_or(signature)} signed:\n"
                + describe_mismatch(directory, *bundle_manifest(signature))
                + "\nRestore the signed bytes (`dvc checkout`, `evalpin restore`), or re-pin and re-sign."
            ) from exc
        raise EvalpinError(
            f"{rel_or(signature)}: the signature does not verify with {describe_trust(trust)} ({exc}). "
            "Either the bundle was altered or it was signed by another key: get the signer's public key "
            "out of band, and refuse the delivery until it verifies."
        ) from exc
    except Exception as exc:  # model_signing raises cryptography's and sigstore's own errors too
        raise EvalpinError(
            f"{rel_or(signature)}: the signature does not verify with {describe_trust(trust)} "
            f"({type(exc).__name__}: {exc}). Refusing {what}."
        ) from exc


def rel_or(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def describe_trust(trust: Trust) -> str:
    if trust.public_key:
        return f"public key {trust.public_key}"
    if trust.identity:
        return f"Sigstore identity {trust.identity} (issuer {trust.oidc_issuer})"
    return f"certificate chain {', '.join(map(str, trust.certificate_chain))}"


def describe_mismatch(directory: Path, signed: dict[str, str], ignored: list[str]) -> str:
    """file / drift / signed / actual, one row per file that differs from the signed manifest (the paths
    the signer ignored, and what lies under them, are left out as model-signing leaves them out)."""

    def skipped(path: str) -> bool:
        return any(path == i or path.startswith(f"{i.rstrip('/')}/") for i in ignored)

    present = {p for p in list_delivery(directory) if not skipped(p)}
    rows = [("file", "drift", "signed", "actual")]
    digests = sha256_files(directory / p for p in sorted(present & signed.keys()))
    for path in sorted(present | signed.keys()):
        if path not in present:
            rows.append((path, "missing", signed[path][:12], "-"))
        elif path not in signed:
            rows.append((path, "extra (unsigned)", "-", "?"))
        elif digests[directory / path] != signed[path]:
            rows.append((path, "changed", signed[path][:12], digests[directory / path][:12]))
    return columns(rows)


def sign_directory(directory: Path, private_key: Path, signature: Path) -> None:
    """Write a model-signing bundle over `directory` (model_signing's defaults: file serialization,
    sha256, git files ignored), whole or not at all."""
    import model_signing

    fd, tmp = tempfile.mkstemp(dir=signature.parent, prefix=temp_prefix(f".{signature.name}"), suffix=".tmp")
    os.close(fd)
    try:
        hashing = model_signing.hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=True)
        config = model_signing.signing.Config().use_elliptic_key_signer(private_key=private_key)
        config.set_hashing_config(hashing).sign(directory, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, signature)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
