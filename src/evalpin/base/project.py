"""Where things live in an evalpin repository, and the offline environment every command runs in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from evalpin.base.environment import offline_environment
from evalpin.base.errors import EvalpinError

MODELS_DIR = "models"
DATA_DIR = "eval/data"  # pinned datasets: eval/data/NAME (DVC) and eval/data/NAME.lock.json (git)
CONF_DIR = "conf"
DEMO_UPSTREAM = "demo/hub"  # the template's offline upstream (delivery/demo.py: what in a run is the demo's)
PARAMS_FILE = "params.yaml"
STATE_DIR = ".evalpin"  # local, git-ignored: hash state and staging areas


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` holding dvc.yaml or .dvc/."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dvc.yaml").exists() or (candidate / ".dvc").is_dir():
            return candidate
    raise EvalpinError(
        f"no evalpin repository at or above {here}: expected dvc.yaml or .dvc/. "
        "Run evalpin from inside your clone of the template."
    )


def use_offline_environment(root: Path) -> None:
    """No hub traffic unless the user exported otherwise; Hugging Face caches inside the repository."""
    for key, value in offline_environment(root).items():
        os.environ.setdefault(key, value)


def model_dir(root: Path, name: str) -> Path:
    return root / MODELS_DIR / name


def lock_path(root: Path, name: str) -> Path:
    return root / MODELS_DIR / f"{name}.lock.json"


def model_conf_path(root: Path, name: str) -> Path:
    return root / CONF_DIR / "model" / f"{name}.yaml"


def data_dir(root: Path, name: str) -> Path:
    return root / DATA_DIR / name


def data_lock_path(root: Path, name: str) -> Path:
    return root / DATA_DIR / f"{name}.lock.json"


def load_data_conf(root: Path, name: str) -> dict:
    """conf/data/NAME.yaml as a dict; empty when the file is missing or empty."""
    # Here, not at the top: this module runs on the standard library alone (copier's clean_start task
    # imports it before any `make setup`), and documents needs PyYAML.
    from evalpin.base.documents import read_yaml

    path = data_conf_path(root, name)
    fix = f"restore it (`git checkout {CONF_DIR}/data/{name}.yaml`) or `evalpin verify-data {name} --accept`"
    return read_yaml(path, fix, missing_ok=True)


def data_conf_path(root: Path, name: str) -> Path:
    return root / CONF_DIR / "data" / f"{name}.yaml"


def git(root: Path, *args: str) -> str:
    """`git ARGS` in `root`: its output without the trailing newline, or EvalpinError with git's words."""
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise EvalpinError(f"`git {' '.join(args)}` failed in {root}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def git_show(root: Path, rev: str, path: str) -> tuple[bytes | None, str]:
    """A file's bytes at a git revision (the one way evalpin reads one), or None with git's reason when
    the revision lacks it. Bytes: json.loads reads them, and a digest must see exactly what git holds."""
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, check=False)
    return (proc.stdout, "") if proc.returncode == 0 else (None, proc.stderr.decode(errors="replace").strip())


def run_dvc(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the dvc CLI of this environment in `root`; on failure raise with dvc's own words."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise EvalpinError(
            f"`dvc {' '.join(args)}` failed in {root}:\n{(proc.stderr or proc.stdout).strip()}"
        )
    return proc


def has_remote(root: Path) -> bool:
    """Whether DVC knows any remote here (repo or local config)."""
    return bool(run_dvc(root, "remote", "list").stdout.strip())
