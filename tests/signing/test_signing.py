"""Signatures (evalpin.signing): real model_signing library and its real CLI, keys generated here, offline.

Interop both ways: a directory signed by `model_signing sign key` is pinned and re-checked by evalpin;
the delivery signature `evalpin release --sign-key` writes is accepted by `model_signing verify key`.
Tampering after signing (a delivery file, the lock, the golden file, the statement) is caught each time.
"""

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evalpin import signing
from evalpin.delivery.inventory import build_lock
from evalpin.delivery.lock import load_lock, save_lock
from support import (
    HUB_REPO,
    TEMPLATE,
    copy_repo,
    demo_commit,
    evalpin,
    evalpin_in_process,
    git,
    pin_demo,
    read_json,
)

MODEL_SIGNING = [sys.executable, "-m", "model_signing"]


def signed_by(bundle: Path, public_key: Path) -> tuple[str, ...]:
    return ("--signature", str(bundle), "--public-key", str(public_key))


def make_key(directory: Path, name: str) -> tuple[Path, Path]:
    """An EC P-256 key pair as PEM files: (private, public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def publisher_copy(tmp_path: Path, ref: str = "r1") -> Path:
    """The publisher's own directory of the demo commit (real files: model-signing refuses symlinks)."""
    model = tmp_path / "publisher" / "demo-tiny"
    shutil.copytree(HUB_REPO / "snapshots" / demo_commit(ref), model, symlinks=False)
    return model


