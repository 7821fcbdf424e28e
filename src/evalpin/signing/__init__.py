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

model_signing is imported only in signing/bundles.py, and only inside functions: `evalpin --help` stays fast.

One module per concept: paths (where signatures live), keys, bundles (model-signing), publisher (pin),
statement (the release facts and their DSSE envelope), release (the tag), policy (conf/signing/).
"""

from __future__ import annotations

from evalpin.signing.bundles import Trust, check_trust, verify_bundle
from evalpin.signing.keys import SIGN_KEY_ENV, key_fingerprint, read_public_key, resolve_sign_key
from evalpin.signing.paths import delivery_signature_path
from evalpin.signing.policy import Policy, enforce_policy, load_policy
from evalpin.signing.publisher import check_publisher, recheck_publisher, store_publisher
from evalpin.signing.release import (
    read_tag_message,
    release_tags_at,
    sign_delivery,
    verify_release,
    verify_release_delivery,
)
from evalpin.signing.statement import (
    STATEMENT_BEGIN,
    envelope_from_message,
    open_envelope,
    release_statement,
    sign_statement,
    tag_block,
)

__all__ = [
    "SIGN_KEY_ENV",
    "STATEMENT_BEGIN",
    "Policy",
    "Trust",
    "check_publisher",
    "check_trust",
    "delivery_signature_path",
    "enforce_policy",
    "envelope_from_message",
    "key_fingerprint",
    "load_policy",
    "open_envelope",
    "read_public_key",
    "read_tag_message",
    "recheck_publisher",
    "release_statement",
    "release_tags_at",
    "resolve_sign_key",
    "sign_delivery",
    "sign_statement",
    "store_publisher",
    "tag_block",
    "verify_bundle",
    "verify_release",
    "verify_release_delivery",
]
