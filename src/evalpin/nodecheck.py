"""What a Slurm job checks on its node before it evaluates: the delivery (and an adapter's base) and the
pinned datasets its own tasks read match their locks *there*. The verify stage checked them on the machine
that ran `dvc repro`; a node may see another copy (a stale mount, a node-local scratch, a cache synced
half-way), and a score computed on other bytes must not come back into the store. The launcher prefixes
the error with the node's name (launcher.on_node)."""

from __future__ import annotations

from pathlib import Path

from evalpin import catalog
from evalpin.verify import require_verified, require_verified_dataset


def datasets_read(suite: dict, tasks: list[str]) -> list[str]:
    """The pinned datasets (eval/data/NAME) that `tasks` read; local tasks read none."""
    data = catalog.task_data(suite)
    return sorted({data[task] for task in tasks if task in data})


def check(root: Path, params: dict, tasks: list[str]) -> None:
    """Raise DriftError naming every drifted file of the delivery or of a dataset `tasks` read."""
    require_verified(root, params["model"]["name"])
    for name in datasets_read(params["suite"], tasks):
        require_verified_dataset(root, name)
