"""Build the demo's offline benchmark datasets, laid out as a huggingface_hub cache beside the demo model.

    python scripts/make_demo_data.py     # writes demo/hub/datasets--evalpin-demo--ai2_arc, ...

Four synthetic dataset repos in the exact schema lm-eval's catalog tasks read today (parquet per config
and split, a README whose YAML header lists `configs:`), with questions about the creatures of
demo/facts.jsonl, so the tiny demo model scores above chance on some of them. Each is the stand-in for
a real Hub dataset, under an id of the `evalpin-demo/` namespace that names it as the demo's (a real
dataset's id is never used for synthetic data; the suite binds catalog tasks to them by `data: NAME`):

  evalpin-demo/ai2_arc    for allenai/ai2_arc: ARC-Easy (colors) and ARC-Challenge (food); two commits:
                          d1 ships three wrong answer keys in ARC-Easy's test split, d2 (main) fixes them
  evalpin-demo/hellaswag  for Rowan/hellaswag: where each creature lives, as contexts and endings
  evalpin-demo/gsm8k      for openai/gsm8k: word problems about what the creatures eat (main, socratic)
  evalpin-demo/mmlu       for cais/mmlu: three subjects: high_school_biology (colors), nutrition
                          (food), high_school_geography (homes), each with dev/validation/test

Its output is committed (parquet bytes depend on the pyarrow version); rerun it only to rebuild the demo.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from make_demo_upstream import FACTS, HUB

from support.hubcache import add_commit, fresh_cache_repo

NAMESPACE = "evalpin-demo"  # the demo's datasets' Hub namespace: synthetic data, never a real dataset's id
LETTERS = "ABCD"
WRONG_KEYS_IN_D1 = (0, 5, 11)  # ARC-Easy test rows whose answer key d1 gets wrong (the tiny model knows them)
Rows = list[dict]


def facts() -> list[dict]:
    return [json.loads(line) for line in FACTS.read_text().splitlines()]


def four_choices(answer: str, pool: list[str], rng: random.Random) -> tuple[list[str], int]:
    """The answer and three other values from the pool, shuffled; and the answer's index."""
    others = rng.sample(sorted(set(pool) - {answer}), 3)
    choices = [answer, *others]
    rng.shuffle(choices)
    return choices, choices.index(answer)


def splits(rows: Rows, sizes: dict[str, int]) -> dict[str, Rows]:
    """Consecutive slices of rows, one per split, in the order given."""
    out, start = {}, 0
    for split, size in sizes.items():
        out[split] = rows[start : start + size]
        start += size
    return out


def arc_rows(key: str, question: str, rng: random.Random) -> Rows:
    pool = [f[key] for f in facts()]
    rows = []
    for i, f in enumerate(facts()):
        choices, answer = four_choices(f[key], pool, rng)
        rows.append(
            {
                "id": f"Demo_{key}_{i:03d}",
                "question": question.format(name=f["name"]),
                "choices": {"text": choices, "label": list(LETTERS)},
                "answerKey": LETTERS[answer],
            }
        )
    return rows


def ai2_arc(fixed: bool) -> dict[str, dict[str, Rows]]:
    easy = splits(
        arc_rows("color", "What color is the {name}?", random.Random(1)),
        {"test": 16, "validation": 8, "train": 8},
    )
    if not fixed:
        for i in WRONG_KEYS_IN_D1:
            row = easy["test"][i]
            row["answerKey"] = LETTERS[(LETTERS.index(row["answerKey"]) + 1) % 4]
    challenge = splits(
        arc_rows("food", "What does the {name} eat?", random.Random(2)),
        {"test": 16, "validation": 8, "train": 8},
    )
    return {"ARC-Easy": easy, "ARC-Challenge": challenge}


def hellaswag() -> dict[str, dict[str, Rows]]:
    rng = random.Random(3)
    pool = [f["home"] for f in facts()]
    rows = []
    for i, f in enumerate(facts()):
        endings, label = four_choices(f["home"], pool, rng)
        ctx_a, ctx_b = f"Where does the {f['name']} live?", "answer:"
        rows.append(
            {
                "ind": i,
                "activity_label": "Question",
                "ctx_a": ctx_a,
                "ctx_b": ctx_b,
                "ctx": f"{ctx_a} {ctx_b}",
                "endings": endings,
                "source_id": f"demo~{f['name']}",
                "split": "",
                "split_type": "indomain",
                "label": str(label),
            }
        )
    by_split = splits(rows, {"validation": 16, "train": 8, "test": 8})
    for split, split_rows in by_split.items():
        for row in split_rows:
            row["split"] = split
    for row in by_split["test"]:  # as on the Hub: the test split's labels are withheld
        row["label"] = ""
    return {"default": by_split}


