"""Levels of reproduction (levels.py): exact, equivalent (near ties named), differs (samples named), for
eval/samples records and for the golden server references, with the tolerance of each pair of classes."""

import copy
import math

import pytest

from evalpin.base.errors import ExitCode
from evalpin.results.levels import Tolerance, compare_probes, compare_samples, tolerance_between

PORTABLE, FAST, OTHER_FAST = "cpu-portable-0123456789", "cpu-fast-aaaaaaaaaa", "cpu-fast-bbbbbbbbbb"
ACROSS = (PORTABLE, FAST)  # tolerance 5e-4 + 6e-5|x|


def mc(choice, *logliks, score=1.0):
    return {"response": {"choice": choice, "loglikelihoods": list(logliks)}, "score": score}


def samples():
    """Two tasks as eval/samples holds them: multiple choice and generated text."""
    return {
        "color_mc": {0: mc(0, -0.2, -3.5, -4.0), 1: mc(2, -6.0, -5.0, -1.25, score=0.0)},
        "home_gen": {0: {"response": "the kitchen", "score": 1.0}, 1: {"response": "x", "score": 0.0}},
    }


def metrics(color=0.5, home=0.5):
    return {"tasks": {"color_mc": {"metric": "acc", "score": color}, "home_gen": {"score": home}}}


def moved(records, task, doc, *logliks, choice=None, score=None):
    changed = copy.deepcopy(records)
    response = changed[task][doc]["response"]
    response["loglikelihoods"] = list(logliks)
    response["choice"] = response["choice"] if choice is None else choice
    changed[task][doc]["score"] = changed[task][doc]["score"] if score is None else score
    return changed


# --- tolerance_between: the rows of tolerances.yaml --------------------------------------------------


def test_the_same_class_tolerates_nothing_and_rows_match_kinds_in_either_order():
    assert tolerance_between(PORTABLE, PORTABLE) == Tolerance(0.0, 0.0, "0 + 0|x| (same class)")
    across = tolerance_between(PORTABLE, FAST)
    assert across == tolerance_between(FAST, PORTABLE) and (across.absolute, across.relative) == (5e-4, 6e-5)
    assert "cpu-portable vs cpu-fast" in across.row
    assert "cpu-fast vs cpu-fast" in tolerance_between(FAST, OTHER_FAST).row  # two machines, fast mode
    assert "cpu-portable vs cpu-portable" in tolerance_between(PORTABLE, "cpu-portable-9999999999").row
    for pair in [("cuda-fast-0000000000", FAST), (None, PORTABLE), (None, None)]:
        assert tolerance_between(*pair).row.endswith("(*)")  # GPUs, servers, unrecorded: the catch-all


def test_nan_and_infinities_are_never_within_a_tolerance():
    wide = Tolerance(1.0, 1.0, "wide")
    assert wide.allows(-1.0, -1.5) and not wide.allows(-1.0, -4.0)
    assert not any(wide.allows(a, b) for a, b in [(math.nan, -1.0), (-1.0, math.nan), (math.nan, math.nan)])
    assert not wide.allows(-math.inf, -math.inf)


# --- compare_samples ---------------------------------------------------------------------------------


def test_the_same_bytes_are_exact_whatever_the_classes():
    for classes in [(PORTABLE, PORTABLE), ACROSS, (None, None)]:
        level = compare_samples(samples(), samples(), classes, (metrics(), metrics()))
        assert level.name == "exact" and level.exit_code == ExitCode.OK
        assert level.line().startswith("reproduction: exact (the same bytes;")


def test_log_likelihoods_moved_within_the_tolerance_are_equivalent():
    rerun = moved(samples(), "color_mc", 0, -0.200012, -3.499991, -4.00002)
    level = compare_samples(samples(), rerun, ACROSS, (metrics(), metrics()))
    assert level.name == "equivalent" and level.exit_code == ExitCode.EQUIVALENT
    assert level.largest == pytest.approx(2e-5) and level.compared == 6 and not level.near_ties
    assert "every decision equal" in level.line() and f"vs {FAST}" in level.line()
    same = compare_samples(samples(), rerun, (PORTABLE, PORTABLE), (metrics(), metrics()))
    assert same.name == "differs"  # one class: the same kernels, the same bytes or nothing
    assert [f.what for f in same.differences] == ["log-likelihood"]


def test_a_changed_pick_inside_the_tolerance_is_a_near_tie_and_may_move_the_metric():
    reference = moved(samples(), "color_mc", 0, -1.00001, -1.00003, -4.0, choice=0)
    rerun = moved(samples(), "color_mc", 0, -1.00004, -1.00002, -4.0, choice=1, score=0.0)
    level = compare_samples(reference, rerun, ACROSS, (metrics(color=0.5), metrics(color=0.0)))
    assert level.name == "equivalent" and not level.differences
    [tie] = level.near_ties
    assert (tie.task, tie.doc_id, tie.what) == ("color_mc", 0, "near tie") and "pick 0 -> 1" in tie.detail
    assert "1 near ties: color_mc doc 0: near tie (pick 0 -> 1, reference margin 2.0e-05" in level.line()


