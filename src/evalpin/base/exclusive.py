"""One writer per name at a time: `evalpin pin`, `pin-data`, `restore`, `evaluate` and `release` hold an
exclusive lock (fcntl.flock) on .evalpin/locks/NAME.lock while they write. The kernel releases it when
the holder exits, however it dies (kill -9 included), so a lock can never go stale."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evalpin.base.project import STATE_DIR


def lock_file(root: Path, name: str) -> Path:
    return root / STATE_DIR / "locks" / f"{name}.lock"


@contextmanager
def exclusive(root: Path, name: str, what: str) -> Iterator[None]:
    """Hold NAME's lock for the block; when another process holds it, say so once and wait for it.
    `what`: the command, for the waiting line (e.g. "pin demo-tiny")."""
    path = lock_file(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"evalpin: {what}: waiting for another evalpin that writes {name!r} (it holds {path})",
                file=sys.stderr,
                flush=True,
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
