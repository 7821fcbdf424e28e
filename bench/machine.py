"""The machine a run was measured on, as rows of the report's table."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from evalpin.base.runtime import package_version

PACKAGES = ("dvc", "lm_eval", "torch", "transformers", "huggingface_hub")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _cpu_flags() -> str:
    flags = Path("/proc/cpuinfo").read_text()
    found = [f for f in ("sha_ni", "avx2", "avx512f") if f" {f}" in flags]
    return ", ".join(found) or "none of sha_ni/avx2/avx512f"


def _ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def _filesystem(path: Path) -> str:
    out = subprocess.run(
        ["findmnt", "-no", "FSTYPE,SOURCE,OPTIONS", "-T", str(path)], capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def _command_version(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True)
    return (out.stdout or out.stderr).strip().splitlines()[0]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def describe(root: Path, scratch: Path) -> list[list[str]]:
    import hashlib
    import ssl

    return [
        ["CPU", f"{_cpu_model()} ({_cpu_flags()})"],
        ["cores", f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable by this process"],
        ["RAM", f"{_ram_gib():.1f} GiB"],
        ["kernel", f"{platform.system()} {platform.release()}"],
        ["repository filesystem", _filesystem(root)],
        ["scratch filesystem", f"{_filesystem(scratch)} ({scratch})"],
        ["Python", f"{platform.python_version()} ({platform.python_implementation()})"],
        ["hashlib sha256", f"{hashlib.sha256.__name__} on {ssl.OPENSSL_VERSION}"],
        ["openssl CLI", _command_version(["openssl", "version"])],
        ["git", _command_version(["git", "--version"])],
        ["packages", ", ".join(f"{p} {package_version(p)}" for p in PACKAGES)],
    ]
