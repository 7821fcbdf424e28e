"""eval/samples at any revision: task -> doc_id -> sample record. eval/samples is a DVC output, so a past
revision's samples come from the DVC cache (or remote) through dvc.api; the workspace is the revision
"workspace" (the files on disk)."""

from __future__ import annotations

import json
from pathlib import Path

from evalpin.base.errors import EvalpinError
from evalpin.base.outs import SAMPLES_DIR
from evalpin.config.experiments import WORKSPACE, resolve
from evalpin.signing.release_tags import check_release_tag


def read_samples(root: Path, rev: str) -> dict[str, dict[int, dict]]:
    """task -> doc_id -> sample record, at a git revision or in the workspace."""
    if rev == WORKSPACE:  # the files on disk: DVC's view would add back what dvc.lock lists and is gone
        return {
            path.stem: rows_by_doc(path.read_text()) for path in sorted((root / SAMPLES_DIR).glob("*.jsonl"))
        }
    check_release_tag(root, rev)
    from dvc.api import DVCFileSystem
    from dvc.scm import RevError
    from dvc_data.index.index import DataIndexDirError

    try:
        fs = DVCFileSystem(str(root), rev=resolve(root, rev))  # the workspace returned above
        names = [p for p in fs.ls(SAMPLES_DIR, detail=False) if p.endswith(".jsonl")]
        samples = {Path(name).stem: rows_by_doc(fs.read_text(name)) for name in sorted(names)}
    except RevError as exc:
        raise EvalpinError(f"{rev}: not a git revision here ({exc}); see `git tag` and `git log`.") from exc
    except (FileNotFoundError, DataIndexDirError) as exc:
        raise EvalpinError(
            f"{rev}: no {SAMPLES_DIR} there, or its data is neither in the DVC cache nor the remote "
            f"({exc}). Run `dvc pull` (or `dvc fetch -a`) or reproduce that revision first."
        ) from exc
    return samples


def rows_by_doc(text: str) -> dict[int, dict]:
    rows = (json.loads(line) for line in text.splitlines() if line)
    return {row["doc_id"]: row for row in rows}
