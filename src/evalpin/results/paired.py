"""Paired statistics for the gate: both sides answered the same documents, so compare them document by
document (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640) instead of as two independent runs.

- pairing: by doc_id, refused when the two sides' document sets or a document's content (doc_hash,
  target_hash) differ: then the scores measure different things and the task is not comparable;
- a binary metric (every score 0 or 1: acc, exact_match): the discordant counts and McNemar's exact test
  (a two-sided binomial test on the discordant pairs);
- any other metric: the paired t-test on the per-document differences;
- a group (mmlu and its subgroups): its leaves' documents pooled, the standard error clustered by leaf
  (questions of one subject share more than questions of two), t with (leaves - 1) degrees of freedom;
- suite-wide error control (`holm`): Holm's step-down adjustment, which keeps the chance of any false
  alarm in the whole suite at alpha whatever the dependence between tasks (they share one model);
- the minimum detectable effect: the smallest true change the test notices with the given power at the
  per-task level Holm demands of the first test (alpha / tasks), so a user sees when a task is too small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

MCNEMAR, PAIRED_T, CLUSTERED_T = "McNemar exact", "paired t", "clustered t"


@dataclass(frozen=True)
class Paired:
    """One task's paired comparison. `delta`: mean of candidate - baseline over the paired documents."""

    n: int
    delta: float
    se: float
    p: float  # two-sided, before the suite-wide adjustment
    test: str
    discordant: tuple[int, int] | None = None  # binary: (baseline right only, candidate right only)
    clusters: int = 1

    @property
    def df(self) -> int | None:
        """The t test's degrees of freedom for a clustered group (leaves - 1); None otherwise."""
        return self.clusters - 1 if self.clusters > 1 else None

    def describe(self) -> str:
        if self.discordant is not None and self.clusters == 1:
            lost, gained = self.discordant
            return f"{self.test}: {lost} lost, {gained} gained of {self.n}"
        if self.clusters > 1:
            return f"{self.test}: {self.n} docs in {self.clusters} leaves"
        return f"{self.test}: {self.n} docs"


def pair(baseline: dict[int, dict], candidate: dict[int, dict]) -> tuple[list[tuple[float, float]], str]:
    """(baseline score, candidate score) per document, in doc_id order; or [] and why they cannot pair."""
    if baseline.keys() != candidate.keys():
        only = len(baseline.keys() ^ candidate.keys())
        return [], f"document sets differ ({only} documents on one side only)"
    changed = [d for d in baseline if identity(baseline[d]) != identity(candidate[d])]
    if changed:
        return (
            [],
            f"{len(changed)} documents differ in content (doc_hash or target_hash), e.g. doc {changed[0]}",
        )
    scores = [(baseline[d].get("score"), candidate[d].get("score")) for d in sorted(baseline)]
    if any(not finite(a) or not finite(b) for a, b in scores):
        return [], "a sample's score is missing, NaN or infinite"
    return [(float(a), float(b)) for a, b in scores], ""


def identity(row: dict) -> tuple[object, object]:
    return row.get("doc_hash"), row.get("target_hash")


def finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def paired(clusters: list[list[tuple[float, float]]]) -> Paired:
    """The paired statistics over `clusters` of (baseline, candidate) scores: one cluster for a task, one
    per leaf for a group."""
    if len(clusters) > 1:
        return clustered(clusters)
    (pairs,) = clusters
    return mcnemar(pairs) if is_binary(pairs) else paired_t(pairs)


def is_binary(pairs: list[tuple[float, float]]) -> bool:
    """Every score 0 or 1 (accuracy, exact match)."""
    return all(a in (0.0, 1.0) and b in (0.0, 1.0) for a, b in pairs)


def discordant(pairs: list[tuple[float, float]]) -> tuple[int, int]:
    """(baseline right only, candidate right only): the documents the two sides disagree on."""
    return sum(1 for a, b in pairs if a > b), sum(1 for a, b in pairs if b > a)


def mcnemar(pairs: list[tuple[float, float]]) -> Paired:
    lost, gained = discordant(pairs)
    n = len(pairs)
    p = stats.binomtest(gained, lost + gained, 0.5).pvalue if lost + gained else 1.0
    delta = (gained - lost) / n
    # the standard error of the mean paired difference (each difference is -1, 0 or 1)
    se = math.sqrt(max((lost + gained) / n - delta * delta, 0.0) / (n - 1)) if n > 1 else 0.0
    return Paired(n, delta, se, float(p), MCNEMAR, (lost, gained))


def paired_t(pairs: list[tuple[float, float]]) -> Paired:
    n = len(pairs)
    diffs = [b - a for a, b in pairs]
    delta = sum(diffs) / n
    var = sum((d - delta) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    se = math.sqrt(var / n)
    return Paired(n, delta, se, t_pvalue(delta, se, n - 1), PAIRED_T)


def clustered(clusters: list[list[tuple[float, float]]]) -> Paired:
    """Cluster-robust (CR1) standard error of the pooled mean difference, clusters = leaves."""
    diffs = [[b - a for a, b in cluster] for cluster in clusters if cluster]
    n, g = sum(len(c) for c in diffs), len(diffs)
    delta = sum(sum(c) for c in diffs) / n
    scores = [sum(d - delta for d in c) for c in diffs]
    se = math.sqrt(g / (g - 1) * sum(s * s for s in scores)) / n if g > 1 else 0.0
    pairs = [p for cluster in clusters for p in cluster]
    counts = discordant(pairs) if is_binary(pairs) else None
    return Paired(n, delta, se, t_pvalue(delta, se, g - 1), CLUSTERED_T, counts, g)


def t_pvalue(delta: float, se: float, df: int) -> float:
    """Two-sided p-value of delta / se under Student's t; 1 when nothing differs, 0 for a difference
    without variance (every document moved the same way)."""
    if delta == 0.0:
        return 1.0
    if se == 0.0 or df < 1:
        return 0.0 if se == 0.0 and df >= 1 else 1.0
    return float(2 * stats.t.sf(abs(delta / se), df))


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values (monotone, capped at 1): reject where adjusted < alpha."""
    order = sorted(pvalues, key=lambda k: pvalues[k])
    m, running, adjusted = len(order), 0.0, {}
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * pvalues[key]))
        adjusted[key] = running
    return adjusted


def mde(se: float | None, alpha: float, power: float, df: int | None = None) -> float | None:
    """The smallest true change in the mean score that a two-sided test at `alpha` detects with `power`:
    (z(1 - alpha/2) + z(power)) * se, Student's t quantile with `df` (a clustered group). None without a
    standard error (no document changed its score: nothing to estimate the spread from)."""
    if not se:
        return None
    crit = stats.t.ppf(1 - alpha / 2, df) if df else stats.norm.ppf(1 - alpha / 2)
    return float((crit + stats.norm.ppf(power)) * se)
