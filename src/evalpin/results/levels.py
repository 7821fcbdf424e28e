"""Levels of reproduction, defined once: how close a rerun came to a recorded run.

    exact       the same bytes: every sample record and every metric equal
    equivalent  every decision equal (each multiple-choice pick, each generated text, each metric), every
                log-likelihood within the tolerance measured for the pair of numerics classes
                (tolerances.yaml); a pick may change only where the reference's margin was inside the
                tolerance (twice it: each of the two log-likelihoods may move by it), reported as a near tie
    differs     anything else, naming the samples

`make demo`'s report, `evalpin report`, `reproduce`, `outputs-diff`, `compare` and `release` all judge
with compare_samples() (or compare_probes() for the golden server references).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from evalpin.base.errors import ExitCode
from evalpin.base.numerics import kind_of

TOLERANCES_FILE = Path(__file__).with_name("tolerances.yaml")
EXACT, EQUIVALENT, DIFFERS = "exact", "equivalent", "differs"
EXIT_CODES = {EXACT: ExitCode.OK, EQUIVALENT: ExitCode.EQUIVALENT, DIFFERS: ExitCode.DRIFT}
SHOWN = 5  # samples named in a one-line verdict
INPUT_FIELDS = ("doc_hash", "prompt_hash", "target_hash")  # what a sample asked: equal in any reproduction


@dataclass(frozen=True)
class Tolerance:
    """|a - b| <= absolute + relative * |a| for each log-likelihood (or log-probability) of a pair."""

    absolute: float
    relative: float
    row: str  # which row of tolerances.yaml, and how it was measured

    def allows(self, a: float, b: float) -> bool:
        if not (math.isfinite(a) and math.isfinite(b)):
            return False  # NaN and infinities are never within a tolerance
        return abs(a - b) <= self.absolute + self.relative * abs(a)

    def bound(self, value: float) -> float:
        return self.absolute + self.relative * abs(value)


@dataclass(frozen=True)
class Finding:
    task: str
    doc_id: object
    what: str  # near tie | choice | text | score | log-likelihood | missing | metric
    detail: str

    def __str__(self) -> str:
        return f"{self.task} doc {self.doc_id}: {self.what} ({self.detail})"


@dataclass(frozen=True)
class Level:
    name: str
    classes: tuple[str | None, str | None]
    tolerance: Tolerance
    largest: float = 0.0  # the largest log-likelihood difference seen
    compared: int = 0  # log-likelihoods compared
    near_ties: tuple[Finding, ...] = ()
    differences: tuple[Finding, ...] = ()
    caveat: str = ""  # what could not be checked

    @property
    def exit_code(self) -> ExitCode:
        return EXIT_CODES[self.name]

    def counted(self) -> str:
        """How many samples differ, and how many tasks as a whole (a missing task, a metric)."""
        samples = len({(f.task, f.doc_id) for f in self.differences if f.doc_id != "-"})
        tasks = len({f.task for f in self.differences if f.doc_id == "-"})
        return ", ".join(f"{n} {what}" for n, what in ((samples, "samples"), (tasks, "tasks")) if n)

    def line(self) -> str:
        """One line: the level and why."""
        a, b = (c or "unrecorded" for c in self.classes)
        where = f"numerics class {a}" + ("" if a == b else f" vs {b}")
        if self.name == EXACT:
            return f"reproduction: exact (the same bytes; {where})"
        if self.name == EQUIVALENT:
            ties = f"; {len(self.near_ties)} near ties: " + named(self.near_ties) if self.near_ties else ""
            checked = (
                f"largest log-likelihood difference {self.largest:.1e} of {self.compared}, "
                f"tolerance {self.tolerance.row}"
            )
            return f"reproduction: equivalent (every decision equal; {where}; {self.caveat or checked}{ties})"
        return f"reproduction: DIFFERS ({self.counted()}: {named(self.differences)}; {where})"


def named(findings: tuple[Finding, ...]) -> str:
    shown = "; ".join(str(f) for f in findings[:SHOWN])
    return shown + (f"; and {len(findings) - SHOWN} more" if len(findings) > SHOWN else "")


def load_table() -> list[dict]:
    import yaml

    return yaml.safe_load(TOLERANCES_FILE.read_text())["tolerances"]


def tolerance_between(class_a: str | None, class_b: str | None) -> Tolerance:
    """The first row of tolerances.yaml whose kinds match the pair (in either order)."""

    same = class_a is not None and class_a == class_b
    kinds = {kind_of(class_a or ""), kind_of(class_b or "")}
    for row in load_table():
        between = row["between"]
        if (between == "same class" and same) or (
            isinstance(between, list) and not same and matches(between, kinds)
        ):
            label = "same class" if between == "same class" else " vs ".join(between)
            absolute, relative = float(row["absolute"]), float(row["relative"])
            return Tolerance(absolute, relative, f"{absolute:g} + {relative:g}|x| ({label})")
    raise LookupError(f"{TOLERANCES_FILE}: no row for {sorted(kinds)} and no catch-all row")


def matches(between: list[str], kinds: set[str]) -> bool:
    if "*" in between:
        rest = [k for k in between if k != "*"]
        return not rest or bool(set(rest) & kinds)
    return set(between) == kinds


@dataclass
class _Tally:
    tolerance: Tolerance
    largest: float = 0.0
    compared: int = 0
    near_ties: list[Finding] = field(default_factory=list)
    differences: list[Finding] = field(default_factory=list)

    def level(self, name: str, classes: tuple[str | None, str | None]) -> Level:
        return Level(
            name,
            classes,
            self.tolerance,
            self.largest,
            self.compared,
            tuple(self.near_ties),
            tuple(self.differences),
        )

    def logliks(self, task: str, doc: object, ref: list[float], new: list[float]) -> None:
        for a, b in zip(ref, new, strict=True):
            self.compared += 1
            self.largest = max(self.largest, abs(a - b) if math.isfinite(a - b) else math.inf)
            if not self.tolerance.allows(a, b):
                self.differences.append(Finding(task, doc, "log-likelihood", f"{a} vs {b}"))
                return


def compare_samples(
    reference: dict[str, dict[object, dict]],
    rerun: dict[str, dict[object, dict]],
    classes: tuple[str | None, str | None],
    metrics: tuple[dict | None, dict | None] = (None, None),
) -> Level:
    """`reference`, `rerun`: task -> doc_id -> sample record (eval/samples rows); `metrics`: both sides'
    eval/metrics.json when known (a metric may differ only in a task with a near tie)."""
    tally = _Tally(tolerance_between(*classes))
    exact = reference == rerun and metrics[0] == metrics[1]
    for task in sorted(reference.keys() | rerun.keys()):
        if task not in reference or task not in rerun:
            side = "the rerun" if task not in rerun else "the reference"
            tally.differences.append(Finding(task, "-", "missing", f"task not in {side}"))
            continue
        for doc in sorted(reference[task].keys() | rerun[task].keys(), key=str):
            judge_sample(task, doc, reference[task].get(doc), rerun[task].get(doc), tally)
    judge_metrics(metrics, tally)
    name = EXACT if exact else (DIFFERS if tally.differences else EQUIVALENT)
    return tally.level(name, classes)


def judge_sample(task: str, doc: object, ref: dict | None, new: dict | None, tally: _Tally) -> None:
    if ref is None or new is None:
        tally.differences.append(Finding(task, doc, "missing", "in one side only"))
        return
    if changed := [f for f in INPUT_FIELDS if ref.get(f) != new.get(f)]:  # another question, not a rerun
        tally.differences.append(Finding(task, doc, "input", f"{', '.join(changed)} changed"))
        return
    a, b = ref.get("response"), new.get("response")
    if isinstance(a, dict) and isinstance(b, dict):
        ties = len(tally.near_ties)
        judge_choice(task, doc, a, b, tally)
        tied = len(tally.near_ties) > ties  # a near tie may move this sample's score
        if not tied and ref.get("score") != new.get("score"):
            tally.differences.append(Finding(task, doc, "score", f"{ref.get('score')} vs {new.get('score')}"))
    elif a != b:
        tally.differences.append(Finding(task, doc, "text", f"{clip(a)!r} vs {clip(b)!r}"))
    elif ref.get("score") != new.get("score"):
        tally.differences.append(Finding(task, doc, "score", f"{ref.get('score')} vs {new.get('score')}"))


def judge_choice(task: str, doc: object, a: dict, b: dict, tally: _Tally) -> None:
    ref, new = a.get("loglikelihoods") or [], b.get("loglikelihoods") or []
    if len(ref) != len(new):
        tally.differences.append(Finding(task, doc, "choice", f"{len(ref)} vs {len(new)} options"))
        return
    tally.logliks(task, doc, ref, new)
    if a.get("choice") == b.get("choice"):
        return
    picked, other = ref[a["choice"]], ref[b["choice"]]
    margin = picked - other
    inside = 2 * tally.tolerance.bound(picked)
    what = f"pick {a['choice']} -> {b['choice']}, reference margin {margin:.1e}"
    if math.isfinite(margin) and margin <= inside:
        tally.near_ties.append(Finding(task, doc, "near tie", f"{what} <= {inside:.1e}"))
    else:
        tally.differences.append(Finding(task, doc, "choice", f"{what} > {inside:.1e}"))


def judge_metrics(metrics: tuple[dict | None, dict | None], tally: _Tally) -> None:
    """Each task's metric equal, or its task holds a near tie (which may move the score)."""
    ref, new = ((m or {}).get("tasks") or {} for m in metrics)
    tied = {f.task for f in tally.near_ties}
    for task in sorted(ref.keys() & new.keys()):
        a, b = ref[task].get("score"), new[task].get("score")
        if a != b and task not in tied and not isinstance(a, str):
            tally.differences.append(Finding(task, "-", "metric", f"{a} vs {b}"))


