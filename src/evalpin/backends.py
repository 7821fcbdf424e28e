"""How lm-eval reaches the pinned model: one function per backend in conf/backend/, all on the same pins.

hf runs in-process on models/NAME. Server backends (vllm, OpenAI-compatible clusters) are configuration
for GPU machines: the server must serve exactly the pinned delivery (see `evalpin serve-args`).
"""

from __future__ import annotations

from pathlib import Path

from evalpin import project
from evalpin.errors import EvalpinError


def hf(root: Path, model: dict, inference: dict, backend: dict) -> tuple[str, dict]:
    args = {
        "pretrained": str(project.model_dir(root, model["name"])),
        "dtype": inference["dtype"],
        "trust_remote_code": bool(model["trust_remote_code"]),
        "add_bos_token": bool(model["add_bos_token"]),
    }
    return "hf", {**args, **(backend.get("model_args") or {})}


BACKENDS = {"hf": hf}


def lm_eval_model(root: Path, model: dict, inference: dict, backend: dict) -> tuple[str, dict]:
    """lm-eval's model name and model_args for the configured backend."""
    name = backend.get("name")
    if name not in BACKENDS:
        raise EvalpinError(
            f"params.yaml: backend.name {name!r} cannot run here; supported: {sorted(BACKENDS)}. "
            "Pick one in conf/config.yaml (defaults: backend) or with `-S backend=hf`."
        )
    return BACKENDS[name](root, model, inference, backend)
