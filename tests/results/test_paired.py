"""The gate's paired statistics against values computed by hand or by scipy's reference tests, and Holm's
suite-wide control on many simulated tasks."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats

from evalpin.results.paired import CLUSTERED_T, MCNEMAR, PAIRED_T, holm, mde, pair, paired


def rows(scores: list[float], doc_hash: str = "d") -> dict[int, dict]:
    return {i: {"doc_hash": f"{doc_hash}{i}", "target_hash": "t", "score": s} for i, s in enumerate(scores)}


def test_pairing_is_by_document_and_refuses_other_documents_or_contents():
    assert pair(rows([1, 0]), rows([0, 0]))[0] == [(1.0, 0.0), (0.0, 0.0)]
    assert "document sets differ (1 documents" in pair(rows([1, 0]), rows([1, 0, 1]))[1]
    assert "2 documents differ in content" in pair(rows([1, 0]), rows([1, 0], doc_hash="x"))[1]
    assert "NaN or infinite" in pair(rows([1, math.nan]), rows([1, 0]))[1]
    assert "missing" in pair(rows([1, 0]), {0: {"doc_hash": "d0", "target_hash": "t"}, 1: rows([0, 0])[1]})[1]


def test_a_binary_metric_gets_mcnemars_exact_test_on_the_discordant_pairs():
    pairs = [(1.0, 0.0)] * 10 + [(0.0, 1.0)] * 2 + [(1.0, 1.0)] * 50 + [(0.0, 0.0)] * 38
    result = paired([pairs])
    assert result.test == MCNEMAR and result.discordant == (10, 2) and result.n == 100
    assert result.delta == pytest.approx(-0.08)
    assert result.p == pytest.approx(0.03857421875)  # 2 * P(X <= 2), X ~ Binomial(12, 1/2)
    diffs = [b - a for a, b in pairs]
    assert result.se == pytest.approx(stats.sem(diffs))


def test_a_continuous_metric_gets_the_paired_t_test():
    rng = random.Random(7)
    pairs = [(x, x - 0.05 + rng.gauss(0, 0.1)) for x in (rng.random() for _ in range(60))]
    result = paired([pairs])
    reference = stats.ttest_rel([b for _, b in pairs], [a for a, _ in pairs])
    assert result.test == PAIRED_T and result.p == pytest.approx(reference.pvalue)


def test_a_group_clusters_its_standard_error_by_leaf():
    """Three leaves; by hand: differences [1, 1], [-1, 0], [0, 0]; mean 1/6; CR1 se sqrt(7)/6."""
    clusters = [[(0, 1), (0, 1)], [(1, 0), (0, 0)], [(0, 0), (1, 1)]]
    result = paired([[(float(a), float(b)) for a, b in c] for c in clusters])
    assert result.test == CLUSTERED_T and result.clusters == 3 and result.df == 2
    assert result.delta == pytest.approx(1 / 6) and result.se == pytest.approx(math.sqrt(7) / 6)
    assert result.p == pytest.approx(2 * stats.t.sf((1 / 6) / (math.sqrt(7) / 6), 2))
    assert result.discordant == (1, 2)


def test_holm_adjusts_step_down_and_stays_monotone():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    assert adjusted == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06, "d": 0.02})
    assert holm({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}


def test_the_minimum_detectable_effect():
    assert mde(0.01, 0.05, 0.8) == pytest.approx((1.959964 + 0.841621) * 0.01)
    assert mde(0.0, 0.05, 0.8) is None  # nothing changed: no spread to estimate it from
    assert mde(0.01, 0.05, 0.8, df=2) > mde(0.01, 0.05, 0.8)  # few clusters: t's heavier tails


def test_holm_keeps_an_unchanged_suite_of_65_tasks_quiet_where_per_task_tests_cry_wolf():
    """200 suites of 65 leaf tasks of 400 questions, both runs of an unchanged delivery differing on ~5%
    of questions in either direction (another machine's near ties): suites with any alarm, per-task at
    0.05 vs Holm."""
    rng = random.Random(2024)
    alpha, suites, any_raw, any_holm = 0.05, 200, 0, 0
    for _ in range(suites):
        pvalues = {}
        for task in range(65):
            pairs = []
            for _ in range(400):  # no true change: a question flips either way with the same chance
                draw = rng.random()
                if draw < 0.05:
                    pairs.append((1.0, 0.0) if draw < 0.025 else (0.0, 1.0))
                else:
                    pairs.append((float(rng.random() < 0.6),) * 2)
            pvalues[task] = paired([pairs]).p
        any_raw += min(pvalues.values()) < alpha
        any_holm += min(holm(pvalues).values()) < alpha
    assert any_raw / suites > 0.6  # most unchanged suites would fail a per-task gate somewhere
    assert any_holm / suites <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / suites)
