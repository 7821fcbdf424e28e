"""Build the offline demo upstream: a tiny Llama in three commits, laid out as a huggingface_hub cache.

    python scripts/make_demo_upstream.py            # writes demo/hub/models--evalpin--demo-tiny

Its output is committed: training on another CPU need not give the same bytes, and the whole point of the
demo is that r1's bytes never change. Rerun it only to rebuild the demo from scratch.

Revisions (each also reachable by a ref of the same name; refs/main points at the newest):
  r1  baseline, trained on two thirds of the facts
  r2  delivery drift only: new chat template and generation_config.json, byte-identical weights
  r3  a further fine-tune on all facts: new weights
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from support.hubcache import add_commit, fresh_cache_repo

ROOT = Path(__file__).resolve().parents[1]
REPO_ID = "evalpin/demo-tiny"
HUB = ROOT / "demo" / "hub"
FACTS = ROOT / "demo" / "facts.jsonl"

CHAT_TEMPLATE_R1 = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CHAT_TEMPLATE_R2 = (  # same roles, other delimiters: the kind of change nobody announces
    "{{ bos_token }}{% for m in messages %}### {{ m['role'] | capitalize }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}### Assistant:{% endif %}"
)
GENERATION_R1 = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "do_sample": False}
GENERATION_R2 = {**GENERATION_R1, "repetition_penalty": 2.0}


def fact_lines() -> list[str]:
    facts = [json.loads(line) for line in FACTS.read_text().splitlines()]
    lines = []
    for f in facts:
        lines.append(f"Question: What color is the {f['name']}?\nAnswer: {f['color']}\n\n")
        lines.append(f"Question: Where does the {f['name']} live?\nAnswer: {f['home']}\n\n")
        # the same fact as a chat, rendered the way r1's chat template renders it
        lines.append(f"<|user|>\nWhere does the {f['name']} live?\n<|assistant|>\n{f['home']}\n")
        lines.append(f"Question: What does the {f['name']} eat?\nAnswer: {f['food']}\n\n")
    return lines


def few_shot_corpus(lines: list[str], seed: int) -> list[str]:
    """Each line alone plus chains of three QAs: the suite asks few-shot questions too."""
    rng = random.Random(seed)
    qa = [line for line in lines if line.startswith("Question:")]
    chains = ["".join(rng.sample(qa, 3)) for _ in range(2 * len(qa))]
    return lines + chains


def build_tokenizer(corpus: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    return tok


def train(model, tok, lines: list[str], steps: int, seed: int, batch_size: int = 64) -> None:
    """AdamW on random minibatches with a cosine schedule: seconds on one CPU core."""
    torch.manual_seed(seed)
    data = tok(lines, return_tensors="pt", padding=True)
    ids, mask = data["input_ids"], data["attention_mask"]
    labels = ids.masked_fill(mask == 0, -100)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=steps)
    model.train()
    for step in range(steps):
        pick = torch.randperm(len(lines))[:batch_size]
        loss = model(input_ids=ids[pick], attention_mask=mask[pick], labels=labels[pick]).loss
        loss.backward()
        optim.step()
        schedule.step()
        optim.zero_grad()
        if step % 50 == 0 or step == steps - 1:
            print(f"  step {step:4d} loss {loss.item():.3f}")
    model.eval()


def save_revision(model, tok, chat_template: str, generation: dict, out: Path) -> None:
    out.mkdir(parents=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.chat_template = chat_template
    tok.save_pretrained(out)
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2, sort_keys=True) + "\n")


def main() -> None:
    lines = fact_lines()
    random.Random(0).shuffle(lines)
    known = lines[: len(lines) * 2 // 3]  # r1 has seen two thirds of the facts

    tok = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(lines),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)

    repo_dir = fresh_cache_repo(REPO_ID, HUB)
    commits, parent = {}, ""
    with tempfile.TemporaryDirectory() as tmp:
        print("r1: baseline")
        train(model, tok, few_shot_corpus(known, seed=1), steps=600, seed=1)
        save_revision(model, tok, CHAT_TEMPLATE_R1, GENERATION_R1, Path(tmp) / "r1")
        commits["r1"] = parent = add_commit(repo_dir, Path(tmp) / "r1", parent, "r1: baseline")

        print("r2: template and generation defaults drift, same weights")
        (Path(tmp) / "r2").mkdir()
        for f in (Path(tmp) / "r1").iterdir():
            shutil.copy2(f, Path(tmp) / "r2" / f.name)
        (Path(tmp) / "r2" / "chat_template.jinja").write_text(CHAT_TEMPLATE_R2)
        (Path(tmp) / "r2" / "generation_config.json").write_text(
            json.dumps(GENERATION_R2, indent=2, sort_keys=True) + "\n"
        )
        commits["r2"] = parent = add_commit(repo_dir, Path(tmp) / "r2", parent, "r2: new chat template")

        print("r3: fine-tune on all facts")
        train(model, tok, few_shot_corpus(lines, seed=3), steps=300, seed=3)
        save_revision(model, tok, CHAT_TEMPLATE_R2, GENERATION_R2, Path(tmp) / "r3")
        commits["r3"] = add_commit(repo_dir, Path(tmp) / "r3", parent, "r3: fine-tune")

    for ref, commit in {**commits, "main": commits["r3"]}.items():
        (repo_dir / "refs" / ref).write_text(commit)
    print(json.dumps(commits, indent=2))


if __name__ == "__main__":
    main()