def sign_with_cli(model: Path, private: Path, signature: Path) -> None:
    proc = subprocess.run(
        [
            *MODEL_SIGNING,
            "sign",
            "key",
            str(model),
            "--private_key",
            str(private),
            "--signature",
            str(signature),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------ publisher signatures
def test_a_delivery_signed_by_model_signings_cli_is_pinned_and_restore_rechecks_it(pinned_repo, tmp_path):
    private, public = make_key(tmp_path / "keys", "publisher")
    bundle = tmp_path / "demo-tiny.sig"
    sign_with_cli(publisher_copy(tmp_path), private, bundle)
    proc = pin_demo(pinned_repo, "r1", "--signature", str(bundle), "--public-key", str(public))
    fingerprint = signing.key_fingerprint(public.read_bytes())
    assert f"signed by the publisher: key {fingerprint}" in proc.stdout
    signed = read_json(pinned_repo / "models/demo-tiny.lock.json")["signed"]
    assert signed["method"] == "key" and signed["signer"] == fingerprint and signed["unsigned"] == []
    assert (pinned_repo / "models/demo-tiny.publisher.sig").read_bytes() == bundle.read_bytes()
    assert (pinned_repo / "models/demo-tiny.publisher.pub").read_bytes() == public.read_bytes()
    assert load_lock(pinned_repo / "models/demo-tiny.lock.json").signed.signer == fingerprint  # round trip

    shutil.rmtree(pinned_repo / "models/demo-tiny")
    shutil.rmtree(pinned_repo / ".dvc/cache")  # restore from the upstream, then re-check the signature
    proc = evalpin_in_process(pinned_repo, "restore", "demo-tiny")
    assert f"publisher signature verified (key {fingerprint})" in proc.stdout
    assert "publisher signature verified" in evalpin_in_process(pinned_repo, "verify", "--signatures").stdout

    # the kept bundle swapped for another (validly signed by someone else): restore refuses it
    other_private, _ = make_key(tmp_path / "keys", "other")
    sign_with_cli(
        publisher_copy(tmp_path / "o"), other_private, pinned_repo / "models/demo-tiny.publisher.sig"
    )
    proc = evalpin_in_process(pinned_repo, "restore", "demo-tiny", check=False)
    assert proc.returncode == 1 and "models/demo-tiny.publisher.sig: sha256" in proc.stderr
    # a re-pin without --signature forgets the publisher's files with the record
    pin_demo(pinned_repo, "r1")
    assert "signed" not in read_json(pinned_repo / "models/demo-tiny.lock.json")
    assert not (pinned_repo / "models/demo-tiny.publisher.sig").exists()


def test_a_signature_that_does_not_match_the_pinned_bytes_is_refused_naming_the_file(template_repo, tmp_path):
    private, public = make_key(tmp_path / "keys", "publisher")
    model = publisher_copy(tmp_path)
    bundle = tmp_path / "demo-tiny.sig"
    config = model / "generation_config.json"
    config.write_text(config.read_text().replace("}", ', "temperature": 0.1}', 1))  # signed, not served
    sign_with_cli(model, private, bundle)
    proc = pin_demo(template_repo, "r1", *signed_by(bundle, public), check=False)
    assert proc.returncode == 1, proc.stderr
    assert "differ from what" in proc.stderr and "generation_config.json" in proc.stderr
    assert "changed" in proc.stderr and "model.safetensors" not in proc.stderr  # only the file that differs
    assert not (template_repo / "models/demo-tiny").exists()  # nothing landed
    assert not (template_repo / "models/demo-tiny.lock.json").exists()

    _, stranger = make_key(tmp_path / "keys", "stranger")  # the right bytes, the wrong key
    sign_with_cli(publisher_copy(tmp_path / "ok"), private, bundle)
    proc = pin_demo(template_repo, "r1", *signed_by(bundle, stranger), check=False)
    assert proc.returncode == 2 and "does not verify with public key" in proc.stderr
    assert not (template_repo / "models/demo-tiny").exists()
    proc = pin_demo(template_repo, "r1", *signed_by(bundle, private), check=False)
    assert proc.returncode == 2 and "holds a PRIVATE key" in proc.stderr
    proc = pin_demo(template_repo, "r1", "--signature", str(bundle), check=False)
    assert proc.returncode == 2 and "exactly one of: --public-key" in proc.stderr


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a leaf certificate it issued for signing: (leaf key, leaf certificate, CA certificate)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    validity = dict(
        not_valid_before=now - datetime.timedelta(days=1), not_valid_after=now + datetime.timedelta(days=1)
    )
    ca = (
        x509.CertificateBuilder(issuer_name=name("test CA"), subject_name=name("test CA"), **validity)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(*[False] * 5, True, True, False, False), critical=True)  # cert+crl sign
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder(issuer_name=name("test CA"), subject_name=name("publisher"), **validity)
        .public_key(leaf_key.public_key())
        .serial_number(2)
        .add_extension(x509.KeyUsage(True, *[False] * 8), critical=True)  # digital signature
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True)
    paths = directory / "leaf.pem", directory / "leaf.crt", directory / "ca.crt"
    paths[0].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return paths


def test_a_delivery_signed_with_a_certificate_is_pinned_against_its_ca_offline(template_repo, tmp_path):
    leaf_key, leaf, ca = make_certificates(tmp_path / "pki")
    bundle = tmp_path / "demo-tiny.sig"
    model = publisher_copy(tmp_path)
    certificate = [
        "--signing_certificate",
        str(leaf),
        "--certificate_chain",
        str(ca),
        "--signature",
        str(bundle),
    ]
    proc = subprocess.run(
        [*MODEL_SIGNING, "sign", "certificate", str(model), "--private_key", str(leaf_key), *certificate],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    *_, other_ca = make_certificates(tmp_path / "other")
    proc = pin_demo(
        template_repo, "r1", "--signature", str(bundle), "--certificate-chain", str(other_ca), check=False
    )
    assert proc.returncode == 2 and "does not verify with certificate chain" in proc.stderr
    assert not (template_repo / "models/demo-tiny").exists()
    pin_demo(template_repo, "r1", "--signature", str(bundle), "--certificate-chain", str(ca))
    signed = read_json(template_repo / "models/demo-tiny.lock.json")["signed"]
    assert signed["method"] == "certificate" and signed["signer"].endswith(" CN=publisher")
    assert (template_repo / "models/demo-tiny.publisher-chain.pem").read_text() == ca.read_text()
    assert "publisher signature verified (certificate" in evalpin_in_process(template_repo, "restore").stdout


def test_the_policy_requires_a_publisher_signature_by_a_listed_key(pinned_repo, tmp_path):
    private, public = make_key(tmp_path / "keys", "publisher")
    bundle = tmp_path / "demo-tiny.sig"
    sign_with_cli(publisher_copy(tmp_path), private, bundle)
    keys = pinned_repo / "conf/signing/keys"
    keys.mkdir()
    shutil.copy(public, keys / "publisher.pub")
    make_key(keys, "other")
    set_policy(pinned_repo, "publisher_keys: [conf/signing/keys/publisher.pub]")
    proc = evalpin_in_process(pinned_repo, "verify", "--files-only", check=False)  # pinned unsigned
    assert proc.returncode == 2 and "models/demo-tiny.lock.json: conf/signing/ requires" in proc.stderr
    assert "this delivery is unsigned" in proc.stderr
    pin_demo(pinned_repo, "r1", "--signature", str(bundle), "--public-key", str(public))
    proc = evalpin_in_process(pinned_repo, "verify", "--files-only")
    assert "signing policy: publisher signature verified" in proc.stdout
    set_policy(pinned_repo, "publisher_keys: [conf/signing/keys/other.pub]")
    proc = evalpin_in_process(pinned_repo, "verify", "--files-only", check=False)
    assert proc.returncode == 2 and "this delivery is signed by sha256:" in proc.stderr
    (keys / "other.pub").write_bytes((tmp_path / "keys/publisher.pem").read_bytes())
    proc = evalpin_in_process(pinned_repo, "verify", "--files-only", check=False)
    assert proc.returncode == 2 and "holds a PRIVATE key" in proc.stderr


def set_policy(repo: Path, *lines: str) -> None:
    (repo / "conf/signing/default.yaml").write_text("\n".join(lines) + "\n")
    evalpin_in_process(repo, "compose")


# ------------------------------------------------------------------------------ release signatures
@pytest.fixture(scope="module")
def signed_release_origin(reproduced_repo_origin, tmp_path_factory):
    """demo-tiny@v1.0.0 released with --sign-key (key pair outside the repository), built once."""
    base = tmp_path_factory.mktemp("signed")
    repo = copy_repo(reproduced_repo_origin, base / "repo")
    evalpin_in_process(repo, "remote", "init-local", str(base / "remote"))
    private, public = make_key(base / "keys", "release")
    proc = evalpin_in_process(repo, "release", "demo-tiny", "-m", "baseline", "--sign-key", str(private))
    assert "released demo-tiny@v1.0.0" in proc.stdout and "signed models/demo-tiny" in proc.stdout
    return repo, private, public


@pytest.fixture
def signed_release(signed_release_origin, tmp_path):
    origin, private, public = signed_release_origin
    return copy_repo(origin, tmp_path / "repo"), private, public


@pytest.mark.slow  # the release fixture needs an evaluated repository
def test_a_signed_release_is_accepted_by_model_signings_cli_and_by_verify_signatures(signed_release):
    repo, _, public = signed_release
    assert git(repo, "status", "--porcelain").stdout == ""  # the signature was committed before the tag
    assert git(repo, "log", "-1", "--format=%s", "demo-tiny@v1.0.0").stdout.startswith(
        "Sign models/demo-tiny"
    )
    message = git(repo, "tag", "-l", "--format=%(contents)", "demo-tiny@v1.0.0").stdout
    assert "lock digest:" in message and signing.STATEMENT_BEGIN in message
    statement = signing.open_envelope(signing.envelope_from_message(message, "t"), [public], "t")
    predicate = statement["predicate"]
    assert predicate["tag"] == "demo-tiny@v1.0.0"
    assert predicate["commit"] == git(repo, "rev-parse", "HEAD").stdout.strip()
    assert {"models/demo-tiny.lock.json", "models/demo-tiny.golden.json", "models/demo-tiny.sig"} <= set(
        predicate["files"]
    )
    assert set(predicate["metrics"]) >= {"demo_color_mc"} and predicate["output_fingerprint"]
    proc = subprocess.run(  # the library's own CLI, with nothing but the public key
        [
            *MODEL_SIGNING,
            "verify",
            "key",
            "models/demo-tiny",
            "--signature",
            "models/demo-tiny.sig",
            "--public_key",
            str(public),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "Verification succeeded" in proc.stdout + proc.stderr
    git(repo, "tag", "demo-tiny@v9.9.9")  # a lightweight tag on the same commit is no release: ignored
    proc = evalpin(repo, "verify", "--signatures", "--public-key", str(public))  # the real CLI, once
    assert "demo-tiny@v1.0.0: signed release statement verified" in proc.stdout
    assert "models/demo-tiny: matches models/demo-tiny.sig" in proc.stdout


@pytest.mark.slow  # the release fixture needs an evaluated repository
def test_rewriting_a_delivery_with_its_lock_is_caught_though_plain_verify_passes(signed_release):
    repo, _, public = signed_release
    config = repo / "models/demo-tiny/generation_config.json"
    config.write_text(config.read_text().replace("}", ', "temperature": 0.1}', 1))
    lock = load_lock(repo / "models/demo-tiny.lock.json")  # what a re-pin by anyone with push rights does
    save_lock(
        build_lock(repo / "models/demo-tiny", "demo-tiny", lock.source), repo / "models/demo-tiny.lock.json"
    )
    assert evalpin_in_process(repo, "verify", "--files-only").returncode == 0  # the lock alone: fooled
    proc = evalpin_in_process(repo, "verify", "--signatures", "--public-key", str(public), check=False)
    assert proc.returncode == 1
    assert "models/demo-tiny.lock.json: differs from what release demo-tiny@v1.0.0 signed" in proc.stderr
    git(repo, "checkout", "--", "models/demo-tiny.lock.json")  # the lock restored, the file still changed
    proc = evalpin_in_process(repo, "verify", "--signatures", "--public-key", str(public), check=False)
    assert proc.returncode == 1 and "generation_config.json" in proc.stderr and "changed" in proc.stderr


@pytest.mark.slow  # the release fixture needs an evaluated repository
def test_a_rewritten_golden_file_or_statement_or_a_wrong_key_is_refused(signed_release, tmp_path):
    repo, _, public = signed_release
    golden = repo / "models/demo-tiny.golden.json"
    golden.write_text(golden.read_text().replace("[", "[ ", 1))
    proc = evalpin_in_process(repo, "verify", "--signatures", "--public-key", str(public), check=False)
    assert proc.returncode == 1 and "models/demo-tiny.golden.json: differs from what release" in proc.stderr
    git(repo, "checkout", "--", "models/demo-tiny.golden.json")

    # the signed statement copied onto another tag of the same commit: it names v1.0.0, so it is refused
    message = git(repo, "tag", "-l", "--format=%(contents)", "demo-tiny@v1.0.0").stdout
    git(repo, "tag", "-a", "demo-tiny@v9.0.0", "-m", message, "HEAD")
    proc = evalpin_in_process(repo, "verify", "--signatures", "--public-key", str(public), check=False)
    assert proc.returncode == 2 and "the signed statement is for demo-tiny@v1.0.0" in proc.stderr
    git(repo, "tag", "-d", "demo-tiny@v9.0.0")

    _, stranger = make_key(tmp_path / "keys", "stranger")
    proc = evalpin_in_process(repo, "verify", "--signatures", "--public-key", str(stranger), check=False)
    assert proc.returncode == 2 and "does not verify with" in proc.stderr
    proc = evalpin_in_process(repo, "verify", "--signatures", check=False)  # no key given, none configured
    assert proc.returncode == 2 and "no release key to verify with" in proc.stderr

    # the statement edited in the tag (better scores), its signature kept
    message = git(repo, "tag", "-l", "--format=%(contents)", "demo-tiny@v1.0.0").stdout
    envelope = signing.envelope_from_message(message, "t")
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["metrics"] = {task: 1.0 for task in statement["predicate"]["metrics"]}
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    forged = message.split(signing.STATEMENT_BEGIN)[0] + signing.tag_block(envelope)
    git(repo, "tag", "-f", "-a", "demo-tiny@v1.0.0", "-m", forged, "demo-tiny@v1.0.0^{commit}")
    proc = evalpin_in_process(repo, "verify", "--signatures", "--public-key", str(public), check=False)
    assert proc.returncode == 2 and "statement was altered after signing" in proc.stderr
    proc = evalpin_in_process(repo, "reproduce", "demo-tiny@v1.0.0", "--public-key", str(public), check=False)
    assert proc.returncode == 2 and "statement was altered after signing" in proc.stderr  # before any run


@pytest.mark.slow  # the release fixture needs an evaluated repository
def test_release_refuses_a_private_key_inside_the_repository(signed_release):
    repo, private, _ = signed_release
    inside = repo / "release.pem"
    shutil.copy(private, inside)
    git(repo, "add", "release.pem")
    git(repo, "commit", "-qm", "oops: a key in git")
    proc = evalpin_in_process(
        repo, "release", "demo-tiny", "-m", "x", "--sign-key", "release.pem", check=False
    )
    assert proc.returncode == 2 and "the private key is inside the repository" in proc.stderr
    assert "demo-tiny@v1.0.1" not in git(repo, "tag").stdout


@pytest.mark.slow  # the release fixture needs an evaluated repository
def test_the_policy_keeps_unsigned_releases_out_of_prod(signed_release, tmp_path):
    repo, _, public = signed_release
    keys = repo / "conf/signing/keys"
    keys.mkdir()
    shutil.copy(public, keys / "release.pub")
    set_policy(repo, "release_keys: [conf/signing/keys/release.pub]", "signed_stages: [prod]")
    evalpin_in_process(repo, "promote", "demo-tiny", "v1.0.0", "--stage", "prod")
    proc = evalpin_in_process(repo, "verify", "--files-only")
    assert "signing policy: demo-tiny@v1.0.0: release signature verified" in proc.stdout
    # an unsigned release of the same commit's successor cannot go to prod, and one that got there
    # (gto directly) stops the pipeline's verify stage
    git(repo, "commit", "-q", "--allow-empty", "-m", "next")
    git(repo, "tag", "-a", "demo-tiny@v1.0.1", "-m", "unsigned")
    proc = evalpin_in_process(repo, "promote", "demo-tiny", "v1.0.1", "--stage", "prod", check=False)
    assert proc.returncode == 2 and "tag demo-tiny@v1.0.1: not signed" in proc.stderr
    from gto.api import assign

    assign(str(repo), "demo-tiny", "prod", version="v1.0.1", message="assigned around evalpin")
    proc = evalpin_in_process(repo, "verify", "--files-only", check=False)
    assert proc.returncode == 2 and "tag demo-tiny@v1.0.1: not signed" in proc.stderr


def test_help_does_not_import_model_signing():
    code = (
        "import sys, contextlib, io\n"
        "from evalpin.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
        "print(sorted(m for m in ('model_signing', 'sigstore', 'cryptography') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=TEMPLATE, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]"