def compare_probes(
    reference: dict[str, dict], rerun: dict[str, dict], classes: tuple[str | None, str | None]
) -> Level:
    """The golden server references (probes.py: greedy tokens, log-probabilities, margins) of two runs:
    equal tokens, log-probabilities within the tolerance, up to the first near tie of a probe."""
    tally = _Tally(tolerance_between(*classes))
    for key in sorted(reference.keys() | rerun.keys()):
        a, b = reference.get(key), rerun.get(key)
        if a is None or b is None:
            tally.differences.append(Finding("probes", key, "missing", "in one side only"))
            continue
        if len(b["tokens"]) != len(a["tokens"]) or len(b["logprobs"]) != len(a["logprobs"]):
            detail = f"{len(a['tokens'])} vs {len(b['tokens'])} tokens"
            tally.differences.append(Finding("probes", key, "length", detail))
            continue
        steps = zip(a["tokens"], a["logprobs"], a["margins"], strict=True)
        for step, (token, logprob, margin) in enumerate(steps):
            other, value = b["tokens"][step], b["logprobs"][step]
            if token != other:
                inside = 2 * tally.tolerance.bound(logprob)
                kind = "near tie" if margin <= inside else "choice"
                detail = f"step {step}: token {token} -> {other}, margin {margin:.1e}"
                found = Finding("probes", key, kind, detail)
                (tally.near_ties if kind == "near tie" else tally.differences).append(found)
                break  # the continuations part here: later steps score other prefixes
            tally.logliks("probes", key, [logprob], [value])
    name = EXACT if reference == rerun else (DIFFERS if tally.differences else EQUIVALENT)
    return tally.level(name, classes)


def clip(value: object, width: int = 40) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."
