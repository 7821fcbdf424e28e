"""How lm-eval reaches the pinned model: one function per backend in conf/backend/, all on the same pins.

hf runs in-process on models/NAME. local-completions talks to an OpenAI-compatible /v1/completions
server (vLLM, started with `evalpin serve-args NAME`); the server must serve exactly the pinned delivery,
while the tokenizer that turns prompts into token IDs is always the verified one in models/NAME. gguf talks
to llama-cpp-python's server on a pinned GGUF file (generation tasks only).
"""

from __future__ import annotations

from pathlib import Path

from evalpin.base import project
from evalpin.base.errors import EvalpinError
from evalpin.delivery.inventory import max_positions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from evalpin.config.params import Backend, Inference, Model


def base_of(model: Model) -> str:
    """The delivery whose weights load: conf/model's `base` for an adapter, else the model itself."""
    return model.base or model.name


def hf(root: Path, model: Model, inference: Inference, backend: Backend) -> tuple[str, dict]:
    pinned = sorted(
        set(backend.model_args)
        & {"pretrained", "peft", "dtype", "trust_remote_code", "add_bos_token", "revision", "gguf_file"}
    )
    if pinned:
        raise EvalpinError(
            f"conf/backend/hf.yaml: model_args {pinned} come from the pins (conf/model/, conf/inference/) "
            "and cannot be set here; remove them."
        )
    args = {
        "pretrained": str(project.model_dir(root, base_of(model))),
        "dtype": inference.dtype,
        "trust_remote_code": model.trust_remote_code,
        "add_bos_token": model.add_bos_token,
    }
    if base_of(model) != model.name:
        args["peft"] = str(project.model_dir(root, model.name))  # lm-eval loads base + adapter
    if model.gguf_file:  # transformers dequantizes it to `dtype`; tokenizer from inside the GGUF
        args["gguf_file"] = model.gguf_file
    return "hf", {**args, **backend.model_args}


# Set from the pins, never from conf/backend: they decide which token IDs the server scores.
PINNED_COMPLETIONS_ARGS = ("model", "tokenizer", "tokenizer_backend", "add_bos_token", "trust_remote_code")


def local_completions(root: Path, model: Model, inference: Inference, backend: Backend) -> tuple[str, dict]:
    """lm-eval's `local-completions` against a server that serves models/NAME as `--served-model-name NAME`.

    Prompts are tokenized here by the pinned tokenizer and sent as token IDs (tokenized_requests), so the
    server's own tokenizer copy and BOS handling cannot change what is scored; loglikelihoods come back
    through `echo` + `logprobs`.
    """
    if base_of(model) != model.name:
        raise EvalpinError(
            f"conf/model/{model.name}.yaml: {model.name} is an adapter on {base_of(model)}; the "
            "local-completions backend cannot prove which adapter a server applies. Use `backend: hf`."
        )
    configured = dict(backend.model_args)
    pinned = sorted(set(configured) & set(PINNED_COMPLETIONS_ARGS))
    if pinned:
        raise EvalpinError(
            f"conf/backend/local-completions.yaml: model_args {pinned} come from the pinned model "
            "(conf/model/, models/NAME) and cannot be set here; remove them."
        )
    if model.gguf_file:
        raise EvalpinError(
            f"conf/model/{model.name}.yaml: a GGUF delivery ({model.gguf_file}) has no Hugging Face "
            "tokenizer directory for local-completions to tokenize with. Use `backend: hf` (in-process, "
            "dequantized by transformers)."
        )
    if not configured.get("base_url"):
        raise EvalpinError(
            "conf/backend/local-completions.yaml: model_args.base_url is not set; point it at the server's "
            "/v1/completions (per machine: conf/local/default.yaml)."
        )
    delivery = project.model_dir(root, model.name)
    args = {
        "model": model.name,  # the server's --served-model-name (`evalpin serve-args` sets it)
        "tokenizer": str(delivery),
        "tokenizer_backend": "huggingface",
        "tokenized_requests": True,
        "add_bos_token": model.add_bos_token,
        "trust_remote_code": model.trust_remote_code,
        "seed": int(inference.seed),
        "num_concurrent": 1,
        "max_retries": 3,
    }
    max_length = max_positions(delivery)
    if max_length:
        args["max_length"] = max_length  # the server's --max-model-len (`evalpin serve-args` sets it)
    return "local-completions", {**args, **configured}


def gguf(root: Path, model: Model, inference: Inference, backend: Backend) -> tuple[str, dict]:
    """lm-eval's `gguf` backend against llama-cpp-python's server on the pinned GGUF file: llama.cpp's own
    quantized kernels, the second path beside hf's in-process dequantization. The server tokenizes with
    the file's own tokenizer (the one the golden renderings verify)."""
    where = "conf/backend/gguf-server.yaml"
    if not model.gguf_file:
        raise EvalpinError(
            f"conf/model/{model.name}.yaml: no gguf_file; the gguf backend serves a pinned GGUF delivery. "
            "Use `backend: hf` for this model."
        )
    configured = dict(backend.model_args)
    unknown = sorted(set(configured) - {"base_url", "max_length"})
    if unknown:
        raise EvalpinError(f"{where}: model_args {unknown} are not lm-eval gguf arguments; remove them.")
    if not configured.get("base_url"):
        raise EvalpinError(
            f"{where}: model_args.base_url is not set; point it at the server `evalpin serve-args "
            f"{model.name}` started (per machine: conf/local/default.yaml)."
        )
    return "gguf", configured


# What lm-eval's gguf backend scores correctly against llama-cpp-python 0.3.36's server (docs/backends.md):
# its echo logprobs are shifted by one token and the backend drops the continuation's last one.
GGUF_SERVER_OUTPUT_TYPES = ("generate_until",)

BACKENDS = {"hf": hf, "local-completions": local_completions, "gguf": gguf}


def lm_eval_model(root: Path, model: Model, inference: Inference, backend: Backend) -> tuple[str, dict]:
    """lm-eval's model name and model_args for the configured backend."""
    name = backend.name
    if name not in BACKENDS:
        raise EvalpinError(
            f"params.yaml: backend.name {name!r} cannot run here; supported: {sorted(BACKENDS)}. "
            "Pick one in conf/config.yaml (defaults: backend) or with `-S backend=hf`."
        )
    return BACKENDS[name](root, model, inference, backend)
