"""A pin is one transaction: if any step fails once the staged files have landed (a DVC error, a bad
conf, an interrupt), every file it wrote is put back as it was, bytes or absence, and the delivery
folder too, so that a failed pin leaves the project exactly as it found it: no half pin (a dvc.yaml entry,
a conf, a lock without its .dvc file) for the next command to trip on. A kill -9 runs no rollback: the
rerun of the same pin completes it (every step is idempotent), and the next run removes the folder kept
aside."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evalpin.base import project
from evalpin.base.atomic import temp_prefix, write_atomic
from evalpin.base.leftovers import remove_tree
from evalpin.delivery.golden import golden_path
from evalpin.signing.paths import (
    delivery_signature_path,
    publisher_chain_path,
    publisher_key_path,
    publisher_signature_path,
)


@contextmanager
def all_or_nothing(root: Path, files: list[Path], folder: Path) -> Iterator[None]:
    """Run the block; if it fails, restore each of `files` and `folder` (the delivery) as they were. The
    folder's files are kept aside as hard links meanwhile (no copy of a multi-GB delivery; DVC may be the
    very thing that failed, so it is not asked to bring them back)."""
    before = {path: path.read_bytes() if path.is_file() else None for path in files}
    aside = keep_aside(root, folder)
    try:
        yield
    except BaseException:
        for path, data in before.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, data)
        remove_tree(folder)
        if aside is not None:
            (aside / folder.name).rename(folder)
        where = folder.relative_to(root)
        print(
            f"evalpin: the pin failed: {where} and its conf, lock and dvc.yaml are as before", file=sys.stderr
        )
        raise
    finally:
        if aside is not None:
            remove_tree(aside)


def keep_aside(root: Path, folder: Path) -> Path | None:
    """A hard-linked copy of `folder` under the staging area, named for this process (a kill leaves it
    to base/leftovers.py), or None when there is no folder yet."""
    if not folder.is_dir():
        return None
    staging = root / project.STATE_DIR / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    aside = Path(tempfile.mkdtemp(dir=staging, prefix=temp_prefix(f"{folder.name}-before")))
    shutil.copytree(folder, aside / folder.name, copy_function=os.link, symlinks=True)
    return aside


def touched_by_pin(root: Path, name: str) -> list[Path]:
    """Every file a model pin may write or remove, outside its delivery folder."""
    models = root / project.MODELS_DIR
    return [
        project.lock_path(root, name),
        golden_path(root, name),
        project.model_conf_path(root, name),
        root / "dvc.yaml",
        root / project.CONF_DIR / "config.yaml",
        root / "params.yaml",
        models / f"{name}.dvc",
        models / ".gitignore",
        delivery_signature_path(root, name),
        publisher_signature_path(root, name),
        publisher_key_path(root, name),
        publisher_chain_path(root, name),
    ]
