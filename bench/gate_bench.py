"""The gate's power at full size: the paired rule against the unpaired one, on real per-question outputs.

The demo model on lm-eval's `mmlu` group over the full-size MMLU-shaped dataset (14,042 questions in 57
subjects: suite_bench.pinned_repo), evaluated from an empty result store twice: the same delivery in two
numerics-affecting variants, conf/inference's dtype float32 and bfloat16 (numerics: fast). From their
eval/samples and metrics (untimed), with the gate's own code (results/gate.py judge_all):

- false alarms between the variants (an unchanged delivery on other numerics), abs_floor 0 so that the
  statistics alone decide: the unpaired rule as conf/gate applies it (k_stderr 2 per row, no suite-wide
  control) and the paired rule (Holm, alpha 0.05 over the rows: subjects and groups);
- the smallest drop each rule detects at the same false-alarm rate: k right answers of the bfloat16 run
  turned wrong (questions drawn at random over the subjects), k growing until the group `mmlu` is flagged,
  both rules at the level Holm's first step uses (alpha / rows): unpaired, |drop| / combined stderr over
  z(1 - alpha / (2 rows)); paired, the group's clustered t;
- each rule's minimum detectable effect (power 0.8) for the group and the median subject.
"""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
import statistics
from pathlib import Path

from scipy import stats

from bench import machine
from bench.measure import run
from bench.numerics_bench import environment, read_outputs, write_params
from bench.report import Section, Verdict
from bench.suite_bench import evalpin_cmd, pinned_repo
from evalpin.config.params import Gate
from evalpin.results.gate import Side, judge_all
from evalpin.results.paired import mde

VARIANTS = {"float32": "float32", "bfloat16": "bfloat16"}
ALPHA, POWER = 0.05, 0.8
GROUP = "mmlu"
SEED = 11


def evaluate(repo: Path, params: dict, dtype: str, limit: int | None) -> tuple[Side, dict]:
    """One variant from an empty store: its side (metrics, fingerprint) and samples."""
    params = {**params, "inference": {**params["inference"], "dtype": dtype}}
    write_params(repo, params, params["model"], limit, "fast")
    for out in ("eval/results", "eval/samples"):
        shutil.rmtree(repo / out, ignore_errors=True)
    done = run(evalpin_cmd("evaluate"), cwd=repo, env=environment(repo, {}))
    print(f"bench: gate: {dtype}: {done.wall:.1f} s", flush=True)
    samples, _ = read_outputs(repo)
    metrics = json.loads((repo / "eval/metrics.json").read_text())
    fingerprint = json.loads((repo / "eval/fingerprint.json").read_text())
    return Side(dtype, metrics, fingerprint), samples


def rescored(side: Side, samples: dict) -> Side:
    """`side` with each task's score and stderr recomputed from `samples` (the group: over its questions)."""
    metrics = copy.deepcopy(side.metrics)
    pooled = []
    for task, rows in samples.items():
        scores = [r["score"] for r in rows.values()]
        pooled += scores
        metrics["tasks"][task].update(score_and_stderr(scores))
    metrics["tasks"][GROUP].update(score_and_stderr(pooled))
    return Side(side.rev, metrics, side.fingerprint)


def score_and_stderr(scores: list[float]) -> dict:
    mean = sum(scores) / len(scores)
    return {"score": mean, "stderr": math.sqrt(mean * (1 - mean) / (len(scores) - 1))}


def plant(samples: dict, k: int) -> dict:
    """`samples` with k right answers turned wrong, drawn at random over every subject's questions."""
    planted = copy.deepcopy(samples)
    right = [(t, d) for t, rows in planted.items() for d, r in rows.items() if r["score"] == 1.0]
    for task, doc in random.Random(SEED).sample(right, k):
        planted[task][doc]["score"] = 0.0
    return planted


