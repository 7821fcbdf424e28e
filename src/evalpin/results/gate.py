"""The regression gate: candidate scores against a baseline revision, task by task.

The paired rule (both sides' samples at hand, paired.py): a task regresses when its paired difference is
significant at the suite-wide false-alarm rate `alpha` (Holm's adjustment over every paired task) and the
drop exceeds `abs_floor` (conf/gate/). The unpaired rule, for a baseline without samples (an older tag, a
remote out of reach): the drop exceeds max(k * stderr, abs_floor), stderr combining both sides' standard
errors. Each verdict says which rule decided. The floor keeps a task at 100% (stderr 0) from failing on
noise-free rounding. When the two sides do not measure the same thing (task hashes, task versions, few-shot
settings, chat template use, harness version, the task's definition: prompt, scoring, its code) the
verdict is "not comparable", never a false regression.
A chat template that changed with the delivery is not such a case: it is what the gate exists to catch.
Nor is another numerics class (another CPU, another kernel mode): it is recorded and shown, never a reason
to call a task not comparable (levels.py judges how close two runs of one delivery came).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from evalpin.base import project
from evalpin.base.errors import EvalpinError, ExitCode
from evalpin.base.numerics import class_of
from evalpin.base.outs import FINGERPRINT_FILE, METRICS_FILE
from evalpin.base.table import columns
from evalpin.config.experiments import WORKSPACE, resolve
from evalpin.config.params import Gate
from evalpin.evaluation.output_set import check_set
from evalpin.results.paired import Paired, finite, holm, mde, pair, paired
from evalpin.results.samples_at import read_samples
from evalpin.signing.release_tags import check_release_tag

# "identity": lm-eval's task hash minus the prompt hash for chat-template tasks (evaluation/fingerprint.py).
IDENTITY_FIELDS = ("identity", "version", "num_fewshot", "output_type", "chat_template_applied")


@dataclass(frozen=True)
class Side:
    rev: str
    metrics: dict
    fingerprint: dict


@dataclass(frozen=True)
class TaskVerdict:
    task: str
    baseline: float | None
    candidate: float | None
    stderr: float | None  # the paired difference's (paired rule), else both sides' combined
    verdict: str  # pass, improved, regression, not comparable
    reason: str = ""
    rule: str = ""  # "paired" or "unpaired": which decided
    paired: Paired | None = None
    p_adjusted: float | None = None  # Holm-adjusted over the suite (paired rule)
    mde: float | None = None  # the minimum detectable effect at the suite-wide rate

    @property
    def delta(self) -> float | None:
        return None if self.baseline is None or self.candidate is None else self.candidate - self.baseline


@dataclass(frozen=True)
class Comparison:
    baseline: Side
    candidate: Side
    tasks: tuple[TaskVerdict, ...]
    harness: tuple[str, str]
    gate: Gate
    unpaired_why: str = ""  # why the samples could not be paired at all (the unpaired rule decided)

    @property
    def outputs_changed(self) -> bool:
        return self.baseline.fingerprint.get("output_fingerprint") != self.candidate.fingerprint.get(
            "output_fingerprint"
        )

    @property
    def exit_code(self) -> ExitCode:
        verdicts = {t.verdict for t in self.tasks}
        if "regression" in verdicts:
            return ExitCode.REGRESSION
        return ExitCode.NOT_COMPARABLE if "not comparable" in verdicts else ExitCode.OK


def read_at(root: Path, rev: str, path: str) -> dict:
    return json.loads(read_bytes_at(root, rev, path))


def read_bytes_at(root: Path, rev: str, path: str) -> bytes:
    """A pipeline output's bytes in the workspace or at a git revision."""
    if rev == WORKSPACE:
        file = root / path
        if not file.is_file():
            raise EvalpinError(f"{file}: not found in the workspace. Run the pipeline: `dvc repro`.")
        return file.read_bytes()
    blob, reason = project.git_show(root, resolve(root, rev), path)  # a tag, commit or experiment name
    if blob is None:
        raise EvalpinError(
            f"{rev}: cannot read {path} from git ({reason}). Give a tag or commit where the "
            "pipeline's outputs were committed (`git tag`, `gto show`)."
        )
    return blob


