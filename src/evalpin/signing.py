"""Signatures: who pinned a delivery and who released an evaluation, in OpenSSF's model-signing format.

A lock proves that today's files are the files pinned, not who pinned them: anyone who can push can re-pin,
rewrite the lock and the golden file together, and every check passes. Signatures close that gap.

- **Publisher signatures** (`evalpin pin --signature FILE --public-key PEM`, or a certificate chain, or a
  Sigstore identity): the upstream's model-signing bundle is checked against the staged bytes before
  anything lands, kept beside the lock as `models/NAME.publisher.sig` (with the public key or chain as
  `models/NAME.publisher.pub` / `.publisher-chain.pem`), and recorded in the lock as `signed`.
  `evalpin restore` re-checks it.
- **Release signatures** (`evalpin release NAME --sign-key PEM`): two things, signed by the team's key.
  1. `models/NAME.sig`: a model-signing bundle over `models/NAME/` (what `model_signing sign key` writes,
     so `model_signing verify key models/NAME --signature models/NAME.sig --public_key PUB` accepts it).
     It depends only on the delivery's bytes, so it is committed (by the release, when it is new) before
     the tag.
  2. A signed **release statement**: an in-toto Statement (predicate RELEASE_PREDICATE) naming the tag, the
     commit and its tree, the lock digest, the pinned datasets, the composed config's digest, the
     metrics, the output fingerprint, and the sha256 of every git-tracked file the evaluation rests on
     (the lock, the golden file, models/NAME.sig, params.yaml, dvc.lock, eval/*.json ...), in a DSSE
     envelope signed with the same key. A statement naming the tagged commit cannot live inside that
     commit (its hash would change), and a follow-up commit would make the release tag point past the
     evaluated commit. So it lives in the **annotated tag's message** (between STATEMENT_BEGIN and
     STATEMENT_END): the tag exists only once the commit does, travels with `git push origin TAG`
     (git notes are not fetched by default), and gto, which owns the tag, ignores the extra text. A tag
     moved to another commit, or the statement copied to another tag, no longer matches what it names.

Rewriting a delivery together with its lock and golden file is caught: the statement covers the lock's
and the golden file's bytes, and models/NAME.sig covers the delivery's bytes.

Keys: private keys never enter git. A signing key inside the repository is refused (realpath against the
repository root), as is a "public" key file holding a private key. The trust anchor is the public key
you verify with: `--public-key` from outside the repository is the strong form; keys listed in
conf/signing/ are only as trustworthy as whoever can push to conf/ (the README says so).

model_signing is imported only here, and only inside functions: `evalpin --help` stays fast.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evalpin import project
from evalpin.atomic import write_atomic
from evalpin.errors import DriftError, EvalpinError
from evalpin.hashing import sha256_files
from evalpin.lock import Lock, Signed

RELEASE_PREDICATE = "https://evalpin.dev/release/v1"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_BEGIN = "-----BEGIN EVALPIN SIGNED RELEASE STATEMENT-----"
STATEMENT_END = "-----END EVALPIN SIGNED RELEASE STATEMENT-----"
SIGN_KEY_ENV = "EVALPIN_SIGN_KEY"  # the configured signing key path (outside the repository)


# ---------------------------------------------------------------------------------------------- paths
def delivery_signature_path(root: Path, name: str) -> Path:
    return root / project.MODELS_DIR / f"{name}.sig"


def publisher_signature_path(root: Path, name: str) -> Path:
    return root / project.MODELS_DIR / f"{name}.publisher.sig"


def publisher_key_path(root: Path, name: str) -> Path:
    return root / project.MODELS_DIR / f"{name}.publisher.pub"


def publisher_chain_path(root: Path, name: str) -> Path:
    return root / project.MODELS_DIR / f"{name}.publisher-chain.pem"


def rel(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------------------------- keys
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


# ------------------------------------------------------------------------------ model-signing bundles
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
    from evalpin.lock import list_delivery
    from evalpin.table import columns

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

    fd, tmp = tempfile.mkstemp(dir=signature.parent, prefix=f".{signature.name}.", suffix=".tmp")
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


# ------------------------------------------------------------------------ publisher signature (pin)
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


# ------------------------------------------------------------------------------------ release (tag)
def sign_delivery(root: Path, name: str, private_key: Path) -> bool:
    """models/NAME.sig over models/NAME/, unless the one there already verifies with this key.
    True when a new signature was written."""
    signature = delivery_signature_path(root, name)
    public = public_pem_of(private_key)
    if signature.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            pub = Path(tmp) / "key.pub"
            pub.write_bytes(public)
            try:
                verify_bundle(project.model_dir(root, name), signature, Trust(public_key=pub), name)
                return False
            except EvalpinError:
                pass  # another key, or another delivery: sign again
    sign_directory(project.model_dir(root, name), private_key, signature)
    return True


def git_bytes(root: Path, rev: str, path: str) -> bytes | None:
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, check=False)
    return proc.stdout if proc.returncode == 0 else None


def covered_files(root: Path, lock: Lock) -> list[str]:
    """The git-tracked files an evaluation of NAME rests on (those that exist)."""
    names = [lock.name, *([lock.base.name] if lock.base else [])]
    candidates = [
        *(
            f"{project.MODELS_DIR}/{n}{suffix}"
            for n in names
            for suffix in (
                ".lock.json",
                ".golden.json",
                ".dvc",
                ".sig",
                ".publisher.sig",
                ".publisher.pub",
                ".publisher-chain.pem",
            )
        ),
        *(f"{project.CONF_DIR}/model/{n}.yaml" for n in names),
        project.PARAMS_FILE,
        "dvc.yaml",
        "dvc.lock",
        "eval/verified.json",
        "eval/metrics.json",
        "eval/fingerprint.json",
        *sorted(  # the pinned datasets: their locks, DVC pointers, and what conf/data/ accepts
            p.relative_to(root).as_posix()
            for pattern in ("*.lock.json", "*.dvc")
            for p in (root / project.DATA_DIR).glob(pattern)
        ),
        *sorted(p.relative_to(root).as_posix() for p in (root / project.CONF_DIR / "data").glob("*.yaml")),
    ]
    return [p for p in candidates if (root / p).is_file()]


def release_statement(root: Path, lock: Lock, tag: str) -> dict:
    """The in-toto statement of a release, from the workspace (clean: release checked it) at HEAD."""
    from evalpin.compose import load_params
    from evalpin.evaluate import FINGERPRINT_FILE, METRICS_FILE

    metrics = json.loads((root / METRICS_FILE).read_text())
    fingerprint = json.loads((root / FINGERPRINT_FILE).read_text())
    params = load_params(root)
    datasets = {
        d["name"]: {"revision": d["revision"], "lock_digest": d["lock_digest"]}
        for d in (t.get("data") for t in fingerprint["suite"]["tasks"].values())
        if d
    }
    files = covered_files(root, lock)
    digests = sha256_files(root / p for p in files)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"{project.MODELS_DIR}/{lock.name}", "digest": {"sha256": lock.digest}}],
        "predicateType": RELEASE_PREDICATE,
        "predicate": {
            "tag": tag,
            "commit": project.git(root, "rev-parse", "HEAD"),
            "tree": project.git(root, "rev-parse", "HEAD^{tree}"),
            "delivery": {
                "name": lock.name,
                "repo_id": lock.source.repo_id,
                "revision": lock.source.revision,
                "lock_digest": lock.digest,
                **({"base": lock.base.name, "base_lock_digest": lock.base.lock_digest} if lock.base else {}),
            },
            "datasets": datasets,
            "config_digest": hashlib.sha256(
                json.dumps(params, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest(),
            "metrics": {task: row["score"] for task, row in metrics["tasks"].items()},
            "output_fingerprint": fingerprint.get("output_fingerprint"),
            "files": {p: digests[root / p] for p in files},
        },
    }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_statement(statement: dict, private_key: Path) -> dict:
    """A DSSE envelope (the in-toto statement, ECDSA-SHA256 over PAE), keyid = the key's fingerprint."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    sig = key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {"keyid": key_fingerprint(public_pem_of(private_key)), "sig": base64.b64encode(sig).decode()}
        ],
    }


