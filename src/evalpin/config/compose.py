"""conf/ is the single source of truth; params.yaml is its Hydra composition, which DVC stages read.

DVC composes conf/ into params.yaml only on `dvc exp run` (with hydra enabled in .dvc/config); plain
`dvc repro` reads params.yaml as it is. So `evalpin compose` writes params.yaml, and the pipeline's first
check, `evalpin compose --check` (the verify stage runs it as `evalpin verify NAME --check-composed`),
stops `dvc repro` when params.yaml disagrees with conf/. Inside `dvc exp run` DVC itself has just
composed params.yaml (with the -S overrides), so the check stands down. The composition it compares with
is reused from .evalpin/checks/ while conf/'s files are the same (`composition`, base/proven.py).
"""

from __future__ import annotations

import hashlib
import os
import re
from importlib.util import find_spec
from pathlib import Path

import yaml

from evalpin.base import project, proven
from evalpin.base.atomic import write_atomic
from evalpin.base.documents import read_yaml
from evalpin.base.errors import EvalpinError
from evalpin.base.runtime import package_version
from evalpin.config.params import Params
from evalpin.config.params_check import check_settings

CONFIG_NAME = "config"
NO_MODEL = (
    f"{project.CONF_DIR}/{CONFIG_NAME}.yaml: no model is selected (`- model: ???`; `evalpin clean-start` "
    "removed the demo's). Pin yours and select it: `evalpin pin ORG/NAME --revision <40-hex commit> "
    "--name NAME`, then `evalpin use NAME`."
)
HEADER = "# Composed from conf/ by `evalpin compose` (or `dvc exp run`). Edit conf/, not this file.\n"
# What makes a composition depend on more than conf/'s files: a resolver (`${oc.env:HOME}`, `${now:%H}`)
# or a search path outside conf/. A conf/ holding one is composed every time, never reused.
OUTSIDE_CONF = re.compile(rb"\$\{[^}]*:|searchpath")
ENV_RESOLVER = re.compile(r"\$\{\s*(oc\.env|env)\s*:")  # the resolvers that read the environment


def compose(root: Path, overrides: tuple[str, ...] = ()) -> dict:
    return composed(root, overrides)[0]


def composed(root: Path, overrides: tuple[str, ...] = ()) -> tuple[dict, dict[str, str]]:
    """The composition of conf/, and per group the file it was composed from (suite -> conf/suite/demo.yaml),
    so that a bad value is named where it is fixed."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict

    conf_dir = root / project.CONF_DIR
    refuse_environment(root, overrides)
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base=None):
            cfg = hydra_compose(config_name=CONFIG_NAME, overrides=list(overrides), return_hydra_config=True)
            with open_dict(cfg):
                choices = cfg.pop("hydra").runtime.choices
            params = OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, yaml.YAMLError, UnicodeDecodeError) as exc:
        unreadable_conf(root)  # a file Hydra could not read is named with its line and the fix
        if "You must specify 'model'" in str(exc):
            raise EvalpinError(NO_MODEL) from exc
        why = " ".join(str(exc).split("Config search path")[0].split())  # one line, no search path
        raise EvalpinError(
            f"{conf_dir}/{CONFIG_NAME}.yaml: Hydra could not compose the config: {why}"
        ) from exc
    files = {g: f"{project.CONF_DIR}/{g}/{o}.yaml" for g, o in choices.items() if o and "/" not in g}
    return params, files


def refuse_environment(root: Path, overrides: tuple[str, ...]) -> None:
    """EvalpinError naming the file and line (or the override) that reads an environment variable into
    the composition (`${oc.env:VAR}`): its value would be written into params.yaml, dvc.lock, the DVC
    remote, logs and release tags, so a token would leave the machine. Secrets stay in the environment of
    the process that uses them (docs/backends.md), never in conf/."""
    fix = (
        "Remove it: conf/ is committed and composed into params.yaml. A server's token is read from "
        "EVALPIN_SERVER_TOKEN or the backend's own variable at run time, never written."
    )
    for override in overrides:
        if ENV_RESOLVER.search(override):
            raise EvalpinError(
                f"override {override.split('=')[0]}: reads the environment (${{oc.env:...}}). {fix}"
            )
    for path in sorted((root / project.CONF_DIR).rglob("*.yaml")):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if ENV_RESOLVER.search(line):
                rel = path.relative_to(root)
                raise EvalpinError(f"{rel}:{number}: reads the environment (${{oc.env:...}}). {fix}")


def composition(root: Path) -> tuple[dict, dict[str, str]]:
    """composed(root), reused from .evalpin/checks/composition.json while every file under conf/, Hydra's
    and OmegaConf's versions and evalpin's code are the ones it was composed from (base/proven.py)."""

    inputs = composition_inputs(root)
    result = proven.recall(root, "composition", inputs)
    if isinstance(result, dict) and all(isinstance(result.get(k), dict) for k in ("params", "files")):
        return result["params"], result["files"]
    params, files = composed(root)
    proven.remember(root, "composition", inputs, {"params": params, "files": files})
    return params, files


def composition_inputs(root: Path) -> dict | None:
    """What a composition of conf/ reads: each file under conf/ by sha256, and the code composing it;
    None when conf/ reads more (OUTSIDE_CONF) or cannot be read."""
    conf = root / project.CONF_DIR
    try:
        files = {
            p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(conf.rglob("*")) if p.is_file()
        }
    except OSError:
        return None
    if any(OUTSIDE_CONF.search(data) for data in files.values()) or find_spec("hydra_plugins"):
        return None  # a Hydra plugin can add a search path too
    return {
        "conf": {path: hashlib.sha256(data).hexdigest() for path, data in files.items()},
        "hydra-core": package_version("hydra-core"),
        "omegaconf": package_version("omegaconf"),
        "evalpin": proven.evalpin_code(),
    }


def unreadable_conf(root: Path) -> None:
    """EvalpinError naming the first file under conf/ that is not UTF-8 YAML holding a mapping."""

    for path in sorted((root / project.CONF_DIR).rglob("*.yaml")):
        rel = path.relative_to(root)
        read_yaml(path, f"restore it (`git checkout {rel}`)")


def write_params(root: Path, params: dict) -> Path:
    path = root / project.PARAMS_FILE
    write_atomic(path, HEADER + yaml.safe_dump(params, sort_keys=False))
    return path


def load_params(root: Path) -> dict:

    return read_yaml(root / project.PARAMS_FILE, "write it from conf/ with `evalpin compose`")


def load_typed_params(root: Path) -> Params:
    """params.yaml, typed (config/params.py); EvalpinError naming a value that cannot be."""

    return Params.from_dict(load_params(root))


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
    """Empty when params.yaml equals the composition of conf/ and every value can run; else one line per
    differing key. A value that cannot run is EvalpinError naming its conf/ file (params_check.py)."""

    expected, files = composition(root)
    if found := differences(expected, load_params(root)):
        return found
    check_settings(root, expected, files)
    return []


def require_composed(root: Path) -> bool:
    """EvalpinError naming each key where params.yaml disagrees with conf/, or a value that cannot run;
    True when compared, False inside `dvc exp run` (DVC itself has just composed params.yaml, with its -S
    overrides: only its values are checked)."""
    if in_dvc_experiment():
        check_settings(root, load_params(root))  # the -S overrides, checked before evaluate runs
        return False
    if diffs := check_params(root):
        raise EvalpinError(
            "params.yaml disagrees with conf/ (conf/ is the source of truth):\n  "
            + "\n  ".join(diffs)
            + "\nRun `evalpin compose` (or `make repro`) to rewrite params.yaml, then `dvc repro`."
        )
    return True
