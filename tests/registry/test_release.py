import json
import os
import time

import pytest

from evalpin.delivery.sources import ASSERTED_ORIGIN
from evalpin.registry.release import next_version, release_facts, tag_message
from evalpin.results.gate import Side, delivery_of
from support import dvc, evalpin, evalpin_in_process, git

pytestmark = pytest.mark.slow


@pytest.fixture
def releasable(reproduced_repo, tmp_path):
    evalpin(reproduced_repo, "remote", "init-local", str(tmp_path / "remote"))
    return reproduced_repo


def test_next_version():
    assert next_version(None, "patch") == "v1.0.0"
    assert next_version("v1.0.0", "patch") == "v1.0.1"
    assert next_version("v1.0.1", "minor") == "v1.1.0"
    assert next_version("v1.1.0", "major") == "v2.0.0"


def test_release_tags_pushes_and_promotes(releasable, tmp_path):
    ref_lock = releasable / ".git/refs/tags/demo-tiny@v1.0.0.lock"  # what a release killed at the tag left
    ref_lock.write_text("")
    os.utime(ref_lock, (time.time() - 60, time.time() - 60))
    proc = evalpin(releasable, "release", "demo-tiny", "-m", "baseline")
    assert "released demo-tiny@v1.0.0" in proc.stdout
    assert f"removed {ref_lock}, left by an interrupted release" in proc.stderr
    assert git(releasable, "cat-file", "-t", "demo-tiny@v1.0.0").stdout.strip() == "tag"  # annotated
    message = git(releasable, "tag", "-l", "--format=%(contents)", "demo-tiny@v1.0.0").stdout
    assert "lock digest:" in message and "demo_color_mc=" in message
    assert "are in sync" in dvc(releasable, "status", "--cloud").stdout
    evalpin(releasable, "promote", "demo-tiny", "v1.0.0", "--stage", "prod")
    assert "demo-tiny#prod#1" in git(releasable, "tag").stdout
    proc = evalpin(releasable, "promote", "demo-tiny", "v9.9.9", "--stage", "prod", check=False)
    assert proc.returncode == 2 and "no such release tag" in proc.stderr


def test_release_refuses_a_dirty_tree_or_stale_params(releasable):
    (releasable / "notes.txt").write_text("wip")
    proc = evalpin(releasable, "release", "demo-tiny", "-m", "x", check=False)
    assert proc.returncode == 2 and "git is not clean" in proc.stderr
    (releasable / "notes.txt").unlink()
    conf = releasable / "conf/gate/default.yaml"
    conf.write_text(conf.read_text().replace("k_stderr: 2.0", "k_stderr: 3.0"))
    git(releasable, "commit", "-qam", "gate change without compose")
    proc = evalpin(releasable, "release", "demo-tiny", "-m", "x", check=False)
    assert proc.returncode == 2 and "gate.k_stderr: conf/ gives 3.0, params.yaml has 2.0" in proc.stderr
    assert "demo-tiny@" not in git(releasable, "tag").stdout


def test_release_refuses_without_remote(reproduced_repo):
    proc = evalpin(reproduced_repo, "release", "demo-tiny", "-m", "x", check=False)
    assert proc.returncode == 2 and "no DVC remote is configured" in proc.stderr


def test_release_refuses_a_model_that_is_not_the_evaluated_one(releasable):
    proc = evalpin(releasable, "release", "other-model", "-m", "x", check=False)
    assert proc.returncode == 2 and "params.yaml evaluates 'demo-tiny'" in proc.stderr


def test_the_tag_message_carries_each_pinned_datasets_commit_and_digest(reproduced_repo):
    assert "dataset:" not in tag_message(release_facts(reproduced_repo, "demo-tiny", "demo-tiny@v1.0.0"), "m")
    fingerprint = reproduced_repo / "eval/fingerprint.json"
    data = json.loads(fingerprint.read_text())
    task = next(iter(data["suite"]["tasks"].values()))
    task["data"] = {"name": "arc", "revision": "a" * 40, "lock_digest": "d" * 64}
    fingerprint.write_text(json.dumps(data))
    message = tag_message(release_facts(reproduced_repo, "demo-tiny", "demo-tiny@v1.0.0"), "m")
    assert f"dataset: arc = {'a' * 40}, lock digest {'d' * 64}\n" in message


def test_a_commit_only_asserted_says_so_in_the_statement_the_tag_and_the_pages_delivery_line(reproduced_repo):
    """--unverified-origin accepts any commit the user asserts: nothing downstream said it was unproven."""
    lock_path = reproduced_repo / "models/demo-tiny.lock.json"
    lock = json.loads(lock_path.read_text())
    lock["source"].update(local_dir="downloads/demo-tiny", provenance="asserted")
    lock_path.write_text(json.dumps(lock))
    facts = release_facts(reproduced_repo, "demo-tiny", "demo-tiny@v1.0.0")
    assert facts["predicate"]["delivery"]["origin"] == ASSERTED_ORIGIN
    assert f"origin: {ASSERTED_ORIGIN}\n" in tag_message(facts, "m")
    fingerprint = {"delivery": {"name": "demo-tiny", "revision": "a" * 40, "lock_digest": "d" * 64}}
    fingerprint["delivery"]["origin"] = ASSERTED_ORIGIN  # as evaluate records it (fingerprint.py)
    assert delivery_of(Side("HEAD", {}, fingerprint)).endswith(f"({ASSERTED_ORIGIN})")


