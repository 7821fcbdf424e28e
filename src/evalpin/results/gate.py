"""The regression gate: candidate scores against a baseline revision, task by task.

A task regresses when its drop exceeds max(k * stderr, abs_floor) (conf/gate/), where stderr combines
both sides' standard errors; the floor keeps a task at 100% (stderr 0) from failing on noise-free
rounding. When the two sides do not measure the same thing (task hashes, task versions, few-shot
settings, chat template use, harness version) the verdict is "not comparable", never a false regression.
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
from evalpin.evaluation.output_set import check_set

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
    stderr: float | None
    verdict: str  # pass, improved, regression, not comparable
    reason: str = ""

    @property
    def delta(self) -> float | None:
        return None if self.baseline is None or self.candidate is None else self.candidate - self.baseline


@dataclass(frozen=True)
class Comparison:
    baseline: Side
    candidate: Side
    tasks: tuple[TaskVerdict, ...]
    harness: tuple[str, str]

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
    """A side's metrics and fingerprint, refused unless the metrics are the ones its evaluation wrote."""
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


def judge(task: str, baseline: Side, candidate: Side, k_stderr: float, abs_floor: float) -> TaskVerdict:
    old = baseline.metrics["tasks"].get(task, {})
    new = candidate.metrics["tasks"].get(task, {})
    b, c = old.get("score"), new.get("score")
    errors = [e for e in (old.get("stderr"), new.get("stderr")) if e is not None]
    stderr = math.sqrt(sum(e * e for e in errors)) if errors else None
    reason = comparable(task, baseline, candidate)
    if reason or b is None or c is None:
        return TaskVerdict(task, b, c, stderr, "not comparable", reason or "score missing")
    threshold = max(k_stderr * (stderr or 0.0), abs_floor)
    if b - c > threshold:
        return TaskVerdict(task, b, c, stderr, "regression", f"drop {b - c:.4f} > {threshold:.4f}")
    return TaskVerdict(task, b, c, stderr, "improved" if c - b > threshold else "pass")


def compare(root: Path, baseline_rev: str, candidate_rev: str, gate: dict) -> Comparison:
    baseline, candidate = load_side(root, baseline_rev), load_side(root, candidate_rev)
    harness = tuple(s.fingerprint.get("runtime", {}).get("lm_eval", "?") for s in (baseline, candidate))
    tasks = sorted(baseline.metrics["tasks"].keys() | candidate.metrics["tasks"].keys())
    verdicts = [
        judge(t, baseline, candidate, float(gate["k_stderr"]), float(gate["abs_floor"])) for t in tasks
    ]
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
    return Comparison(baseline, candidate, tuple(verdicts), harness)


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
            t.verdict + (f" ({t.reason})" if t.reason else ""),
        )
        for t in comparison.tasks
    ]


HEADER = ("task", "baseline", "candidate", "delta", "stderr", "verdict")
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
        f"{comparison.baseline.rev}; output fingerprint {outputs}\n{evaluated}"
    )


def delivery_of(side: Side) -> str:
    """Which model, at which commit and lock, a side's scores were measured on (eval/fingerprint.json)."""
    delivery = side.fingerprint.get("delivery") or {}
    if not delivery:
        return f"no delivery recorded in {FINGERPRINT_FILE}"
    text = f"{delivery['name']} at commit {delivery['revision'][:12]}, lock {delivery['lock_digest'][:12]}"
    if base := delivery.get("base"):
        text += f", on base {base['name']} at commit {base['revision'][:12]}"
    return text


def format_table(comparison: Comparison) -> str:
    table = [HEADER, *rows(comparison)]
    return f"{columns(table)}\n{summary(comparison)}"


def format_markdown(comparison: Comparison) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(comparison)]
    return "\n".join([f"### evalpin compare\n\n**{summary(comparison)}**\n", *lines])