def tag_block(envelope: dict) -> str:
    """The envelope as compact JSON (no spaces: its strings are base64), folded at 76 columns."""
    text = json.dumps(envelope, sort_keys=True, separators=(",", ":"))
    lines = [text[i : i + 76] for i in range(0, len(text), 76)]
    return "\n".join([STATEMENT_BEGIN, *lines, STATEMENT_END]) + "\n"


def envelope_from_message(message: str, tag: str) -> dict | None:
    if STATEMENT_BEGIN not in message:
        return None
    try:
        body = message.split(STATEMENT_BEGIN, 1)[1].split(STATEMENT_END, 1)[0]
        return json.loads("".join(body.split()))
    except (ValueError, IndexError) as exc:
        raise EvalpinError(
            f"tag {tag}: its release statement block is damaged ({exc}); the tag message was edited. "
            "Fetch the tag again from the team's remote (`git fetch --force origin tag TAG`)."
        ) from exc


def open_envelope(envelope: dict, keys: list[Path], tag: str) -> dict:
    """The statement, if one signature verifies with one of `keys`; else EvalpinError."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        sigs = [base64.b64decode(s["sig"], validate=True) for s in envelope["signatures"]]
        payload_type = envelope["payloadType"]
    except (KeyError, TypeError, ValueError) as exc:
        raise EvalpinError(f"tag {tag}: the release statement is not a DSSE envelope ({exc}).") from exc
    for key_path in keys:
        public = serialization.load_pem_public_key(read_public_key(key_path, "release key"))
        for sig in sigs:
            try:
                public.verify(sig, pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            statement = json.loads(payload)
            if statement.get("predicateType") != RELEASE_PREDICATE or payload_type != PAYLOAD_TYPE:
                raise EvalpinError(f"tag {tag}: the signed payload is not an evalpin release statement.")
            return statement
    raise EvalpinError(
        f"tag {tag}: the release statement's signature does not verify with "
        f"{', '.join(map(str, keys))}. The statement was altered after signing, or signed by another key: "
        "do not use this release until the team's release key verifies it."
    )


def tag_message(root: Path, tag: str) -> str:
    if not project.git(root, "tag", "--list", tag):
        raise EvalpinError(f"{tag}: no such tag here (`git fetch --tags`, or see `gto show`).")
    if project.git(root, "cat-file", "-t", tag) != "tag":
        raise EvalpinError(f"{tag}: a lightweight tag carries no release statement; release with evalpin.")
    return project.git(root, "tag", "--list", "--format=%(contents)", tag)


def release_tags_at(root: Path, rev: str, name: str | None = None) -> list[str]:
    """The release tags (gto's annotated NAME@vX.Y.Z) at `rev`; a lightweight tag carries no release."""
    pattern = f"refs/tags/{name}@v*" if name else "refs/tags/*@v*"
    found = project.git(
        root, "for-each-ref", "--points-at", rev, "--format=%(objecttype) %(refname:short)", pattern
    )
    return sorted(line.split(" ", 1)[1] for line in found.splitlines() if line.startswith("tag "))


def verify_release(root: Path, tag: str, keys: list[Path], workspace: bool) -> dict:
    """Check a release's statement: its signature, that the tag points at the commit it names, and that
    every file it covers has the signed bytes (in the workspace, or at the commit). The statement."""
    if not keys:
        raise EvalpinError(
            f"tag {tag}: no release key to verify with. Pass --public-key PEM (the team's release public "
            "key, from outside the repository), or list it under `release_keys` in conf/signing/."
        )
    envelope = envelope_from_message(tag_message(root, tag), tag)
    if envelope is None:
        raise EvalpinError(
            f"tag {tag}: not signed (its message carries no release statement). Release with "
            "`evalpin release NAME --sign-key PEM`, or drop the signature requirement for it."
        )
    statement = open_envelope(envelope, keys, tag)
    predicate = statement["predicate"]
    commit = project.git(root, "rev-parse", f"{tag}^{{commit}}")
    if predicate.get("tag") != tag or predicate.get("commit") != commit:
        raise EvalpinError(
            f"tag {tag}: the signed statement is for {predicate.get('tag')} at {predicate.get('commit')}, "
            f"but this tag points at {commit}: the tag was moved or the statement copied. Refusing it."
        )
    if workspace:
        head = project.git(root, "rev-parse", "HEAD")
        if head != commit:
            raise EvalpinError(
                f"tag {tag}: HEAD is {head[:12]}, the release is {commit[:12]}: `git checkout {tag}` first."
            )
    changed = []
    for path, expected in sorted(predicate["files"].items()):
        if workspace:
            actual = sha256_files([root / path])[root / path] if (root / path).is_file() else None
        else:
            data = git_bytes(root, commit, path)
            actual = None if data is None else hashlib.sha256(data).hexdigest()
        if actual != expected:
            changed.append((path, expected, actual))
    if changed:
        from evalpin.table import columns

        rows = [("file", "signed", "actual")] + [(p, e[:12], (a or "missing")[:12]) for p, e, a in changed]
        raise DriftError(
            f"{changed[0][0]}: differs from what release {tag} signed:\n{columns(rows)}\n"
            f"Restore the released files (`git checkout {tag} -- {' '.join(p for p, _, _ in changed)}`); "
            "a lock or golden file rewritten after the release is exactly what this check refuses."
        )
    return statement


def verify_release_delivery(root: Path, statement: dict, keys: list[Path]) -> str:
    """models/NAME against models/NAME.sig, with the release key (the model_signing library)."""
    name = statement["predicate"]["delivery"]["name"]
    signature = delivery_signature_path(root, name)
    if f"{project.MODELS_DIR}/{name}.sig" not in statement["predicate"]["files"]:
        raise EvalpinError(
            f"release {statement['predicate']['tag']}: the statement covers no models/{name}.sig."
        )
    last: EvalpinError | None = None
    for key in keys:
        try:
            verify_bundle(project.model_dir(root, name), signature, Trust(public_key=key), f"models/{name}")
            fingerprint = key_fingerprint(key.read_bytes())[:19]
            return f"models/{name}: matches models/{name}.sig (model-signing, key {fingerprint})"
        except DriftError:
            raise
        except EvalpinError as exc:
            last = exc
    assert last is not None
    raise last


# ---------------------------------------------------------------------------------------- policy
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
    from evalpin.compose import load_params

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
            from evalpin.lock import load_lock

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