def test_a_fresh_tag_ref_lock_stops_the_release_before_anything_is_pushed(releasable):
    """A release killed while git wrote the tag leaves refs/tags/NAME@vX.Y.Z.lock (issue #26 item 6): an
    old one is removed (test_release_tags_pushes_and_promotes); a fresh one may be a running git's."""
    ref_lock = releasable / ".git/refs/tags/demo-tiny@v1.0.0.lock"
    ref_lock.write_text("")
    proc = evalpin(releasable, "release", "demo-tiny", "-m", "baseline", check=False)
    assert proc.returncode == 2 and f"{ref_lock}: a git command is writing this tag ref now" in proc.stderr
    assert f"`rm '{ref_lock}'`" in proc.stderr and ref_lock.exists()
    assert not any((releasable.parent / "remote").rglob("*.dir"))  # nothing pushed


def test_release_refuses_a_committed_dvc_config_holding_a_secret(releasable):
    """Issue #26 item 8: `remote s3` refuses secrets, but one added with dvc itself reached the tag."""
    secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
    dvc(releasable, "remote", "add", "team", "s3://bucket/p")
    dvc(releasable, "remote", "modify", "team", "secret_access_key", secret)
    dvc(releasable, "remote", "add", "web", "https://user:pa55word-x@host/store")
    git(releasable, "commit", "-qam", "remotes")
    proc = evalpin(releasable, "release", "demo-tiny", "-m", "x", check=False)
    assert proc.returncode == 2 and "release refused" in proc.stderr
    assert "remote.team.secret_access_key, remote.web.url" in proc.stderr and "rotate" in proc.stderr
    assert secret not in proc.stderr and "pa55word-x" not in proc.stderr


def test_release_refuses_a_model_conf_naming_another_revision_than_its_lock(releasable):
    conf = releasable / "conf/model/demo-tiny.yaml"
    locked = json.loads((releasable / "models/demo-tiny.lock.json").read_text())["source"]["revision"]
    conf.write_text(conf.read_text().replace(locked, "f" * 40))
    evalpin(releasable, "compose")
    git(releasable, "commit", "-qam", "another revision, never evaluated")
    proc = evalpin(releasable, "release", "demo-tiny", "-m", "x", check=False)
    assert proc.returncode == 2
    assert f"conf/model/demo-tiny.yaml: field 'revision' is '{'f' * 40}', but models/demo-tiny.lock.json" in (
        proc.stderr
    )
    assert "demo-tiny@" not in git(releasable, "tag").stdout


def test_a_moved_release_tag_is_refused_and_a_version_on_the_remote_is_never_taken_again(
    releasable, tmp_path
):
    """A tag moved to another commit was trusted by compare and promote; a release took a version that a
    colleague had already pushed to the team's git remote."""
    evalpin_in_process(releasable, "release", "demo-tiny", "-m", "baseline")
    tag = "demo-tiny@v1.0.0"
    message = git(releasable, "tag", "--list", "--format=%(contents)", tag).stdout
    released = git(releasable, "rev-parse", "HEAD").stdout.strip()
    git(releasable, "commit", "-q", "--allow-empty", "-m", "unrelated")
    (tmp_path / "message").write_text(message)
    git(releasable, "tag", "-f", "-a", tag, "-F", str(tmp_path / "message"), "HEAD")  # moved, same text
    for command in (["compare", "--baseline", tag], ["promote", "demo-tiny", "v1.0.0", "--stage", "prod"]):
        proc = evalpin_in_process(releasable, *command, check=False)
        assert proc.returncode == 2 and f"tag {tag}: points at" in proc.stderr, proc.stderr
        assert "the tag was moved" in proc.stderr
    git(releasable, "tag", "-f", "-a", tag, "-F", str(tmp_path / "message"), released)  # put back

    git(releasable, "init", "-q", "--bare", str(tmp_path / "origin.git"))
    git(releasable, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(releasable, "tag", "demo-tiny@v1.0.1")  # a colleague's release, pushed, not fetched here
    git(releasable, "push", "-q", "origin", "demo-tiny@v1.0.1")
    git(releasable, "tag", "-d", "demo-tiny@v1.0.1")
    proc = evalpin_in_process(releasable, "release", "demo-tiny", "-m", "again", check=False)
    assert proc.returncode == 2, proc.stdout
    assert "demo-tiny@v1.0.1 already exists on git remote 'origin'" in proc.stderr
    assert "demo-tiny@v1.0.1" not in git(releasable, "tag").stdout
