"""What a release tag promises, checked where it is used: its message records the commit it tagged and
the delivery's lock digest (release.tag_message), so a tag moved to another commit (`git tag -f`), or one
whose commit holds another lock, is refused before a compare, a reproduction or a promotion trusts it.
And before a new tag is written, the team's git remotes are asked whether that version already exists
there (a colleague's release that this clone has not fetched)."""

from __future__ import annotations

import re
import subprocess
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


def taken_on_remotes(root: Path, tag: str) -> list[str]:
    """The git remotes that already hold `tag`. A remote that cannot be asked is an error: a release made
    now could take a version that a colleague already released there."""
    holding = []
    for remote in project.git(root, "remote").split():
        proc = subprocess.run(
            ["git", "ls-remote", "--tags", remote, f"refs/tags/{tag}"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if proc.returncode != 0:
            raise EvalpinError(
                f"release {tag}: could not list the tags of git remote {remote!r} "
                f"({proc.stderr.strip() or 'no answer'}), so a colleague's {tag} there would go unseen. "
                f"Reach the remote and rerun, or `git remote remove {remote}` if it is gone for good."
            )
        if proc.stdout.strip():
            holding.append(remote)
    return holding
