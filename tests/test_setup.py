"""`make setup` takes torch from where the machine's pip can find it; every other pin is exact."""

import re
import subprocess

import pytest

from support import TEMPLATE

TORCH_VERSION = re.search(r"^torch==([0-9.]+)$", (TEMPLATE / "constraints.txt").read_text(), re.M).group(1)


def setup_commands(*variables: str) -> str:
    """What `make setup` would run (`make -n`, nothing executed), forced as on a fresh clone."""
    proc = subprocess.run(
        ["make", "-n", "-B", "setup", *variables], cwd=TEMPLATE, capture_output=True, text=True, check=True
    )
    return proc.stdout


def torch_install(commands: str) -> str:
    (line,) = [line for line in commands.splitlines() if "pip install" in line and "'torch==" in line]
    return line


@pytest.mark.parametrize(
    ("variables", "index", "spec"),
    [
        (["UNAME_S=Linux"], "https://download.pytorch.org/whl/cpu", f"torch=={TORCH_VERSION}+cpu"),
        (
            ["UNAME_S=Linux", "TORCH_VARIANT=cu128"],
            "https://download.pytorch.org/whl/cu128",
            f"torch=={TORCH_VERSION}+cu128",
        ),
        (
            ["UNAME_S=Linux", "TORCH_INDEX=https://mirror.example/whl/cpu"],
            "https://mirror.example/whl/cpu",
            f"torch=={TORCH_VERSION}+cpu",
        ),
    ],
)
def test_linux_takes_torch_from_the_pytorch_index_added_to_the_machines_pip_config(variables, index, spec):
    line = torch_install(setup_commands(*variables))
    assert f"--extra-index-url {index} '{spec}'" in line
    assert "--index-url" not in line.replace("--extra-index-url", "")  # added, never substituted


def test_macos_takes_pypis_torch_which_has_no_variant_label():
    line = torch_install(setup_commands("UNAME_S=Darwin"))
    assert f"'torch=={TORCH_VERSION}'" in line
    assert "index-url" not in line


def test_everything_else_installs_at_the_exact_pins():
    commands = setup_commands("UNAME_S=Linux")
    assert "-c constraints.txt -e '.[dev]'" in commands
    assert "pip check" in commands
    pins = [
        line for line in (TEMPLATE / "constraints.txt").read_text().splitlines() if line and line[0] != "#"
    ]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.]*", pin) for pin in pins), pins
