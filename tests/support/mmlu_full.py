"""A full-size MMLU-shaped dataset in the Hub's layout of cais/mmlu: 57 configs (lm-eval's mmlu leaves'
dataset_name) at MMLU's real row counts (test 14,042, validation 1,531, dev 5 each), one parquet file per
config and split (CONFIG/SPLIT-00000-of-00001.parquet), a README whose YAML header lists `configs:`.

The text is synthetic (seeded words, MMLU's columns: question, subject, choices, answer); the sizes are
real, so what an evaluation costs at the size users run can be measured offline. Generated into .cache
(git-ignored), never committed: `python scripts/make_mmlu_full.py [DIR]` (default .cache/mmlu-full),
a few seconds; a finished folder is kept (its .complete stamp names this generator's version).
"""

from __future__ import annotations

import random
from pathlib import Path

VERSION = "2"
DEV_ROWS = 5
COMMIT = "6d4e5f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e"  # the revision the tests and the bench pin it under
# subject -> (test rows, validation rows), as cais/mmlu has them
SUBJECTS = {
    "abstract_algebra": (100, 11),
    "anatomy": (135, 14),
    "astronomy": (152, 16),
    "business_ethics": (100, 11),
    "clinical_knowledge": (265, 29),
    "college_biology": (144, 16),
    "college_chemistry": (100, 8),
    "college_computer_science": (100, 11),
    "college_mathematics": (100, 11),
    "college_medicine": (173, 22),
    "college_physics": (102, 11),
    "computer_security": (100, 11),
    "conceptual_physics": (235, 26),
    "econometrics": (114, 12),
    "electrical_engineering": (145, 16),
    "elementary_mathematics": (378, 41),
    "formal_logic": (126, 14),
    "global_facts": (100, 10),
    "high_school_biology": (310, 32),
    "high_school_chemistry": (203, 22),
    "high_school_computer_science": (100, 9),
    "high_school_european_history": (165, 18),
    "high_school_geography": (198, 22),
    "high_school_government_and_politics": (193, 21),
    "high_school_macroeconomics": (390, 43),
    "high_school_mathematics": (270, 29),
    "high_school_microeconomics": (238, 26),
    "high_school_physics": (151, 17),
    "high_school_psychology": (545, 60),
    "high_school_statistics": (216, 23),
    "high_school_us_history": (204, 22),
    "high_school_world_history": (237, 26),
    "human_aging": (223, 23),
    "human_sexuality": (131, 12),
    "international_law": (121, 13),
    "jurisprudence": (108, 11),
    "logical_fallacies": (163, 18),
    "machine_learning": (112, 11),
    "management": (103, 11),
    "marketing": (234, 25),
    "medical_genetics": (100, 11),
    "miscellaneous": (783, 86),
    "moral_disputes": (346, 38),
    "moral_scenarios": (895, 100),
    "nutrition": (306, 33),
    "philosophy": (311, 34),
    "prehistory": (324, 35),
    "professional_accounting": (282, 31),
    "professional_law": (1534, 170),
    "professional_medicine": (272, 31),
    "professional_psychology": (612, 69),
    "public_relations": (110, 12),
    "security_studies": (245, 27),
    "sociology": (201, 22),
    "us_foreign_policy": (100, 11),
    "virology": (166, 18),
    "world_religions": (171, 19),
}
WORDS = [
    "cell",
    "energy",
    "force",
    "market",
    "law",
    "court",
    "state",
    "theory",
    "river",
    "number",
    "signal",
    "model",
    "price",
    "vote",
    "growth",
    "protein",
    "orbit",
    "charge",
    "policy",
    "contract",
    "virus",
    "rate",
    "system",
    "value",
    "period",
    "trade",
    "light",
    "heat",
    "mass",
    "culture",
]
LONG = (
    "professional_law",
    "high_school_european_history",
    "high_school_us_history",
    "high_school_world_history",
)


def sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def rows(subject: str, count: int, rng: random.Random) -> list[dict]:
    """MMLU's columns; longer questions in law and history, as MMLU has them."""
    low, high = (20, 60) if subject in LONG else (4, 20)
    return [
        {
            "question": f"{sentence(rng, low, high)}?",
            "subject": subject,
            "choices": [sentence(rng, 1, 4) for _ in range(4)],
            "answer": rng.randrange(4),
        }
        for _ in range(count)
    ]


def readme() -> str:
    lines = ["---", "configs:"]
    for subject in SUBJECTS:
        lines += [f"- config_name: {subject}", "  data_files:"]
        for split in ("test", "validation", "dev"):
            lines += [f"  - split: {split}", f"    path: {subject}/{split}-*"]
    return "\n".join([*lines, "---", "", "Synthetic MMLU-shaped data at MMLU's real size (evalpin).", ""])


def write(folder: Path) -> Path:
    """The dataset in `folder` (made once: kept when its stamp names this version)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stamp = folder / ".complete"
    if stamp.is_file() and stamp.read_text() == VERSION:
        return folder
    for n, (subject, (test, validation)) in enumerate(SUBJECTS.items()):
        rng = random.Random(n)
        (folder / subject).mkdir(parents=True, exist_ok=True)
        for split, count in (("test", test), ("validation", validation), ("dev", DEV_ROWS)):
            table = pa.Table.from_pylist(rows(subject, count, rng))
            pq.write_table(table, folder / subject / f"{split}-00000-of-00001.parquet")
    (folder / "README.md").write_text(readme())
    stamp.write_text(VERSION)
    return folder
