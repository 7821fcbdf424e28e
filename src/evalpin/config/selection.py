"""What params.yaml selects: the model it evaluates and the pinned datasets its suite reads."""

from __future__ import annotations

from pathlib import Path

from evalpin.base.errors import EvalpinError
from evalpin.base.names import check_name
from evalpin.config.compose import load_typed_params
from evalpin.delivery.lock import delivery_identity
from evalpin.delivery.verify import require_verified_dataset
from evalpin.suite.catalog import bind, datasets, trees


def default_model(root: Path, name: str | None) -> str:
    """The model named on the command line, else the one params.yaml evaluates; either way a safe name."""

    if not name:
        name = load_typed_params(root).model.name
    check_name(name)
    return name


def suite_datasets(root: Path) -> list[str]:
    """The pinned datasets the suite in params.yaml reads (its catalog tasks'), sorted."""

    return datasets(load_typed_params(root).suite.raw)


def configs_read(root: Path, name: str) -> set[str] | None:
    """The configs of pinned dataset NAME that the suite in params.yaml evaluates (its catalog tasks'
    dataset_name); None when params.yaml or its suite cannot say (then every file counts)."""

    try:
        suite = load_typed_params(root).suite.raw
        if name not in datasets(suite):
            return set()
        return {
            str(leaf.config.get("dataset_name") or "default")
            for entry, node in trees(suite)
            for leaf, data in zip(node.leaves(), bind(entry, node).values(), strict=True)
            if data == name
        }
    except EvalpinError:
        return None


def verify_suite_datasets(root: Path) -> dict[str, dict]:
    """Every pinned dataset the suite's catalog tasks read, verified (DriftError on drift): name ->
    name, commit and lock digest, for eval/verified.json."""

    return {name: delivery_identity(require_verified_dataset(root, name)) for name in suite_datasets(root)}
