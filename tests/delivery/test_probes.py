"""The parts of the server references (delivery/probes.py) that record_probes puts together: the numerics
they are computed in, when torch started too early for them, the sampling defaults a vLLM server takes
from the delivery, its context length, and the greedy steps themselves, held against one forward pass of
the demo model. test_numerics.py and test_serve_args.py run record_probes whole (in-process, in a child,
under qemu) and compare its probes across numerics classes, fine-tunes and servers."""

import json
import sys

import pytest
import torch
from tokenizers import Tokenizer

from evalpin.base import numerics
from evalpin.base.errors import EvalpinError
from evalpin.delivery.probes import (
    PROBE_TOKENS,
    REFERENCE_DTYPE,
    REFERENCE_THREADS,
    VLLM_SAMPLING_KEYS,
    context_length,
    greedy_continuation,
    load_reference_model,
    record_in_child,
    reference_inference,
    sampling_defaults,
    too_late,
)
from support import HUB_REPO, demo_commit

R1 = HUB_REPO / "snapshots" / demo_commit("r1")  # no sampling parameter in generation_config.json
R2 = HUB_REPO / "snapshots" / demo_commit("r2")  # generation_config.json sets repetition_penalty: 2.0
PROMPT = "Question: What colour is the sky?\nAnswer:"


@pytest.fixture(scope="module")
def model():
    return load_reference_model(R1, None)


def test_the_references_compute_in_float32_on_cpu_portable_where_this_cpu_can():
    expected = "portable" if numerics.runs_portable() else "fast"  # an ARM or pre-AVX2 CPU records its class
    base = {"device": "cpu", "dtype": REFERENCE_DTYPE, "torch_threads": REFERENCE_THREADS}
    assert reference_inference(R1, "portable") == {"numerics": expected, **base}
    assert reference_inference(R1, "fast") == {"numerics": "fast", **base}  # asked for in tests
    assert (REFERENCE_DTYPE, REFERENCE_THREADS) == ("float32", 2)


def test_torch_started_with_other_kernels_is_too_late_for_portable_references_only(monkeypatch):
    """conftest sets the portable kernels before torch starts (this module imports it): in time; with one
    variable changed since, the references go to a child process. Fast mode asks for nothing."""
    assert "torch" in sys.modules
    portable, fast = {"numerics": "portable"}, {"numerics": "fast"}
    assert not too_late(portable) and not too_late(fast)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    assert too_late(portable) and not too_late(fast)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    assert too_late(portable)


def test_the_sampling_defaults_are_the_generation_config_keys_vllm_applies(tmp_path):
    assert sampling_defaults(R2) == {"repetition_penalty": 2.0}
    assert sampling_defaults(R1) == {} == sampling_defaults(tmp_path)  # none set; no generation_config.json
    config = {
        "do_sample": True,  # vLLM ignores it
        "max_new_tokens": 64,  # the check always sets max_tokens
        "eos_token_id": 2,
        "temperature": 0.0,  # set to zero: recorded
        "top_p": None,  # unset: vLLM's neutral default
        "top_k": 20,
        "min_p": 0.05,
        "presence_penalty": 0.5,
    }
    (tmp_path / "generation_config.json").write_text(json.dumps(config))
    found = sampling_defaults(tmp_path)
    assert found == {"temperature": 0.0, "top_k": 20, "min_p": 0.05, "presence_penalty": 0.5}
    assert set(found) <= set(VLLM_SAMPLING_KEYS)


def test_a_generation_config_that_is_not_json_is_one_line_naming_it(tmp_path):
    (tmp_path / "generation_config.json").write_text("{'temperature': 0.7}")
    with pytest.raises(EvalpinError) as caught:
        sampling_defaults(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}/generation_config.json: not valid JSON")
    assert "\n" not in str(caught.value)


def test_the_context_length_is_the_deliverys_or_a_gguf_models_own(model, tmp_path):
    assert context_length(R1, None, model) == 512  # config.json's max_position_embeddings
    assert context_length(tmp_path, None, model) is None  # no config.json: unknown, not the model's
    assert context_length(tmp_path, "model.Q4_1.gguf", model) == 512  # a GGUF's: as transformers read it


def test_each_greedy_step_is_the_top_token_of_one_forward_pass_over_the_continuation(model):
    """The probe loop scores the whole sequence at every step (no KV cache); one forward pass over the
    prompt and the continuation must pick the same tokens with the same log-probabilities and leads."""
    prompt = Tokenizer.from_file(str(R1 / "tokenizer.json")).encode(PROMPT).ids
    asked = list(prompt)
    with torch.inference_mode():
        probe = greedy_continuation(model, prompt)
        sequence = torch.tensor([prompt + probe["tokens"][:-1]])
        logprobs = torch.log_softmax(model(sequence).logits[0, len(prompt) - 1 :].float(), dim=-1)
    assert prompt == asked  # the caller's prompt is not extended in place
    assert [len(probe[k]) for k in ("tokens", "logprobs", "margins")] == [PROBE_TOKENS] * 3
    top = torch.topk(logprobs, 2)
    assert probe["tokens"] == top.indices[:, 0].tolist()
    assert probe["logprobs"] == pytest.approx(top.values[:, 0].tolist(), abs=1e-5)
    assert probe["margins"] == pytest.approx((top.values[:, 0] - top.values[:, 1]).tolist(), abs=1e-5)
    assert all(m >= 0 for m in probe["margins"]) and all(lp <= 0 for lp in probe["logprobs"])
    assert all(round(v, 6) == v for v in probe["logprobs"] + probe["margins"])  # recorded to 6 decimals


def test_a_child_that_fails_to_record_names_the_delivery_and_shows_its_error(tmp_path):
    gone = tmp_path / "gone"  # e.g. removed while the pin ran
    with pytest.raises(EvalpinError) as caught:
        record_in_child(gone, "demo-tiny", {"p": [1, 2]}, None, "fast")
    first, *rest = str(caught.value).splitlines()
    assert first == f"recording the server references of {gone} failed:"
    assert rest[-1] == f"FileNotFoundError: [Errno 2] No such file or directory: '{gone}'"  # the child's
