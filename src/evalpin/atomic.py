"""Nothing half-written: files and directories appear whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_dir(new: Path, destination: Path) -> None:
    """Rename a complete directory into place (same filesystem); an old one is moved aside, removed last."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    new.chmod(0o755)  # temporary directories are created 0700
    if not destination.exists():
        new.rename(destination)
        return
    old = new.with_name(f"{new.name}.replaced")
    destination.rename(old)
    new.rename(destination)
    shutil.rmtree(old)
