"""Nothing half-written: files and directories appear whole or not at all.

Every temporary name evalpin makes carries its writer's process id (`temp_prefix`), so that what a killed
run leaves behind can be told from what a running one is still writing (evalpin.base.leftovers cleans the
first kind). `kill_point` is the fault-injection hook the tests use to kill a run, as hard as kill -9,
at a named point: EVALPIN_KILL_AT=POINT.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

KILL_ENV = "EVALPIN_KILL_AT"
TEMP_MARK = ".evalpin-"  # temp names: PREFIX.evalpin-PID-RANDOM[.tmp|.replaced]


def kill_point(point: str) -> None:
    """SIGKILL this process here when $EVALPIN_KILL_AT names `point` (tests only: no cleanup runs)."""
    if os.environ.get(KILL_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def temp_prefix(name: str) -> str:
    """The prefix of a temporary file or directory standing in for `name`: it names this process."""
    return f"{name}{TEMP_MARK}{os.getpid()}-"


@contextmanager
def naming(path: Path) -> Iterator[None]:
    """An OSError inside the block that names no file (a full disk: write() knows only a descriptor) is
    raised again naming `path`: the error line then says which file could not be written."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(f".{path.name}"), suffix=".tmp")
    try:
        with naming(path), os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)
        kill_point("write_atomic.written")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_dir(new: Path, destination: Path) -> None:
    """Rename a complete directory into place (same filesystem); an old one is moved aside, removed last.
    A kill between the two renames leaves no `destination` and the old tree under its temporary name:
    reruns rebuild the first, evalpin.base.leftovers removes the second."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    new.chmod(0o755)  # temporary directories are created 0700
    if not destination.exists():
        new.rename(destination)
        return
    old = new.with_name(f"{new.name}.replaced")
    destination.rename(old)
    kill_point("replace_dir.moved_aside")
    new.rename(destination)
    shutil.rmtree(old)
