"""What killed runs leave behind is removed by the next run, and only that (issue #26 item 6)."""

import subprocess
import sys

from evalpin.base.leftovers import clean
from evalpin.registry.release import preflight
from support import git, killed_at


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


def outermost(rel: str) -> str:
    """The temporary itself: the directory named for its writer, or the file."""
    parts = rel.split("/")
    return "/".join(parts[: next(i for i, p in enumerate(parts) if ".evalpin-" in p) + 1])


def test_a_dead_writers_temporaries_are_removed_and_everything_else_kept(pinned_repo):
    dead = dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        gone = [
            f"models/.demo-tiny.lock.json.evalpin-{dead}-k2j4_x9a.tmp",  # write_atomic's
            f"eval/.samples.evalpin-{dead}-a1b2c3d4/demo_color_mc.jsonl",  # write_samples' fresh directory
            f"eval/.samples.evalpin-{dead}-e5f6g7h8.replaced/demo_color_mc.jsonl",  # ... and the old one
            f".evalpin/staging/demo-tiny.evalpin-{dead}-q8w7e6r5/model.safetensors",  # a staged copy
            f".evalpin/golden/.demo-tiny.json.evalpin-{dead}-z0x9c8v7.tmp",  # state folders: git-ignored
            f".evalpin/state/data/.arc.json.evalpin-{dead}-m1n2b3v4.tmp",
            f".evalpin/checks/.composition.json.evalpin-{dead}-p0o9i8u7.tmp",
            f".evalpin/reproduce/clone.evalpin-{dead}-l5k4j3h2/repo/dvc.yaml",  # a killed reproduction's
        ]
        kept = [
            f"models/.demo-tiny.lock.json.evalpin-{live.pid}-k2j4_x9a.tmp",  # still being written
            "eval/.notes.tmp",  # the user's
            f"notes-{dead}.tmp",
        ]
        for rel in gone + kept:
            (pinned_repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (pinned_repo / rel).write_text("x")
        removed = clean(pinned_repo)
        assert sorted(removed) == sorted(outermost(rel) for rel in gone)
        assert [rel for rel in gone + kept if (pinned_repo / rel).exists()] == kept
    finally:
        live.kill()
        live.wait()


def test_a_temporary_left_by_a_killed_write_does_not_block_a_release(reproduced_repo):
    killed_at(reproduced_repo, "write_atomic.written", sys.executable, "-m", "evalpin", "compose")
    assert ".params.yaml.evalpin-" in git(reproduced_repo, "status", "--porcelain").stdout  # what blocked it
    assert preflight(reproduced_repo, "demo-tiny") == []
    assert git(reproduced_repo, "status", "--porcelain").stdout == ""
