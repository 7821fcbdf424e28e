"""Build the offline demo's LoRA adapter for evalpin/demo-tiny, laid out as a huggingface_hub cache.

    python scripts/make_demo_adapter.py     # writes demo/hub/models--evalpin--demo-tiny-lora

Two commits, each a LoRA trained on one base revision (read from the committed demo upstream), on all the
facts, so it knows what the base was never shown:
  a1  trained on demo-tiny r1; adapter_config.json names evalpin/demo-tiny at r1's commit
  a2  the same recipe on demo-tiny r3 (the base's new weights): what re-certification looks like

Its output is committed, like the base's: retraining on another CPU need not give the same bytes.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import torch
from make_demo_upstream import HUB, fact_lines, few_shot_corpus, train
from peft import LoraConfig, get_peft_model
from transformers import AutoTokenizer, LlamaForCausalLM

from support.hubcache import add_commit, fresh_cache_repo

BASE_REPO = HUB / "models--evalpin--demo-tiny"
REPO_ID = "evalpin/demo-tiny-lora"


def base_commit(ref: str) -> str:
    return (BASE_REPO / "refs" / ref).read_text().strip()


def train_adapter(base_ref: str, out: Path) -> None:
    commit = base_commit(base_ref)
    snapshot = BASE_REPO / "snapshots" / commit
    tok = AutoTokenizer.from_pretrained(snapshot)
    torch.manual_seed(7)
    base = LlamaForCausalLM.from_pretrained(snapshot, dtype=torch.float32)
    config = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
    )
    model = get_peft_model(base, config)
    lines = fact_lines()
    random.Random(0).shuffle(lines)
    train(model, tok, few_shot_corpus(lines, seed=7), steps=300, seed=7)
    # What the adapter was trained on, in the hub's words (peft would record the local snapshot path).
    model.peft_config["default"].base_model_name_or_path = "evalpin/demo-tiny"
    model.peft_config["default"].revision = commit
    model.save_pretrained(out, safe_serialization=True)
    (out / "README.md").unlink(missing_ok=True)  # peft's model-card stub: nothing a user needs here


def main() -> None:
    repo_dir = fresh_cache_repo(REPO_ID, HUB)
    commits, parent = {}, ""
    with tempfile.TemporaryDirectory() as tmp:
        for name, base_ref in (("a1", "r1"), ("a2", "r3")):
            print(f"{name}: LoRA on demo-tiny {base_ref}")
            train_adapter(base_ref, Path(tmp) / name)
            message = f"{name}: LoRA trained on evalpin/demo-tiny {base_ref}"
            commits[name] = parent = add_commit(repo_dir, Path(tmp) / name, parent, message)
    for ref, commit in {**commits, "main": commits["a2"]}.items():
        (repo_dir / "refs" / ref).write_text(commit)
    print(json.dumps(commits, indent=2))


if __name__ == "__main__":
    main()
