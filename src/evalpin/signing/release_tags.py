"""What a release tag promises, checked where it is used: its message records the commit it tagged and
the delivery's lock digest (registry/release.py tag_message), so a tag moved to another commit (`git tag
-f`), or one whose commit holds another lock, is refused before a compare, an outputs-diff, a
reproduction, a promotion or the next release's bump trusts it."""

from __future__ import annotations

import re
from pathlib import Path

from evalpin.base import project
from evalpin.base.errors import EvalpinError
from evalpin.delivery.diff import load_lock_at

RELEASE_TAG = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)@v\d+\.\d+\.\d+$")


def recorded(message: str, field: str) -> str | None:
    """A `FIELD: VALUE` line of a tag's message."""
    found = re.search(rf"^{re.escape(field)}: (\S+)$", message, flags=re.MULTILINE)
    return found.group(1) if found else None


def check_release_tag(root: Path, rev: str) -> None:
    """Refuse a release tag that no longer points where it was released, or whose tree holds another lock
    than the one it records. Other revisions (a branch, a commit, HEAD) pass unchecked."""
    match = RELEASE_TAG.match(rev)
    if match is None or not project.git(root, "tag", "--list", rev):
        return
    message = project.git(root, "tag", "--list", "--format=%(contents)", rev)
    tagged, digest = recorded(message, "commit"), recorded(message, "lock digest")
    if tagged is None:
        return  # not written by `evalpin release` (gto's own, lightweight): nothing recorded to check
    points_at = project.git(root, "rev-list", "-n", "1", rev)
    if points_at != tagged:
        raise EvalpinError(
            f"tag {rev}: points at {points_at[:12]}, but it was released at {tagged[:12]} (its message says "
            f"so): the tag was moved. Use the released commit (`git checkout {tagged[:12]}`), or restore the "
            f"team's tag: `git fetch --force origin tag {rev}`."
        )
    name = match.group("name")
    lock = load_lock_at(root, rev, name)
    if digest is not None and lock.digest != digest:
        raise EvalpinError(
            f"tag {rev}: models/{name}.lock.json at {points_at[:12]} has lock digest {lock.digest[:16]}, "
            f"the release recorded {digest[:16]}: this tree is not the released delivery. Ask who "
            "re-tagged it; compare against the released commit instead."
        )
