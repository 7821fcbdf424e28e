"""The release statement: the facts of a release (an in-toto Statement), and its signed DSSE envelope as
a block of the annotated tag's message (signing/__init__ says why it lives there)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from evalpin.base import outs, project
from evalpin.base.errors import EvalpinError
from evalpin.base.hashing import sha256_files
from evalpin.base.numerics import class_of
from evalpin.config.compose import load_params
from evalpin.delivery.lock import Lock
from evalpin.delivery.sources import asserted_origin
from evalpin.signing.keys import key_fingerprint, public_pem_of, read_public_key

RELEASE_PREDICATE = "https://evalpin.dev/release/v1"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_BEGIN = "-----BEGIN EVALPIN SIGNED RELEASE STATEMENT-----"
STATEMENT_END = "-----END EVALPIN SIGNED RELEASE STATEMENT-----"


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
        outs.VERIFIED_FILE,
        outs.METRICS_FILE,
        outs.FINGERPRINT_FILE,
        *sorted(  # the pinned datasets: their locks, DVC pointers, and what conf/data/ accepts
            p.relative_to(root).as_posix()
            for pattern in ("*.lock.json", "*.dvc")
            for p in (root / project.DATA_DIR).glob(pattern)
        ),
        *sorted(p.relative_to(root).as_posix() for p in (root / project.CONF_DIR / "data").glob("*.yaml")),
    ]
    return [p for p in candidates if (root / p).is_file()]


def release_statement(root: Path, lock: Lock, tag: str) -> dict:
    """The facts of a release, as an in-toto statement, from the workspace (clean: release checked it) at
    HEAD: what the signature covers, and what the tag message is rendered from (release.tag_message)."""

    metrics = json.loads((root / outs.METRICS_FILE).read_text())
    fingerprint = json.loads((root / outs.FINGERPRINT_FILE).read_text())
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
                **({"origin": origin} if (origin := asserted_origin(lock.source.provenance)) else {}),
                **(base_facts(lock) if lock.base else {}),
            },
            "datasets": datasets,
            "config_digest": hashlib.sha256(
                json.dumps(params, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest(),
            "metrics": {task: row["score"] for task, row in metrics["tasks"].items()},
            "suite_score": metrics["suite"]["score"],
            "output_fingerprint": fingerprint.get("output_fingerprint"),
            "numerics_class": class_of(fingerprint),  # what computed the scores (docs/reproduction.md)
            "files": {p: digests[root / p] for p in files},
        },
    }


def base_facts(lock: Lock) -> dict[str, str]:
    """The base an adapter was certified on, as the statement names it."""
    assert lock.base is not None
    base = lock.base
    return {
        "base": base.name,
        "base_lock_digest": base.lock_digest,
        "base_repo_id": base.repo_id,
        "base_revision": base.revision,
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