def load_side(root: Path, rev: str) -> Side:
    """A side's metrics and fingerprint, refused unless the metrics are the ones its evaluation wrote (and,
    at a release tag, unless the tag still points where it was released)."""
    check_release_tag(root, rev)
    metrics, fingerprint = read_bytes_at(root, rev, METRICS_FILE), read_at(root, rev, FINGERPRINT_FILE)
    check_set(root, None if rev == WORKSPACE else resolve(root, rev), metrics, fingerprint)
    return Side(rev, json.loads(metrics), fingerprint)


def comparable(task: str, baseline: Side, candidate: Side) -> str:
    """Why the task's two scores do not measure the same thing; empty when they do."""
    a = baseline.fingerprint.get("suite", {}).get("tasks", {}).get(task)
    b = candidate.fingerprint.get("suite", {}).get("tasks", {}).get(task)
    if a is None or b is None:
        return f"task only in {'candidate' if a is None else 'baseline'}"
    old_data, new_data = a.get("data"), b.get("data")
    if data_identity(old_data) != data_identity(new_data):
        return f"dataset {describe_data(old_data)} vs {describe_data(new_data)}"
    differing = [f for f in IDENTITY_FIELDS if a.get(f) != b.get(f)]
    if None not in (old := a.get("definition_sha256"), new := b.get("definition_sha256")) and old != new:
        differing.append("task definition (prompt, scoring, code)")  # an older side records none
    return f"{', '.join(differing)} differ" if differing else ""


def data_identity(data: dict | None) -> tuple[str, str] | None:
    """What a task read from its pinned dataset: the dataset's name and the digest of the files the task
    itself reads (`files_sha256`); a fingerprint from before per-task data identity has only the whole
    lock's digest, so one re-pin of the dataset made all its tasks not comparable."""
    if data is None:
        return None
    return data["name"], data.get("files_sha256") or f"lock {data['lock_digest']}"


def describe_data(data: dict | None) -> str:
    """A pinned dataset in a verdict: NAME@COMMIT (files DIGEST, or lock DIGEST), or none (a local task)."""
    if data is None:
        return "none"
    read = (
        f"files {data['files_sha256'][:12]}"
        if data.get("files_sha256")
        else f"lock {data['lock_digest'][:12]}"
    )
    return f"{data['name']}@{data['revision'][:12]} ({read})"


def judge_unpaired(task: str, old: dict, new: dict, gate: Gate, why: str) -> TaskVerdict:
    """The unpaired rule: a drop over max(k * combined stderr, abs_floor). `why`: why it could not pair."""
    b, c = old["score"], new["score"]
    errors = [e for e in (old.get("stderr"), new.get("stderr")) if e is not None]
    stderr = math.sqrt(sum(e * e for e in errors)) if errors else None
    threshold = max(gate.k_stderr * (stderr or 0.0), gate.abs_floor)
    verdict = "regression" if b - c > threshold else "improved" if c - b > threshold else "pass"
    reason = f"drop {b - c:.4f} > {threshold:.4f}" if verdict == "regression" else why
    detectable = mde(stderr, gate.alpha, gate.power)
    return TaskVerdict(task, b, c, stderr, verdict, reason, "unpaired", None, None, detectable)


def judge_paired(
    task: str, b: float, c: float, result: Paired, p_adj: float, gate: Gate, m: int
) -> TaskVerdict:
    significant = p_adj < gate.alpha
    drop = -result.delta
    verdict = "pass"
    if significant and drop > gate.abs_floor:
        verdict = "regression"
    elif significant and -drop > gate.abs_floor:
        verdict = "improved"
    reason = f"drop {drop:.4f}, p {p_adj:.2g} < {gate.alpha:g}" if verdict == "regression" else ""
    level = gate.alpha / m if gate.correction == "holm" else gate.alpha
    return TaskVerdict(
        task,
        b,
        c,
        result.se,
        verdict,
        reason,
        "paired",
        result,
        p_adj,
        mde(result.se, level, gate.power, result.df),
    )


def leaves_of(task: str, fingerprint: dict) -> list[str]:
    """A task's leaves (itself, or a group's members, recursively), as the fingerprint records them."""
    row = fingerprint.get("suite", {}).get("tasks", {}).get(task) or {}
    members = row.get("tasks") if row.get("output_type") == "group" else None
    return [leaf for member in members for leaf in leaves_of(member, fingerprint)] if members else [task]


