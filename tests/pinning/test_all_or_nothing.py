"""A pin is one transaction (pinning/all_or_nothing.py): a failure after the files land leaves the
project as it found it."""

import pytest

from support import demo_commit, evalpin_in_process, git

pytestmark = pytest.mark.slow


def state(repo):
    """What git sees, and every file under models/ (the deliveries are git-ignored) with its bytes."""
    files = {
        p.relative_to(repo).as_posix(): p.read_bytes() for p in (repo / "models").rglob("*") if p.is_file()
    }
    return git(repo, "status", "--porcelain", "--untracked-files=all").stdout, files


def pin(repo, ref: str, name: str):
    args = ("pin", "evalpin/demo-tiny", "--revision", demo_commit(ref), "--upstream", "demo/hub")
    return evalpin_in_process(repo, *args, "--name", name, check=False)


@pytest.mark.parametrize("existing", [False, True], ids=["first pin", "re-pin"])
def test_a_pin_failing_in_dvc_add_leaves_nothing_half_written(pinned_repo, existing):
    """`dvc add` failed after the lock, the conf, dvc.yaml's artifact entry and the golden file were
    written, and left them: the next command then tripped on a pin without its .dvc file."""
    name = "demo-tiny" if existing else "other"
    config = pinned_repo / ".dvc/config"
    before = state(pinned_repo)
    good = config.read_text()
    config.write_text(good + "[core]\n    autostage = true\n")  # a second [core]: dvc refuses its config
    failed = pin(pinned_repo, "r2", name)
    assert failed.returncode == 2 and "configuration error" in failed.stderr, failed.stderr
    assert "the pin failed: models/" in failed.stderr and "are as before" in failed.stderr
    config.write_text(good)
    assert state(pinned_repo) == before  # a re-pin: r1's files, not r2's
    assert not list((pinned_repo / ".evalpin/staging").iterdir())  # the copy kept aside is gone
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny").returncode == 0
    assert pin(pinned_repo, "r2", name).returncode == 0  # the same pin, once DVC works