def flagged(sides: tuple[Side, Side], samples: tuple[dict, dict] | None, rows: int) -> bool:
    """Is the group a regression at the per-row level Holm's first step uses (alpha / rows)?"""
    gate = Gate(float(stats.norm.ppf(1 - ALPHA / (2 * rows))), 0.0, ALPHA / rows, "none", POWER)
    verdicts = {v.task: v for v in judge_all(sides, samples, gate)}
    return verdicts[GROUP].verdict == "regression"


def smallest_detected(base: tuple[Side, dict], cand: tuple[Side, dict], paired_rule: bool) -> int:
    """The smallest k (binary search) for which the rule flags the group."""
    rows = len(base[0].metrics["tasks"])
    low, high = 0, sum(1 for rows_ in cand[1].values() for r in rows_.values() if r["score"] == 1.0)
    while low < high:
        k = (low + high) // 2
        planted = plant(cand[1], k)
        sides = (base[0], rescored(cand[0], planted))
        if flagged(sides, (base[1], planted) if paired_rule else None, rows):
            high = k
        else:
            low = k + 1
    return low


def gate_power(root: Path, scratch: Path, limit: int | None = None) -> Section:
    started = machine.load_average()
    repo, params = pinned_repo(root, scratch, name="gate-repo")
    base, cand = (evaluate(repo, params, dtype, limit) for dtype in VARIANTS)
    questions = sum(len(rows) for rows in base[1].values())
    rows = len(base[0].metrics["tasks"])
    default = Gate(2.0, 0.0, ALPHA, "holm", POWER)
    verdicts = {
        "unpaired": judge_all((base[0], cand[0]), None, default),
        "paired": judge_all((base[0], cand[0]), (base[1], cand[1]), default),
    }
    alarms = {name: sum(v.verdict in ("regression", "improved") for v in vs) for name, vs in verdicts.items()}
    group = {name: next(v for v in vs if v.task == GROUP) for name, vs in verdicts.items()}
    groups = {
        t for t, row in base[0].fingerprint["suite"]["tasks"].items() if row.get("output_type") == "group"
    }
    leaves = [v for v in verdicts["paired"] if v.task not in groups and v.paired]
    discordant = sum(sum(v.paired.discordant or (0, 0)) for v in leaves)
    detect = {name: smallest_detected(base, cand, name == "paired") for name in verdicts}
    level = ALPHA / rows
    mdes = {
        "unpaired": mde(group["unpaired"].stderr, level, POWER),
        "paired": mde(group["paired"].stderr, level, POWER, group["paired"].paired.df),
    }
    leaf_mde = {
        name: statistics.median(
            [m for v in vs if v.task not in groups and (m := mde(v.stderr, level, POWER)) is not None]
            or [0.0]
        )
        for name, vs in verdicts.items()
    }
    table = [
        [
            name,
            str(alarms[name]),
            f"{detect[name]} ({detect[name] / questions:.4f})",
            f"{mdes[name]:.4f}" if mdes[name] else "-",
            f"{leaf_mde[name]:.4f}",
        ]
        for name in verdicts
    ]
    gain = detect["unpaired"] / max(detect["paired"], 1)
    return Section(
        "The gate's power: paired vs unpaired",
        f"{__doc__.split(chr(10), 1)[1].strip()} {questions:,} questions in {len(leaves)} subjects "
        f"({rows} rows with the groups); {discordant} questions ({discordant / questions:.1%}) answered "
        f"differently by the two variants; group score {group['paired'].baseline:.4f} (float32) vs "
        f"{group['paired'].candidate:.4f} (bfloat16). Load average at the start {started}, at the end "
        f"{machine.load_average()}.",
        [
            "rule",
            f"false alarms, bfloat16 vs float32 ({rows} rows)",
            "smallest planted drop flagged on mmlu (questions, score)",
            "mde, mmlu group",
            "mde, median subject (where a spread was seen)",
        ],
        table,
        [
            Verdict(
                "the paired rule detects a smaller drop than the unpaired one at the same false-alarm rate",
                f"{gain:.2f}x smaller",
                detect["paired"] < detect["unpaired"],
            )
        ],
    )
