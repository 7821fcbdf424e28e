"""Release signatures: models/NAME.sig over the delivery, and checking a release tag's signed statement."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from evalpin.base import project
from evalpin.base.errors import DriftError, EvalpinError
from evalpin.base.hashing import sha256_files
from evalpin.base.table import columns
from evalpin.signing.bundles import Trust, sign_directory, verify_bundle
from evalpin.signing.keys import key_fingerprint, public_pem_of
from evalpin.signing.paths import delivery_signature_path
from evalpin.signing.statement import envelope_from_message, open_envelope


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


def read_tag_message(root: Path, tag: str) -> str:
    """The annotated tag's message (a lightweight tag has none: refused)."""
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
    envelope = envelope_from_message(read_tag_message(root, tag), tag)
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
            data, _ = project.git_show(root, commit, path)
            actual = None if data is None else hashlib.sha256(data).hexdigest()
        if actual != expected:
            changed.append((path, expected, actual))
    if changed:
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