def missing_samples(leaves: list[str], samples: tuple[dict, dict]) -> str:
    """Which side lacks a leaf's samples (the unpaired rule then decides the task); empty when none."""
    for leaf in leaves:
        for side, rows in zip(("baseline", "candidate"), samples, strict=True):
            if leaf not in rows:
                return f"no samples of {leaf} on the {side}"
    return ""


def pair_task(task: str, leaves: list[str], samples: tuple[dict, dict]) -> tuple[Paired | None, str]:
    """The task's paired statistics (a group's clustered by leaf), or None and why its documents do not
    pair (then it is not comparable)."""
    clusters = []
    for leaf in leaves:
        pairs, why = pair(samples[0][leaf], samples[1][leaf])
        if why:
            return None, f"{leaf}: {why}" if leaf != task else why
        clusters.append(pairs)
    return (paired(clusters), "") if any(clusters) else (None, "no documents")


def disagreeing(task: str, sides: tuple[Side, Side], samples: tuple[dict, dict]) -> str:
    """Why a side's score is not its own samples' mean (a score edited after the run, even with the
    outputs' digests recomputed); empty when they agree. Checked where it must hold: a leaf task whose
    samples all score 0 or 1 (accuracy, exact match: the score is their mean)."""
    for side, rows in zip(sides, samples, strict=True):
        scores = [r.get("score") for r in rows.get(task, {}).values()]
        if not scores or not all(s in (0.0, 1.0) for s in scores):
            continue
        mean, stated = sum(scores) / len(scores), side.metrics["tasks"][task].get("score")
        if not isinstance(stated, int | float) or not math.isclose(stated, mean, abs_tol=1e-9):
            return f"{side.rev}: {METRICS_FILE} says {stated}, its {len(scores)} samples give {mean:.4f}"
    return ""


def judge_all(sides: tuple[Side, Side], samples: tuple[dict, dict] | None, gate: Gate) -> list[TaskVerdict]:
    baseline, candidate = sides
    tasks = sorted(baseline.metrics["tasks"].keys() | candidate.metrics["tasks"].keys())
    verdicts, pending = {}, {}
    for task in tasks:
        old, new = baseline.metrics["tasks"].get(task, {}), candidate.metrics["tasks"].get(task, {})
        reason = comparable(task, baseline, candidate)
        if not reason and not (finite(old.get("score")) and finite(new.get("score"))):
            reason = "a score is missing, NaN or infinite: never a pass"
        if reason:
            verdicts[task] = TaskVerdict(
                task, old.get("score"), new.get("score"), None, "not comparable", reason
            )
            continue
        if samples and (edited := disagreeing(task, sides, samples)):
            verdicts[task] = TaskVerdict(task, old["score"], new["score"], None, "not comparable", edited)
            continue
        leaves = leaves_of(task, candidate.fingerprint)
        if not samples or (missing := missing_samples(leaves, samples)):
            # no samples to pair: why, per task (the summary says it once when there are none at all)
            verdicts[task] = judge_unpaired(task, old, new, gate, missing if samples else "")
            continue
        result, cannot = pair_task(task, leaves, samples)
        if result is None:
            verdicts[task] = TaskVerdict(task, old["score"], new["score"], None, "not comparable", cannot)
        else:
            pending[task] = (old["score"], new["score"], result)
    pvalues = {task: r.p for task, (_, _, r) in pending.items()}
    adjusted = holm(pvalues) if gate.correction == "holm" else pvalues
    for task, (b, c, result) in pending.items():
        verdicts[task] = judge_paired(task, b, c, result, adjusted[task], gate, len(pending))
    return [verdicts[task] for task in tasks]


def compare(root: Path, baseline_rev: str, candidate_rev: str, gate: dict) -> Comparison:
    baseline, candidate = load_side(root, baseline_rev), load_side(root, candidate_rev)
    harness = tuple(s.fingerprint.get("runtime", {}).get("lm_eval", "?") for s in (baseline, candidate))
    thresholds = Gate.from_dict(gate)
    samples, why = both_samples(root, baseline_rev, candidate_rev)
    verdicts = judge_all((baseline, candidate), samples, thresholds)
    if harness[0] != harness[1]:
        verdicts = [
            TaskVerdict(
                v.task,
                v.baseline,
                v.candidate,
                v.stderr,
                "not comparable",
                f"lm_eval {harness[0]} vs {harness[1]}",
            )
            for v in verdicts
        ]
    return Comparison(baseline, candidate, tuple(verdicts), harness, thresholds, why)


