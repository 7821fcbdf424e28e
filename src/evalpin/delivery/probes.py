"""Server references: what the verified delivery answers to fixed probes, beside the golden renderings.

`evalpin check-server` compares a live server against these numbers without loading a model: the golden
conversations' token IDs are the probe prompts; each is continued greedily in-process (float32, no sampling
parameter, no generation_config.json) for PROBE_TOKENS tokens, recording each chosen token and its
log-probability. The served name, context length and the sampling defaults the delivery's
generation_config.json gives a vLLM server are recorded too, so a release tag alone (`git show
TAG:models/NAME.golden.json`) holds everything a check of a production endpoint needs.

They are computed in portable numerics (numerics.py), so the same bytes come out on any x86-64 CPU with AVX2,
and their numerics class is recorded beside them (levels.compare_probes judges two recordings). The kernel
environment is read once, when torch starts: a process where torch already runs with other kernels (the
golden renderings import it first) records in a child process of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from evalpin.base import numerics
from evalpin.base.errors import EvalpinError
from evalpin.base.runtime import package_version
from evalpin.delivery.gguf_file import evaluated_file
from evalpin.delivery.inventory import list_delivery, max_positions
from evalpin.delivery.lock import read_json

PROBE_TOKENS = 8
REFERENCE_DTYPE = "float32"
REFERENCE_THREADS = 2
# The generation_config.json keys a vLLM server turns into request defaults (vLLM's get_diff_sampling_param;
# it ignores do_sample); max_new_tokens is left out: the check always sets max_tokens.
VLLM_SAMPLING_KEYS = (
    "repetition_penalty",
    "presence_penalty",
    "frequency_penalty",
    "temperature",
    "top_k",
    "top_p",
    "min_p",
)


def record_probes(
    model_dir: Path,
    name: str,
    prompts: dict[str, list[int]],
    texts: dict[str, str] | None = None,
    mode: str = "portable",
) -> dict:
    """The `server` section of models/NAME.golden.json, for the delivery in model_dir. `texts`: the
    prompts decoded, special tokens included, for servers that take text prompts only (llama.cpp).
    `mode`: the numerics mode (portable: the references; fast: what this machine picks, for tests)."""
    inference = reference_inference(model_dir, mode)
    if too_late(inference):
        return record_in_child(model_dir, name, prompts, texts, mode)
    numerics.apply(inference)
    import torch

    gguf_file = evaluated_file(list_delivery(model_dir))
    model = numerics.portable_model(load_reference_model(model_dir, gguf_file), inference)
    with torch.inference_mode():
        probes = {key: greedy_continuation(model, ids) for key, ids in sorted(prompts.items())}
    return {
        "served_model_name": name,
        "context_length": context_length(model_dir, gguf_file, model),
        "sampling_defaults": {} if gguf_file else sampling_defaults(model_dir),
        "dtype": REFERENCE_DTYPE,
        "probe_tokens": PROBE_TOKENS,
        "probes": probes,
        "prompt_texts": texts or {},
        "recorded_with": {package: package_version(package) for package in ("torch", "transformers")},
        "numerics_class": numerics.describe(inference)["class"],
    }


def reference_inference(model_dir: Path, mode: str) -> dict:
    """conf/inference for the references: float32 on CPU in `mode`, on REFERENCE_THREADS threads (the thread
    count was measured not to change a bit). Portable where this CPU runs it (x86-64 with AVX2 and FMA),
    else fast, as the recorded class then says."""
    if mode == "portable" and not numerics.runs_portable():  # an ARM or pre-AVX2 CPU
        mode = "fast"
    return {"numerics": mode, "device": "cpu", "dtype": REFERENCE_DTYPE, "torch_threads": REFERENCE_THREADS}


def too_late(inference: dict) -> bool:
    """True when torch already runs in this process with kernel variables other than the mode's."""
    wanted = numerics.PORTABLE_ENV if numerics.mode_of(inference) == "portable" else {}
    return "torch" in sys.modules and any(os.environ.get(k) != v for k, v in wanted.items())


def record_in_child(model_dir: Path, name: str, prompts: dict, texts: dict | None, mode: str) -> dict:
    """record_probes in a fresh Python process, which sets the mode's environment before torch starts."""
    request = {"model_dir": str(model_dir), "name": name, "prompts": prompts, "texts": texts, "mode": mode}
    proc = subprocess.run(
        [sys.executable, "-m", "evalpin.delivery.probes"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise EvalpinError(f"recording the server references of {model_dir} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def load_reference_model(model_dir: Path, gguf_file: str | None):
    """The delivery's weights in float32 (a GGUF dequantized by transformers), as lm-eval's hf backend loads
    them; the generation config is never consulted (the loop below does its own greedy steps)."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()  # a pin prints what it pins, not a loading bar
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=getattr(torch, REFERENCE_DTYPE), trust_remote_code=False, **extra
    )
    return model.eval()


def greedy_continuation(model, prompt: list[int]) -> dict:
    """PROBE_TOKENS greedy steps without a KV cache (prompts are short): every step scores the whole
    sequence, as a server's prefill would. End-of-sequence is a token like any other (vLLM is asked to
    ignore it; llama.cpp stops there). `margins`: how far each chosen token led the runner-up, so that a
    near tie another kernel may break the other way is not mistaken for other weights."""
    import torch

    ids, tokens, logprobs, margins = list(prompt), [], [], []
    for _ in range(PROBE_TOKENS):
        logits = model(torch.tensor([ids])).logits[0, -1].float()
        top = torch.topk(torch.log_softmax(logits, dim=-1), 2)
        token = int(top.indices[0])
        tokens.append(token)
        logprobs.append(round(float(top.values[0]), 6))
        margins.append(round(float(top.values[0] - top.values[1]), 6))
        ids.append(token)
    return {"tokens": tokens, "logprobs": logprobs, "margins": margins}


def context_length(model_dir: Path, gguf_file: str | None, model) -> int | None:

    if gguf_file:
        value = getattr(model.config, "max_position_embeddings", None)
        return int(value) if isinstance(value, int) else None
    return max_positions(model_dir)


def sampling_defaults(model_dir: Path) -> dict:
    """What vLLM applies to a request that sets no sampling parameter, from the delivery's
    generation_config.json (vLLM's neutral defaults for every key it does not set)."""
    path = model_dir / "generation_config.json"
    config = read_json(path) if path.is_file() else {}
    return {key: config[key] for key in VLLM_SAMPLING_KEYS if config.get(key) is not None}


if __name__ == "__main__":  # record_in_child: a request on stdin, the section on stdout
    args = json.loads(sys.stdin.read())
    section = record_probes(
        Path(args["model_dir"]), args["name"], args["prompts"], args["texts"], args["mode"]
    )
    print(json.dumps(section))
