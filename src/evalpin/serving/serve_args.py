"""The vLLM serving command for a pinned model, derived from the same conf/ that the evaluation read.

Production then serves exactly what was evaluated: the verified delivery (or repo@commit), its dtype,
context length, chat template file, generation defaults (the delivery's generation_config.json plus
inference.gen_kwargs as --override-generation-config), seed, and the parallelism of conf/backend/vllm.yaml.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from evalpin.base import project
from evalpin.base.errors import EvalpinError
from evalpin.config.compose import compose
from evalpin.delivery.gguf_file import evaluated_file
from evalpin.delivery.inventory import max_positions
from evalpin.delivery.lock import Lock, load_lock
from evalpin.delivery.verify import require_verified

VLLM_DTYPES = {"auto", "half", "float16", "bfloat16", "float", "float32"}
# conf/backend/vllm.yaml model_args (lm-eval's vllm names = vLLM engine args) that are also server flags.
ENGINE_FLAGS = (
    "tensor_parallel_size",
    "data_parallel_size",
    "pipeline_parallel_size",
    "gpu_memory_utilization",
    "max_num_seqs",
    "kv_cache_dtype",
    "quantization",
    "enforce_eager",
)
# lm-eval gen_kwargs -> vLLM generation-config keys; do_sample=false becomes temperature 0.
GEN_KEYS = {
    "max_gen_toks": "max_new_tokens",
    "max_new_tokens": "max_new_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repetition_penalty": "repetition_penalty",
}
PER_REQUEST = {"until"}  # stop sequences travel with each request, not with the server


def serve_args(root: Path, name: str, hub: bool = False, overrides: tuple[str, ...] = ()) -> list[str]:
    """argv of `vllm serve` for models/NAME under conf/ (+ Hydra overrides), with backend=vllm; for a GGUF
    delivery, llama-cpp-python's server."""

    if not project.model_conf_path(root, name).is_file():
        raise EvalpinError(
            f"{project.model_conf_path(root, name)}: not found; pin the model first "
            f"(`evalpin pin ORG/NAME --revision COMMIT --name {name}`)."
        )
    params = compose(root, (f"model={name}", "backend=vllm", *overrides))
    model, inference, backend = params["model"], params["inference"], params["backend"]
    engine = backend.get("model_args") or {}
    lock = load_lock(project.lock_path(root, name))
    if lock.base:
        raise EvalpinError(
            f"serve-args {name}: an adapter on {lock.base.name}; evalpin evaluates adapters in-process "
            "(backend hf) only, so it has no verified server command for one."
        )
    if lock.gguf:
        return gguf_server_args(root, lock, inference, hub)
    delivery = project.model_dir(root, name)
    local = delivery.relative_to(root).as_posix()
    if hub:
        source = lock.source
        argv = ["vllm", "serve", source.repo_id, "--revision", source.revision]
        argv += ["--tokenizer-revision", source.tokenizer_revision or source.revision]
    else:
        require_verified(root, name)  # never print a command for a delivery that drifted
        argv = ["vllm", "serve", local]
    argv += ["--served-model-name", name]
    return argv + vllm_settings(root, lock, (model, inference, engine), hub)


def vllm_settings(root: Path, lock: Lock, sections: tuple[dict, dict, dict], hub: bool) -> list[str]:
    """The flags that carry conf/ into vLLM: dtype, seed, context, chat template, generation, engine."""
    model, inference, engine = sections
    delivery = project.model_dir(root, lock.name)
    local = delivery.relative_to(root).as_posix()
    dtype = str(inference["dtype"])
    if dtype not in VLLM_DTYPES:
        raise EvalpinError(
            f"conf/inference: dtype {dtype!r} has no vLLM equivalent; use one of {sorted(VLLM_DTYPES)}."
        )
    argv = ["--dtype", dtype, "--seed", str(inference["seed"])]
    max_len = engine.get("max_model_len") or max_positions(delivery)
    if max_len:
        argv += ["--max-model-len", str(max_len)]
    if not hub and "chat_template.jinja" in lock.chat_templates:
        argv += ["--chat-template", f"{local}/chat_template.jinja"]
    argv += ["--generation-config", "auto" if hub else local]
    generation = generation_overrides(inference.get("gen_kwargs") or {})
    if generation:
        argv += ["--override-generation-config", json.dumps(generation, sort_keys=True)]
    if model.get("trust_remote_code"):
        argv.append("--trust-remote-code")
    for key in ENGINE_FLAGS:
        value = engine.get(key)
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value not in (None, False):
            argv += [flag, str(value)]
    return argv


def gguf_server_args(root: Path, lock: Lock, inference: dict, hub: bool) -> list[str]:
    """llama-cpp-python's server on the verified GGUF file (vLLM's CPU build has no GGUF loader). No
    --chat_format: the server applies the template inside the file, the one the golden renderings verify."""

    if hub:
        raise EvalpinError(
            f"serve-args {lock.name} --hub: llama-cpp-python's server cannot fetch a pinned commit; "
            "serve the verified file in models/ (drop --hub)."
        )
    require_verified(root, lock.name)
    path = evaluated_file([f.path for f in lock.files])
    argv = ["python", "-m", "llama_cpp.server", "--model", f"{project.MODELS_DIR}/{lock.name}/{path}"]
    argv += ["--model_alias", lock.name, "--seed", str(inference["seed"]), "--logits_all", "true"]
    context = lock.gguf[path].context_length
    return argv + (["--n_ctx", str(context)] if context else [])


def generation_overrides(gen_kwargs: dict) -> dict:
    out: dict = {}
    for key, value in gen_kwargs.items():
        if key in PER_REQUEST:
            print(
                f"evalpin: note: inference.gen_kwargs.{key} is per request in vLLM; send it as `stop`.",
                file=sys.stderr,
            )
        elif key == "do_sample":
            if not value:
                out["temperature"] = 0.0
        elif key in GEN_KEYS:
            out[GEN_KEYS[key]] = value
        else:
            raise EvalpinError(
                f"conf/inference: gen_kwargs.{key} has no vLLM generation-config equivalent; "
                f"use one of {sorted(GEN_KEYS)} or do_sample/until."
            )
    return out


def render(argv: list[str]) -> str:
    return shlex.join(argv)
