"""A release tag is trusted only where it was released (signing/release_tags.py)."""

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.delivery.lock import load_lock
from evalpin.signing.release_tags import check_release_tag
from support import git


def tag(repo, name: str, commit: str, digest: str, target: str = "HEAD") -> None:
    message = f"{name}: baseline\n\ncommit: {commit}\nlock digest: {digest}\n"
    git(repo, "tag", "-f", "-a", name, "-m", message, target)


def test_a_tag_where_it_was_released_passes_a_moved_or_re_locked_one_is_refused(pinned_repo):
    head = git(pinned_repo, "rev-parse", "HEAD").stdout.strip()
    digest = load_lock(pinned_repo / "models/demo-tiny.lock.json").digest
    tag(pinned_repo, "demo-tiny@v1.0.0", head, digest)
    check_release_tag(pinned_repo, "demo-tiny@v1.0.0")
    check_release_tag(pinned_repo, "HEAD")  # not a release tag: nothing recorded to check

    git(pinned_repo, "commit", "-q", "--allow-empty", "-m", "later")
    tag(pinned_repo, "demo-tiny@v1.0.0", head, digest)  # moved: same message, another commit
    with pytest.raises(EvalpinError, match=rf"points at \w{{12}}, but it was released at {head[:12]}"):
        check_release_tag(pinned_repo, "demo-tiny@v1.0.0")

    later = git(pinned_repo, "rev-parse", "HEAD").stdout.strip()
    tag(pinned_repo, "demo-tiny@v1.0.1", later, "0" * 64)  # its tree holds another lock than it records
    with pytest.raises(EvalpinError, match="the release recorded 0000000000000000: this tree is not"):
        check_release_tag(pinned_repo, "demo-tiny@v1.0.1")
