"""Virtual environments for a project made from the template, as on a machine that already holds every
locked package but evalpin: the test's `make setup` then installs evalpin alone, from the wheel this run
built, through the real pip, the project's requirements.txt and constraints.txt."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from evalpin.registry.tool_env import LAYER_FILE, layer_line

SCRIPTS = ("dvc",)  # the console scripts the project's Makefile runs from .venv/bin besides evalpin's


def build_wheel(source: Path, out: Path, version: str | None = None) -> Path:
    """evalpin's wheel from `source` (a copy of this checkout), at `version` when given: `make dist`'s
    build, offline (no isolation: setuptools from this environment)."""
    if version:
        init = source / "src/evalpin/__init__.py"
        text = init.read_text()
        old = text.split('__version__ = "', 1)[1].split('"', 1)[0]
        init.write_text(text.replace(f'__version__ = "{old}"', f'__version__ = "{version}"'))
    cmd = [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(out), str(source)]
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    (wheel,) = out.glob(f"evalpin-{version or '*'}-py3-none-any.whl")
    return wheel


def warm_venv(venv: Path) -> Path:
    """`venv`, layered on this environment's packages minus evalpin's (a farm of links inside it, so that
    it is as git-ignored as the venv), with the console scripts in SCRIPTS: what `make setup` finds on a
    machine that installed the pins before."""
    farm = venv / "warm-packages"
    farm.mkdir(parents=True)
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "evalpin" not in entry.name:  # the editable install of this checkout and the tests' support
            (farm / entry.name).symlink_to(entry)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)  # pip: the layer
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / LAYER_FILE).write_text(layer_line(str(farm)))
    for script in SCRIPTS:
        (point,) = metadata.entry_points(group="console_scripts", name=script)
        module, function = point.value.split(":")
        path = venv / "bin" / script
        path.write_text(
            f"#!{venv}/bin/python\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n"
        )
        path.chmod(0o755)
    return venv