def gsm8k() -> dict[str, dict[str, Rows]]:
    rng = random.Random(4)
    main, socratic = [], []
    for f in facts():
        a, b = rng.randint(1, 5), rng.randint(1, 5)
        question = (
            f"The {f['name']} eats {a} {f['food']} in the morning and {b} {f['food']} at night. "
            f"How many {f['food']} does the {f['name']} eat in a day?"
        )
        work = f"The {f['name']} eats {a} + {b} = <<{a}+{b}={a + b}>>{a + b} {f['food']} in a day."
        main.append({"question": question, "answer": f"{work}\n#### {a + b}"})
        socratic.append(
            {"question": question, "answer": f"How many {f['food']} in a day? ** {work}\n#### {a + b}"}
        )
    sizes = {"test": 8, "train": 24}
    return {"main": splits(main, sizes), "socratic": splits(socratic, sizes)}


MMLU_SUBJECTS = {  # subject -> (fact key, question)
    "high_school_biology": ("color", "What color is the {name}?"),
    "nutrition": ("food", "What does the {name} eat?"),
    "high_school_geography": ("home", "Where does the {name} live?"),
}


def mmlu() -> dict[str, dict[str, Rows]]:
    configs = {}
    for n, (subject, (key, question)) in enumerate(MMLU_SUBJECTS.items()):
        rng = random.Random(10 + n)
        pool = [f[key] for f in facts()]
        rows = []
        for f in facts():
            choices, answer = four_choices(f[key], pool, rng)
            rows.append(
                {
                    "question": question.format(name=f["name"]),
                    "subject": subject,
                    "choices": choices,
                    "answer": answer,
                }
            )
        configs[subject] = splits(rows, {"test": 8, "validation": 5, "dev": 5})
    return configs


def readme(configs: dict[str, dict[str, Rows]], path_of: Callable[[str, str], str]) -> str:
    """A dataset card whose YAML header lists `configs:`, as the Hub writes it for parquet datasets."""
    lines = ["---", "configs:"]
    for config, by_split in configs.items():
        lines += [f"- config_name: {config}", "  data_files:"]
        for split in by_split:
            lines += [f"  - split: {split}", f"    path: {path_of(config, split).rsplit('-', 3)[0]}-*"]
    return "\n".join([*lines, "---", "", "Demo data for evalpin: questions about demo/facts.jsonl.", ""])


def write_snapshot(folder: Path, configs: dict[str, dict[str, Rows]], path_of: Callable[[str, str], str]):
    for config, by_split in configs.items():
        for split, rows in by_split.items():
            path = folder / path_of(config, split)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows), path)
    (folder / "README.md").write_text(readme(configs, path_of))


def in_config_folder(config: str, split: str) -> str:
    return f"{config}/{split}-00000-of-00001.parquet"


def in_data_folder(config: str, split: str) -> str:
    return f"data/{split}-00000-of-00001.parquet"


def publish(repo_id: str, commits: list[tuple[str, dict]], path_of: Callable[[str, str], str]) -> dict:
    """Each (message, configs) becomes a commit, in order; refs/main points at the last one."""
    repo_dir = fresh_cache_repo(repo_id, HUB, repo_type="dataset")
    made, parent = {}, ""
    with tempfile.TemporaryDirectory() as tmp:
        for i, (message, configs) in enumerate(commits):
            write_snapshot(Path(tmp) / str(i), configs, path_of)
            made[message.split(":")[0]] = parent = add_commit(repo_dir, Path(tmp) / str(i), parent, message)
    for ref, commit in {**made, "main": parent}.items():
        (repo_dir / "refs" / ref).write_text(commit)
    return made


def main() -> None:
    arc = [("d1: first release", ai2_arc(fixed=False)), ("d2: fix three answer keys", ai2_arc(fixed=True))]
    repos = {  # name -> (commits, layout)
        "ai2_arc": (arc, in_config_folder),
        "hellaswag": ([("d1: first release", hellaswag())], in_data_folder),
        "gsm8k": ([("d1: first release", gsm8k())], in_config_folder),
        "mmlu": ([("d1: first release", mmlu())], in_config_folder),
    }
    made = {f"{NAMESPACE}/{name}": publish(f"{NAMESPACE}/{name}", *repo) for name, repo in repos.items()}
    print(json.dumps(made, indent=2))


if __name__ == "__main__":
    main()
