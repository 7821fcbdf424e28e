"""What killed runs leave behind, removed by the next run: temporary files and directories whose writer
(the process id in their name, evalpin.base.atomic.temp_prefix) is gone. A running writer's are kept.

Looked for where evalpin writes them: untracked files git sees (write_atomic's `.NAME.evalpin-PID-*.tmp`
beside any file, eval/'s `.samples.evalpin-PID-*` directories) and each git-ignored state folder
(STATE_FOLDERS: the staging area, reproduce's scratch clones, the golden, check and hash records).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from evalpin.base.project import STATE_DIR

STATE_FOLDERS = ("staging", "reproduce", "golden", "checks", "state", "state/data", "locks")
LEFTOVER = re.compile(r"\.evalpin-(\d+)-[A-Za-z0-9_]+(\.tmp|\.replaced)?$")


def alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def stale(name: str) -> bool:
    """Whether a file or directory name is an evalpin temporary of a process that no longer runs."""
    found = LEFTOVER.search(name)
    return found is not None and not alive(int(found.group(1)))


def untracked(root: Path) -> list[str]:
    """Untracked, not ignored paths (git's view: what `git status` would show)."""
    proc = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return [p for p in proc.stdout.split("\0") if p] if proc.returncode == 0 else []


def candidates(root: Path, state_only: bool = False) -> set[Path]:
    """Each stale temporary's outermost path: the directory itself, not the files inside it.
    `state_only`: only the state folders (a few directory listings, no git: the verify stage's pace)."""
    found = set()
    for rel in [] if state_only else untracked(root):
        parts = Path(rel).parts
        for depth, part in enumerate(parts):
            if stale(part):
                found.add(root.joinpath(*parts[: depth + 1]))
                break
    for folder in (root / STATE_DIR / name for name in STATE_FOLDERS):
        if folder.is_dir():
            found.update(entry for entry in folder.iterdir() if stale(entry.name))
    return found


def clean(root: Path, state_only: bool = False) -> list[str]:
    """Remove every stale temporary; the paths removed, relative to `root` (to say what was cleaned)."""
    removed = []
    for path in sorted(candidates(root, state_only)):
        if path.is_dir() and not path.is_symlink():
            remove_tree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.relative_to(root).as_posix())
    return removed


def remove_tree(tree: Path, ignore_errors: bool = False) -> None:
    """Remove `tree`, its folders made writable first: a staged or kept-aside copy of a read-only
    (hard-linked, DVC-linked) delivery cannot be removed otherwise."""
    if not tree.exists():
        return
    for folder, _, _ in os.walk(tree):
        os.chmod(folder, 0o755)
    shutil.rmtree(tree, ignore_errors=ignore_errors)


def clean_and_say(root: Path, state_only: bool = False) -> None:
    """`clean`, saying on stderr what it removed (nothing when there was nothing)."""
    import sys

    removed = clean(root, state_only)
    if removed:
        shown = ", ".join(removed[:5]) + (f" and {len(removed) - 5} more" if len(removed) > 5 else "")
        print(f"evalpin: removed what an interrupted run left: {shown}", file=sys.stderr)
