"""conf/ is the single source of truth; params.yaml is its Hydra composition, which DVC stages read.

DVC composes conf/ into params.yaml only on `dvc exp run` (with hydra enabled in .dvc/config); plain
`dvc repro` reads params.yaml as it is. So `evalpin compose` writes params.yaml, and the pipeline's first
command, `evalpin compose --check`, stops `dvc repro` when params.yaml disagrees with conf/. Inside
`dvc exp run` DVC itself has just composed params.yaml (with the -S overrides), so the check stands down.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from evalpin import project
from evalpin.atomic import write_atomic
from evalpin.errors import EvalpinError

CONFIG_NAME = "config"
HEADER = "# Composed from conf/ by `evalpin compose` (or `dvc exp run`). Edit conf/, not this file.\n"


def compose(root: Path, overrides: tuple[str, ...] = ()) -> dict:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    conf_dir = root / project.CONF_DIR
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base=None):
            cfg = hydra_compose(config_name=CONFIG_NAME, overrides=list(overrides))
    except HydraException as exc:
        raise EvalpinError(
            f"{conf_dir}/{CONFIG_NAME}.yaml: Hydra could not compose the config: {exc}"
        ) from exc
    return OmegaConf.to_container(cfg, resolve=True)


def write_params(root: Path, params: dict) -> Path:
    path = root / project.PARAMS_FILE
    write_atomic(path, HEADER + yaml.safe_dump(params, sort_keys=False))
    return path


def load_params(root: Path) -> dict:
    path = root / project.PARAMS_FILE
    if not path.is_file():
        raise EvalpinError(f"{path}: not found. Write it from conf/ with `evalpin compose`.")
    return yaml.safe_load(path.read_text()) or {}


def differences(expected: dict, actual: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, with both values, in a stable order."""
    found = []
    for key in sorted(set(expected) | set(actual), key=str):
        dotted = f"{prefix}{key}"
        left, right = expected.get(key, "<absent>"), actual.get(key, "<absent>")
        if isinstance(left, dict) and isinstance(right, dict):
            found += differences(left, right, f"{dotted}.")
        elif left != right:
            found.append(f"{dotted}: conf/ gives {left!r}, params.yaml has {right!r}")
    return found


def in_dvc_experiment() -> bool:
    return bool(os.environ.get("DVC_EXP_NAME"))


def check_params(root: Path) -> list[str]:
    """Empty when params.yaml equals the composition of conf/; else one line per differing key."""
    return differences(compose(root), load_params(root))


def require_composed(root: Path) -> bool:
    """EvalpinError naming each key where params.yaml disagrees with conf/; True when compared, False inside
    `dvc exp run` (DVC itself has just composed params.yaml, with its -S overrides)."""
    if in_dvc_experiment():
        return False
    if diffs := check_params(root):
        raise EvalpinError(
            "params.yaml disagrees with conf/ (conf/ is the source of truth):\n  "
            + "\n  ".join(diffs)
            + "\nRun `evalpin compose` (or `make repro`) to rewrite params.yaml, then `dvc repro`."
        )
    return True
