"""Which evalpin reruns a revision: the version that revision pinned, not whichever is installed now.

A project pins evalpin in requirements.txt (`evalpin==X.Y.Z`). When that is the running version, the
current environment reruns it. Otherwise a scratch environment for X.Y.Z is built once under
.evalpin/envs/X.Y.Z: a virtual environment layered on the current one (a .pth file appends this
environment's site-packages after its own, `layer_line`), into which pip installs `-r requirements.txt -c
constraints.txt` as the revision has them. pip finds every package whose locked version is already
installed here and installs only those that differ (evalpin itself, and whatever else the old lock
pinned differently), so the machine's torch build (CPU, CUDA) is the one the rerun uses, as it is for
any rerun on another machine. In evalpin's own repository a revision carries its source (src/evalpin),
which runs as it was at that revision.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import evalpin
from evalpin.base import project
from evalpin.base.atomic import write_atomic
from evalpin.base.errors import EvalpinError

PIN = re.compile(r"^\s*evalpin\s*==\s*([^\s;#]+)", re.M)
LAYER_FILE = "evalpin-layer.pth"


@dataclass(frozen=True)
class Tool:
    """The interpreter a rerun uses (`python -m evalpin`, `python -m dvc`), the environment its stages
    see (PATH finds its `evalpin` first), and what it is, in words."""

    python: str
    env: dict[str, str]
    says: str


def pinned_version(clone: Path) -> str | None:
    """The evalpin version requirements.txt pins in `clone`; None without a pin."""
    path = clone / "requirements.txt"
    found = PIN.search(path.read_text()) if path.is_file() else None
    return found.group(1) if found else None


def tool_for(root: Path, clone: Path) -> Tool:
    """The evalpin that reruns the revision checked out in `clone` (module docstring)."""
    if (clone / "src" / "evalpin" / "__init__.py").is_file():
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(clone / "src"), os.environ.get("PYTHONPATH", "")]),
        }
        return Tool(sys.executable, env, "evalpin from the revision's own source (src/evalpin)")
    version = pinned_version(clone)
    if version is None or version == evalpin.__version__:
        why = "as the revision pins" if version else "the revision pins none in requirements.txt"
        return Tool(
            sys.executable, dict(os.environ), f"evalpin {evalpin.__version__} (this environment; {why})"
        )
    venv = scratch_env(root, clone, version)
    path = os.pathsep.join([str(venv / "bin"), os.environ.get("PATH", "")])
    return Tool(
        str(venv / "bin" / "python"),
        {**os.environ, "PATH": path, "VIRTUAL_ENV": str(venv)},
        f"evalpin {version}, as the revision pins (a scratch environment, {venv.relative_to(root)}; "
        f"this one has {evalpin.__version__})",
    )


def scratch_env(root: Path, clone: Path, version: str) -> Path:
    """.evalpin/envs/VERSION, built on first use: layered on this environment, then `pip install` of the
    revision's requirements.txt with its constraints.txt. A half-built one (no `ready` mark) is rebuilt."""
    venv = root / project.STATE_DIR / "envs" / version
    if (venv / "ready").is_file():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    build(venv, clone, version)
    write_atomic(venv / "ready", f"evalpin=={version}\n")
    return venv


def build(venv: Path, clone: Path, version: str) -> None:
    # without its own pip and setuptools, which would shadow this environment's (and send pip to the index)
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], "create the scratch environment")
    here = sysconfig.get_paths()
    site = Path(ask(venv, "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    write_atomic(site / LAYER_FILE, layer_line(here["purelib"], here["platlib"]))
    if ask(venv, f"import sys; print({here['purelib']!r} in sys.path)") != "True":
        # else pip would install every package again, torch in its default build among them
        raise EvalpinError(f"reproduce: {site / LAYER_FILE}: the layer on this environment did not load.")
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    install += ["-r", str(clone / "requirements.txt")]
    if (clone / "constraints.txt").is_file():
        install += ["-c", str(clone / "constraints.txt")]
    run(install, f"install evalpin=={version} as the revision's requirements.txt and constraints.txt pin it")


def ask(venv: Path, code: str) -> str:
    """What `code` prints in the environment's interpreter."""
    cmd = [str(venv / "bin" / "python"), "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def layer_line(*site_dirs: str) -> str:
    """.pth lines that append SITE_DIRS as site directories: after the environment's own packages, and
    with their own .pth files read (a plain path line would skip those, and with them any layer below)."""
    return "".join(f"import site; site.addsitedir({d!r})\n" for d in dict.fromkeys(site_dirs))


def run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise EvalpinError(
            f"reproduce: could not {what} (`{' '.join(cmd)}` exited {proc.returncode}):\n"
            f"{(proc.stdout + proc.stderr).strip()[-2000:]}\nFix: make that version installable here (pip's "
            "index or PIP_FIND_LINKS=DIR with its wheel), then rerun; or check out the revision and run "
            "`make setup && dvc repro` there."
        )
