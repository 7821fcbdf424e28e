"""The offline environment, defined once in offline.env beside this module (the Makefile includes it)."""

from __future__ import annotations

from pathlib import Path

OFFLINE_ENV = Path(__file__).with_name("offline.env")
ROOT_RELATIVE = ("HF_HOME",)  # values relative to the project root


def offline_environment(root: Path) -> dict[str, str]:
    """offline.env's variables, with the root-relative ones made absolute under `root`."""
    variables = {}
    for line in OFFLINE_ENV.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            variables[key] = str(root / value) if key in ROOT_RELATIVE else value
    return variables