def test_a_changed_pick_with_a_clear_reference_margin_differs():
    rerun = moved(samples(), "color_mc", 0, -3.5, -0.2, -4.0, choice=1, score=0.0)
    level = compare_samples(samples(), rerun, ACROSS, (metrics(), metrics(color=0.0)))
    assert level.name == "differs" and level.exit_code == ExitCode.DRIFT and not level.near_ties
    assert {f.what for f in level.differences} == {"log-likelihood", "choice", "score", "metric"}
    choice = next(f for f in level.differences if f.what == "choice")
    assert "pick 0 -> 1, reference margin 3.3e+00 >" in choice.detail
    line = level.line()
    assert line.startswith("reproduction: DIFFERS (1 samples, 1 tasks: color_mc doc 0: log-likelihood")


@pytest.mark.parametrize(
    ("edit", "what", "detail"),
    [
        (lambda s: s["home_gen"][0].update(response="the garden"), "text", "'the kitchen' vs 'the garden'"),
        (lambda s: s["home_gen"][1].update(score=1.0), "score", "0.0 vs 1.0"),
        (lambda s: s["color_mc"][1].update(score=1.0), "score", "0.0 vs 1.0"),  # same pick, other score
        (lambda s: s["home_gen"].pop(1), "missing", "in one side only"),
        (lambda s: s.pop("home_gen"), "missing", "task not in the rerun"),
        (
            lambda s: s["color_mc"][0]["response"].update(loglikelihoods=[-0.2, -3.5]),
            "choice",
            "3 vs 2 options",
        ),
        (
            lambda s: s["color_mc"][0]["response"]["loglikelihoods"].__setitem__(1, math.nan),
            "log-likelihood",
            "nan",
        ),
        (lambda s: s["home_gen"][0].update(prompt_hash="another"), "input", "prompt_hash changed"),
    ],
    ids=["text", "score", "mc-score", "doc", "task", "options", "nan", "input"],
)
def test_every_other_change_differs_and_names_the_sample(edit, what, detail):
    rerun = samples()
    edit(rerun)
    level = compare_samples(samples(), rerun, ACROSS)
    assert level.name == "differs"
    assert [(f.what, detail in f.detail) for f in level.differences] == [(what, True)]


def test_a_nan_on_both_sides_is_not_exact_and_not_equivalent():
    reference, rerun = samples(), samples()
    for side in (reference, rerun):
        side["color_mc"][0]["response"]["loglikelihoods"][0] = float("nan")  # two NaN objects: unequal
    assert compare_samples(reference, rerun, (PORTABLE, PORTABLE)).name == "differs"
    assert compare_samples(reference, rerun, ("cuda-fast-0", FAST)).name == "differs"  # widest row too


def test_a_metric_may_move_only_in_a_task_with_a_near_tie():
    level = compare_samples(samples(), samples(), ACROSS, (metrics(), metrics(home=0.75)))
    assert level.name == "differs" and [str(f) for f in level.differences] == [
        "home_gen doc -: metric (0.5 vs 0.75)"
    ]


# --- compare_probes: the golden server references ----------------------------------------------------


def probes():
    return {
        "user": {"tokens": [5, 6, 7], "logprobs": [-0.1, -0.5, -0.02], "margins": [2.0, 0.00001, 3.0]},
        "plain-prompt": {"tokens": [9, 9], "logprobs": [-1.5, -0.7], "margins": [1.0, 1.0]},
    }


def test_probes_exact_equivalent_and_near_tie():
    assert compare_probes(probes(), probes(), (PORTABLE, PORTABLE)).name == "exact"
    rerun = probes()
    rerun["user"]["logprobs"] = [-0.100004, -0.499998, -0.020001]
    level = compare_probes(probes(), rerun, ACROSS)
    assert level.name == "equivalent" and level.compared == 5 and level.largest == pytest.approx(4e-6)
    assert compare_probes(probes(), rerun, (PORTABLE, PORTABLE)).name == "differs"
    rerun["user"]["tokens"] = [5, 8, 1]  # step 1 led by 1e-5: another kernel may break it the other way
    tie = compare_probes(probes(), rerun, ACROSS)
    assert tie.name == "equivalent" and [f.detail for f in tie.near_ties] == [
        "step 1: token 6 -> 8, margin 1.0e-05"
    ]


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        (lambda p: p["plain-prompt"]["tokens"].__setitem__(0, 4), "choice"),  # margin 1.0: another model
        (lambda p: p["plain-prompt"]["logprobs"].__setitem__(1, -0.69), "log-likelihood"),
        (lambda p: p["plain-prompt"]["logprobs"].__setitem__(1, math.nan), "log-likelihood"),
        (lambda p: p.pop("user"), "missing"),
        (lambda p: [p["plain-prompt"][k].pop() for k in ("tokens", "logprobs")], "length"),  # cut short
    ],
    ids=["token", "logprob", "nan", "probe", "fewer-tokens"],
)
def test_probes_that_differ_are_named(edit, what):
    rerun = probes()
    edit(rerun)
    level = compare_probes(probes(), rerun, ACROSS)
    assert level.name == "differs" and [f.what for f in level.differences] == [what]