def both_samples(root: Path, baseline_rev: str, candidate_rev: str) -> tuple[tuple[dict, dict] | None, str]:
    """Both sides' samples, or None and why not (the unpaired rule then decides every task)."""
    try:
        return (read_samples(root, baseline_rev), read_samples(root, candidate_rev)), ""
    except EvalpinError as exc:
        return None, f"samples unavailable: {str(exc).splitlines()[0]}"


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def rows(comparison: Comparison) -> list[tuple[str, ...]]:
    return [
        (
            t.task,
            _fmt(t.baseline),
            _fmt(t.candidate),
            _fmt(t.delta, signed=True),
            _fmt(t.stderr),
            "-" if t.p_adjusted is None else f"{t.p_adjusted:.3g}",
            _fmt(t.mde),
            rule_of(t, comparison.gate),
            t.verdict + (f" ({t.reason})" if t.reason else ""),
        )
        for t in comparison.tasks
    ]


def rule_of(verdict: TaskVerdict, gate: Gate) -> str:
    if verdict.paired is not None:
        return verdict.paired.describe()
    return f"unpaired: {gate.k_stderr:g} x stderr" if verdict.rule == "unpaired" else "-"


HEADER = ("task", "baseline", "candidate", "delta", "se", "p (adj.)", "mde", "rule", "verdict")
VERDICT = {ExitCode.OK: "PASS", ExitCode.REGRESSION: "REGRESSION", ExitCode.NOT_COMPARABLE: "NOT COMPARABLE"}


def summary(comparison: Comparison) -> str:
    outputs = "changed" if comparison.outputs_changed else "unchanged"
    sides = (comparison.candidate, comparison.baseline)
    evaluated = "\n".join(
        f"  {role:<9} {side.rev}: {delivery_of(side)}; numerics {class_of(side.fingerprint) or 'unrecorded'}"
        for role, side in zip(("candidate", "baseline"), sides, strict=True)
    )
    return (
        f"{VERDICT[comparison.exit_code]}: {comparison.candidate.rev} against baseline "
        f"{comparison.baseline.rev}; output fingerprint {outputs}\n{evaluated}\n{rules(comparison)}"
    )


def rules(comparison: Comparison) -> str:
    """Which rule decided, with its error rate: the paired one over the suite, the unpaired one where the
    baseline had no samples to pair."""
    gate = comparison.gate
    paired_tasks = [t for t in comparison.tasks if t.rule == "paired"]
    unpaired = [t for t in comparison.tasks if t.rule == "unpaired"]
    lines = []
    if paired_tasks:
        control = (
            f"Holm over {len(paired_tasks)} tasks: alpha {gate.alpha:g} suite-wide"
            if gate.correction == "holm"
            else f"alpha {gate.alpha:g} per task, no suite-wide control"
        )
        lines.append(
            f"  paired rule ({len(paired_tasks)} tasks): same documents on both sides; {control}; a "
            f"regression also drops more than {gate.abs_floor:g}; mde at power {gate.power:g}"
        )
    if unpaired:
        why = f" ({comparison.unpaired_why})" if comparison.unpaired_why else ""
        lines.append(
            f"  unpaired rule ({len(unpaired)} tasks{why}): a drop over max({gate.k_stderr:g} x the "
            f"combined stderr, {gate.abs_floor:g})"
        )
    return "\n".join(lines)


def delivery_of(side: Side) -> str:
    """Which model, at which commit and lock, a side's scores were measured on (eval/fingerprint.json)."""
    delivery = side.fingerprint.get("delivery") or {}
    if not delivery:
        return f"no delivery recorded in {FINGERPRINT_FILE}"
    text = f"{delivery['name']} at commit {delivery['revision'][:12]}, lock {delivery['lock_digest'][:12]}"
    if base := delivery.get("base"):
        text += f", on base {base['name']} at commit {base['revision'][:12]}"
    if origin := delivery.get("origin"):
        text += f" ({origin})"
    return text


def format_table(comparison: Comparison) -> str:
    table = [HEADER, *rows(comparison)]
    return f"{columns(table)}\n{summary(comparison)}"


def format_markdown(comparison: Comparison) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(comparison)]
    return "\n".join([f"### evalpin compare\n\n**{summary(comparison)}**\n", *lines])
