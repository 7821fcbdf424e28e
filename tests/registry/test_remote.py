"""Remotes for real: a local directory and moto S3 on loopback; push, clone, pull, faults."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

import support
from support import dvc, evalpin, evalpin_in_process, git, pipeline_changes

SECRET = "fake-secret-never-in-git"


@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str
    client: object

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/evalpin"

    def objects(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "fake-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"evalpin-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return S3(s3_endpoint, bucket, client)


@pytest.fixture
def local_remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "remote-store"
    monkeypatch.setenv("EVALPIN_REMOTE", str(path))
    return path


def digests(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def clone(origin: Path, where: Path) -> Path:
    subprocess.run(
        ["git", "clone", "-q", str(origin), str(where)], check=True, env=support.subprocess_env(origin)
    )
    return where


def committed_config(repo: Path) -> str:
    assert ".dvc/config.local" not in git(repo, "ls-files").stdout
    return git(repo, "show", "HEAD:.dvc/config").stdout


# --- the local default remote -------------------------------------------------------------------------


def test_init_local_makes_push_and_pull_work_right_after_cloning(pinned_repo, local_remote, tmp_path):
    out = evalpin(pinned_repo, "remote", "init-local").stdout
    assert str(local_remote) in out and ".dvc/config.local" in out
    assert "remote" not in (pinned_repo / ".dvc/config").read_text()  # nothing for git
    assert str(local_remote) in (pinned_repo / ".dvc/config.local").read_text()
    assert "left as it is" in evalpin(pinned_repo, "remote", "init-local", "--if-missing").stdout
    dvc(pinned_repo, "push")

    second = clone(pinned_repo, tmp_path / "second")
    evalpin(second, "remote", "init-local", "--if-missing")  # what `make demo` runs first
    assert (
        "pulled from the DVC remote and verified" in evalpin_in_process(second, "restore", "demo-tiny").stdout
    )
    assert digests(second / "models/demo-tiny") == digests(pinned_repo / "models/demo-tiny")


def test_init_local_refuses_a_path_inside_the_repository(pinned_repo):
    proc = evalpin(pinned_repo, "remote", "init-local", str(pinned_repo / "store"), check=False)
    assert proc.returncode == 2 and "inside the repository" in proc.stderr


# --- S3 -----------------------------------------------------------------------------------------------


def test_s3_push_then_a_fresh_clone_pulls_a_bit_identical_delivery_and_outputs(reproduced_repo, s3, tmp_path):
    out = evalpin(
        reproduced_repo, "remote", "s3", "--url", s3.url, "--endpoint", s3.endpoint, "--store-credentials"
    ).stdout
    assert "in .dvc/config (commit it)" in out and "stored in .dvc/config.local only" in out
    git(reproduced_repo, "add", "-A")
    git(reproduced_repo, "commit", "-qm", "team remote")
    config = committed_config(reproduced_repo)
    assert s3.url in config and s3.endpoint in config
    assert SECRET not in config and "secret_access_key" not in config and "access_key_id" not in config
    assert SECRET not in git(reproduced_repo, "grep", "-I", "-e", SECRET, "HEAD", check=False).stdout
    assert SECRET in (reproduced_repo / ".dvc/config.local").read_text()

    dvc(reproduced_repo, "push")
    assert any(k.endswith(".dir") for k in s3.objects())

    second = clone(reproduced_repo, tmp_path / "second")  # no config.local: .dvc/config + env creds
    dvc(second, "pull")
    assert evalpin_in_process(second, "verify", "demo-tiny", "--full").returncode == 0
    for rel in ("models/demo-tiny", "eval/samples"):
        assert digests(second / rel) == digests(reproduced_repo / rel), rel
    assert digests(second / "eval") == digests(reproduced_repo / "eval")
    assert pipeline_changes(second) == {}  # nothing to rerun


def test_a_secret_in_the_committed_config_is_refused(pinned_repo, s3):
    dvc(pinned_repo, "remote", "add", "old", s3.url)
    dvc(pinned_repo, "remote", "modify", "old", "secret_access_key", SECRET)  # the mistake
    proc = evalpin(pinned_repo, "remote", "s3", "--url", s3.url, "--endpoint", s3.endpoint, check=False)
    assert proc.returncode == 2
    assert "remote.old.secret_access_key is a secret" in proc.stderr and "--local" in proc.stderr
    assert "team" not in (pinned_repo / ".dvc/config").read_text()  # refused before writing anything


@pytest.mark.parametrize(
    "flags",
    [
        ("--url", "s3://bucket/p", "--endpoint", "http://minio:hunter22pass@127.0.0.1:9000"),
        ("--url", "s3://AKIAKEY:hunter22pass@bucket/p"),
    ],
    ids=["endpoint", "url"],
)
def test_credentials_in_a_url_are_refused_never_written_nor_echoed(pinned_repo, flags):
    before = (pinned_repo / ".dvc/config").read_text()
    proc = evalpin_in_process(pinned_repo, "remote", "s3", *flags, check=False)
    assert proc.returncode == 2 and "a password in the URL would be written to .dvc/config" in proc.stderr
    assert "AWS_ACCESS_KEY_ID" in proc.stderr and "dvc remote modify --local" in proc.stderr
    assert "hunter22pass" not in proc.stdout + proc.stderr and ":***@" in proc.stderr
    assert (pinned_repo / ".dvc/config").read_text() == before
    assert not (pinned_repo / ".dvc/config.local").exists()
    dvc(pinned_repo, "remote", "add", "old", flags[-1])  # written by hand, around evalpin: found after all
    proc = evalpin_in_process(pinned_repo, "remote", "s3", "--url", "s3://bucket/p", check=False)
    assert proc.returncode == 2 and "remote.old." in proc.stderr and "hunter22pass" not in proc.stderr


def test_a_tag_made_before_the_remote_existed_still_restores(pinned_repo, s3, tmp_path):
    git(pinned_repo, "tag", "v1")  # .dvc/config of v1 has no remote at all
    evalpin(pinned_repo, "remote", "s3", "--url", s3.url, "--endpoint", s3.endpoint)
    git(pinned_repo, "commit", "-qam", "team remote")
    dvc(pinned_repo, "push")

    second = clone(pinned_repo, tmp_path / "second")
    git(second, "checkout", "-q", "v1")
    failed = dvc(second, "pull", check=False)  # the problem: v1's .dvc/config knows no remote
    assert failed.returncode != 0 and "no remote" in (failed.stdout + failed.stderr).lower()
    git(second, "checkout", "-q", "main")
    assert "team" in evalpin(second, "remote", "remember").stdout  # the fix, once per clone
    git(second, "checkout", "-q", "v1")
    assert (
        "pulled from the DVC remote and verified" in evalpin_in_process(second, "restore", "demo-tiny").stdout
    )
    assert evalpin_in_process(second, "verify", "demo-tiny", "--full").returncode == 0


# --- faults -------------------------------------------------------------------------------------------


def test_an_unreachable_remote_fails_clearly_and_loses_nothing(pinned_repo, s3, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's retries of a refused connection: 15 s of backoff
    closed = _closed_port()
    evalpin(pinned_repo, "remote", "s3", "--url", s3.url, "--endpoint", f"http://127.0.0.1:{closed}")
    before = digests(pinned_repo / "models/demo-tiny")
    check = evalpin(pinned_repo, "remote", "check", check=False)
    assert check.returncode == 2 and "unreachable" in check.stderr and s3.url in check.stderr
    push = dvc(pinned_repo, "push", check=False)
    assert push.returncode != 0 and "Could not connect" in push.stderr
    assert digests(pinned_repo / "models/demo-tiny") == before
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--full").returncode == 0


def test_wrong_credentials_fail_clearly(pinned_repo, s3, monkeypatch):
    from moto import settings

    evalpin(pinned_repo, "remote", "s3", "--url", s3.url, "--endpoint", s3.endpoint)
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto now checks IAM credentials
    check = evalpin(pinned_repo, "remote", "check", check=False)
    assert check.returncode == 2 and "wrong credentials" in check.stderr and "403" in check.stderr
    push = dvc(pinned_repo, "push", check=False)
    assert push.returncode != 0 and "ERROR" in push.stderr, push.stderr
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--full").returncode == 0
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    missing = evalpin(pinned_repo, "remote", "check", check=False)
    assert missing.returncode == 2 and "no credentials" in missing.stderr


def test_a_corrupted_remote_object_is_caught_by_the_lock_and_never_used(pinned_repo, local_remote, tmp_path):
    evalpin(pinned_repo, "remote", "init-local")
    dvc(pinned_repo, "push")
    weights = _remote_object(pinned_repo, local_remote, "model.safetensors")
    weights.chmod(0o644)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    weights.write_bytes(bytes(data))

    second = clone(pinned_repo, tmp_path / "second")
    evalpin(second, "remote", "init-local")
    for _ in range(2):  # the corrupt object is evicted from the cache, so a retry cannot sneak it in
        proc = evalpin_in_process(second, "restore", "demo-tiny", check=False)
        assert proc.returncode == 1 and "does not match the lock, so it was not used" in proc.stderr
        assert "model.safetensors" in proc.stderr and "weights" in proc.stderr
        assert not (second / "models/demo-tiny").exists()
        assert "1 corrupt object(s) evicted" in proc.stderr

    manifest = next(line for line in proc.stderr.splitlines() if line.startswith("Fix the remote"))
    for rel in manifest.split("delete ")[1].split(" from it")[0].split(", "):  # the fix the message names
        (local_remote / rel).unlink()
    dvc(pinned_repo, "push")
    assert (
        "pulled from the DVC remote and verified" in evalpin_in_process(second, "restore", "demo-tiny").stdout
    )


def test_an_interrupted_push_can_simply_be_rerun(pinned_repo, s3, tmp_path):
    big = pinned_repo / "data/shards"
    big.mkdir(parents=True)
    for i in range(24):
        block = hashlib.sha256(str(i).encode()).digest()
        (big / f"shard-{i:02d}.bin").write_bytes(block * (1 << 17))  # 4 MiB each
    dvc(pinned_repo, "add", "data/shards")
    evalpin(pinned_repo, "remote", "s3", "--url", s3.url, "--endpoint", s3.endpoint)
    git(pinned_repo, "add", "-A")
    git(pinned_repo, "commit", "-qm", "shards + remote")

    push = subprocess.Popen(
        [sys.executable, "-m", "dvc", "push", "-j", "1"],
        cwd=pinned_repo,
        env=support.subprocess_env(pinned_repo),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not [k for k in s3.objects() if "/files/md5/" in k] and time.monotonic() < deadline:
        time.sleep(0.05)
    push.send_signal(signal.SIGKILL)  # as hard as an interruption gets: no cleanup at all
    push.wait()
    assert len(s3.objects()) < 24 + 6 + 2, "the push finished before it could be interrupted"

    dvc(pinned_repo, "push")  # rerun: uploads what is missing, nothing else to do
    assert "Everything is up to date" in dvc(pinned_repo, "push").stdout
    second = clone(pinned_repo, tmp_path / "second")
    dvc(second, "pull", "data/shards.dvc", "models/demo-tiny.dvc")
    assert digests(second / "data/shards") == digests(big)
    assert evalpin_in_process(second, "verify", "demo-tiny", "--full").returncode == 0


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _remote_object(repo: Path, remote: Path, relpath: str) -> Path:
    import json

    import yaml

    dir_md5 = yaml.safe_load((repo / "models/demo-tiny.dvc").read_text())["outs"][0]["md5"]
    manifest = json.loads((remote / "files/md5" / dir_md5[:2] / dir_md5[2:]).read_text())
    md5 = next(e["md5"] for e in manifest if e["relpath"] == relpath)
    return remote / "files/md5" / md5[:2] / md5[2:]


# --- cache types --------------------------------------------------------------------------------------


def test_verify_and_restore_work_on_read_only_hardlinked_deliveries(pinned_repo):
    dvc(pinned_repo, "config", "--local", "cache.type", "reflink,hardlink,copy")
    dvc(pinned_repo, "checkout", "--relink", "models/demo-tiny.dvc")
    weights = pinned_repo / "models/demo-tiny/model.safetensors"
    assert weights.stat().st_nlink == 2 and not weights.stat().st_mode & 0o222  # linked, read-only
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--full").returncode == 0
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny").returncode == 0
    assert "already in place and verified" in evalpin_in_process(pinned_repo, "restore", "demo-tiny").stdout
