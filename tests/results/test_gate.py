import copy
import math
import random

import pytest

from evalpin.base.errors import ExitCode
from evalpin.config.params import Gate
from evalpin.evaluation.output_set import write_set
from evalpin.results.gate import (
    Side,
    TaskVerdict,
    compare,
    format_markdown,
    format_table,
    judge_all,
    rule_of,
)
from support import evalpin, evalpin_in_process, git

GATE = {"k_stderr": 2.0, "abs_floor": 0.02}
METRICS = {
    "tasks": {
        "mc": {"metric": "acc", "score": 0.70, "stderr": 0.05, "n": 80},
        "gen": {"metric": "exact_match", "score": 1.0, "stderr": 0.0, "n": 20},
    },
    "suite": {"score": 0.85, "tasks": 2},
}
TASK_ID = {
    "identity": "h",
    "version": 1.0,
    "num_fewshot": 0,
    "output_type": "multiple_choice",
    "chat_template_applied": False,
    "outputs_sha256": "o",
}
FINGERPRINT = {
    "suite": {"name": "demo", "tasks": {"mc": dict(TASK_ID), "gen": dict(TASK_ID)}},
    "runtime": {"lm_eval": "0.4.13"},
    "output_fingerprint": "same",
}


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / "eval").mkdir(parents=True)
    (repo / "dvc.yaml").write_text("stages: {}\n")
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@evalpin.invalid")
    git(repo, "config", "user.name", "t")
    write(repo, METRICS, FINGERPRINT)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    git(repo, "tag", "base")
    return repo


def write(repo, metrics, fingerprint):
    """Hand-made outputs, written as evaluate writes them (bound by output_set's digests)."""
    write_set(repo, {}, fingerprint, [], metrics)


def candidate(repo, **scores):
    metrics, fingerprint = copy.deepcopy(METRICS), copy.deepcopy(FINGERPRINT)
    for task, score in scores.items():
        metrics["tasks"][task]["score"] = score
    write(repo, metrics, fingerprint)
    return metrics, fingerprint


def judge(task: str, baseline: Side, candidate: Side, k_stderr: float, abs_floor: float) -> TaskVerdict:
    """One task's verdict without samples (the unpaired rule)."""
    gate = Gate.from_dict({"k_stderr": k_stderr, "abs_floor": abs_floor})
    return {v.task: v for v in judge_all((baseline, candidate), None, gate)}[task]


def test_identical_passes(repo):
    result = compare(repo, "base", "workspace", GATE)
    assert result.exit_code == ExitCode.OK and not result.outputs_changed


def test_drop_within_k_stderr_passes_beyond_fails(repo):
    candidate(repo, mc=0.65)  # drop 0.05 < 2 * sqrt(2) * 0.05
    assert compare(repo, "base", "workspace", GATE).exit_code == ExitCode.OK
    candidate(repo, mc=0.50)  # drop 0.20 > 0.141
    result = compare(repo, "base", "workspace", GATE)
    assert result.exit_code == ExitCode.REGRESSION
    assert [t.verdict for t in result.tasks if t.task == "mc"] == ["regression"]


def test_floor_applies_when_stderr_is_zero(repo):
    candidate(repo, gen=0.99)  # stderr 0: only the floor (0.02) protects against a false alarm
    assert compare(repo, "base", "workspace", GATE).exit_code == ExitCode.OK
    candidate(repo, gen=0.95)
    assert compare(repo, "base", "workspace", GATE).exit_code == ExitCode.REGRESSION


@pytest.mark.parametrize("field", ["identity", "version", "num_fewshot", "chat_template_applied"])
def test_different_measurement_is_not_comparable_never_a_regression(repo, field):
    metrics, fingerprint = candidate(repo, mc=0.1)
    fingerprint["suite"]["tasks"]["mc"][field] = "other"
    write(repo, metrics, fingerprint)
    result = compare(repo, "base", "workspace", GATE)
    assert result.exit_code == ExitCode.NOT_COMPARABLE
    verdict = next(t for t in result.tasks if t.task == "mc")
    assert verdict.verdict == "not comparable" and field in verdict.reason


def test_other_harness_version_is_not_comparable(repo):
    metrics, fingerprint = candidate(repo)
    fingerprint["runtime"]["lm_eval"] = "0.4.99"
    write(repo, metrics, fingerprint)
    result = compare(repo, "base", "workspace", GATE)
    assert (
        result.exit_code == ExitCode.NOT_COMPARABLE and "lm_eval 0.4.13 vs 0.4.99" in result.tasks[0].reason
    )


def test_output_fingerprint_change_is_reported_and_markdown_renders(repo):
    metrics, fingerprint = candidate(repo)
    fingerprint["output_fingerprint"] = "other"
    write(repo, metrics, fingerprint)
    result = compare(repo, "base", "workspace", GATE)
    assert result.outputs_changed and result.exit_code == ExitCode.OK
    markdown = format_markdown(result)
    assert "| task | baseline | candidate | delta | se | p (adj.) | mde | rule | verdict |" in markdown
    assert "output fingerprint changed" in markdown


def test_cli_exit_codes_and_usage_error(reproduced_repo):
    assert evalpin(reproduced_repo, "compare", "--baseline", "HEAD").returncode == 0
    proc = evalpin(reproduced_repo, "compare", "--baseline", "no-such-tag", check=False)
    assert proc.returncode == 2 and "cannot read eval/metrics.json" in proc.stderr


def test_every_verdict_names_the_model_and_commit_of_both_sides(repo):
    metrics, fingerprint = candidate(repo, mc=0.2)
    fingerprint["delivery"] = {"name": "smollm2", "revision": "b" * 40, "lock_digest": "d" * 64}
    write(repo, metrics, fingerprint)
    baseline = copy.deepcopy(FINGERPRINT)
    baseline["delivery"] = {"name": "demo-tiny", "revision": "a" * 40, "lock_digest": "c" * 64}
    table = format_table(compare(repo, "base", "workspace", GATE))
    assert "REGRESSION" in table
    assert f"candidate workspace: smollm2 at commit {'b' * 12}, lock {'d' * 12}" in table
    assert "baseline  base: no delivery recorded in eval/fingerprint.json" in table
    write(repo, METRICS, baseline)
    git(repo, "commit", "-qam", "baseline with its delivery")
    git(repo, "tag", "base2")
    write(repo, metrics, fingerprint)
    table = format_table(compare(repo, "base2", "workspace", GATE))
    assert f"baseline  base2: demo-tiny at commit {'a' * 12}, lock {'c' * 12}" in table


def test_a_catalog_task_on_other_pinned_data_is_not_comparable_and_names_the_dataset():
    def side(digest: str) -> Side:
        data = {"name": "arc", "revision": digest[0] * 40, "lock_digest": digest * 8}
        task = {"identity": "i", "version": 1, "num_fewshot": 0, "output_type": "multiple_choice"}
        fingerprint = {"suite": {"tasks": {"arc_easy": {**task, "data": data}}}}
        return Side("rev", {"tasks": {"arc_easy": {"score": 0.5, "stderr": 0.1}}}, fingerprint)

    same = judge("arc_easy", side("aaaaaaaa"), side("aaaaaaaa"), 2.0, 0.0)
    assert same.verdict == "pass"
    moved = judge("arc_easy", side("aaaaaaaa"), side("bbbbbbbb"), 2.0, 0.0)
    assert moved.verdict == "not comparable"
    assert moved.reason == (
        "dataset arc@aaaaaaaaaaaa (lock aaaaaaaaaaaa) vs arc@bbbbbbbbbbbb (lock bbbbbbbbbbbb)"
    )


def test_a_task_stays_comparable_when_a_re_pin_left_the_files_it_reads_unchanged():
    """Per-task data identity: a re-pin of arc that adds ARC-Challenge's files changes the lock, not the
    files arc_easy reads (`files_sha256`, evalpin.evaluation.task_key), so arc_easy stays comparable."""

    def side(lock: str, files: str) -> Side:
        data = {"name": "arc", "revision": lock[0] * 40, "lock_digest": lock * 8, "files_sha256": files * 8}
        task = {"identity": "i", "version": 1, "num_fewshot": 0, "output_type": "multiple_choice"}
        fingerprint = {"suite": {"tasks": {"arc_easy": {**task, "data": data}}}}
        return Side("rev", {"tasks": {"arc_easy": {"score": 0.5, "stderr": 0.1}}}, fingerprint)

    assert (
        judge("arc_easy", side("aaaaaaaa", "ffffffff"), side("bbbbbbbb", "ffffffff"), 2.0, 0.0).verdict
        == "pass"
    )
    moved = judge("arc_easy", side("aaaaaaaa", "ffffffff"), side("bbbbbbbb", "eeeeeeee"), 2.0, 0.0)
    assert moved.verdict == "not comparable"
    assert (
        moved.reason
        == "dataset arc@aaaaaaaaaaaa (files ffffffffffff) vs arc@bbbbbbbbbbbb (files eeeeeeeeeeee)"
    )


def planted(n: int, accuracy: float, lost: int, noise: int, seed: int = 5) -> tuple[dict, dict]:
    """A task's samples on both sides: the candidate is the baseline with `lost` right answers turned
    wrong (the planted drop, on known documents) and `noise` flipped each way (no change on average)."""
    rng = random.Random(seed)
    base = [float(rng.random() < accuracy) for _ in range(n)]
    cand = list(base)
    right, wrong = [i for i, s in enumerate(base) if s], [i for i, s in enumerate(base) if not s]
    rng.shuffle(right)
    rng.shuffle(wrong)
    for i in right[: lost + noise]:
        cand[i] = 0.0
    for i in wrong[:noise]:
        cand[i] = 1.0
    return tuple(
        {i: {"doc_hash": f"d{i}", "target_hash": "t", "score": s} for i, s in enumerate(side)}
        for side in (base, cand)
    )


def sides_of(samples: tuple[dict, dict]) -> tuple[Side, Side]:
    def side(rows: dict) -> Side:
        scores = [r["score"] for r in rows.values()]
        mean = sum(scores) / len(scores)
        stderr = math.sqrt(mean * (1 - mean) / (len(scores) - 1))
        metrics = {"tasks": {"mc": {"metric": "acc", "score": mean, "stderr": stderr, "n": len(scores)}}}
        return Side("rev", metrics, {"suite": {"tasks": {"mc": dict(TASK_ID)}}})

    return side(samples[0]), side(samples[1])


def test_a_planted_drop_the_unpaired_rule_misses_is_a_paired_regression():
    """400 questions at 70%: 16 right answers turned wrong (-0.04) among 10 flips each way. The unpaired
    rule needs a drop over 2 x 0.032; the paired one sees 26 lost against 10 gained."""
    samples = planted(400, 0.70, lost=16, noise=10)
    gate = Gate.from_dict(GATE)
    (unpaired,) = judge_all(sides_of(samples), None, gate)
    (found,) = judge_all(sides_of(samples), ({"mc": samples[0]}, {"mc": samples[1]}), gate)
    assert unpaired.rule == "unpaired" and unpaired.verdict == "pass"
    assert found.rule == "paired" and found.verdict == "regression", found
    assert found.paired.discordant == (26, 10) and found.delta == pytest.approx(-0.04)
    assert found.p_adjusted < 0.05 < unpaired.mde / found.mde  # and the paired mde is the smaller
    assert "McNemar exact: 26 lost, 10 gained of 400" in format_table_of(found)


def format_table_of(verdict: TaskVerdict) -> str:
    return rule_of(verdict, Gate.from_dict(GATE))


def test_documents_that_differ_are_not_comparable_never_paired():
    base, cand = planted(100, 0.5, lost=0, noise=0)
    cand = {i: {**row, "target_hash": "other"} if i < 3 else row for i, row in cand.items()}
    (verdict,) = judge_all(sides_of((base, cand)), ({"mc": base}, {"mc": cand}), Gate.from_dict(GATE))
    assert verdict.verdict == "not comparable" and "3 documents differ in content" in verdict.reason


def test_an_unchanged_delivery_passes_under_the_paired_rule(reproduced_repo):
    """The real pipeline's samples: the baseline's from DVC's cache, the workspace's from disk."""
    proc = evalpin(reproduced_repo, "compare", "--baseline", "HEAD")
    assert proc.returncode == 0 and "PASS" in proc.stdout
    assert "McNemar exact: 0 lost, 0 gained" in proc.stdout and "paired rule (" in proc.stdout
    assert "unpaired" not in proc.stdout


@pytest.mark.parametrize("bad", [math.nan, math.inf, None])
def test_a_nan_infinite_or_missing_score_is_never_a_pass(bad):
    """Unpaired (no samples): NaN compared as neither a drop nor a gain, so it passed."""
    base, cand = sides_of(planted(100, 0.6, lost=0, noise=0))
    cand.metrics["tasks"]["mc"]["score"] = bad
    (verdict,) = judge_all((base, cand), None, Gate.from_dict(GATE))
    assert verdict.verdict == "not comparable" and "never a pass" in verdict.reason


def test_a_score_edited_after_the_run_disagrees_with_its_samples_and_is_not_comparable():
    """The candidate's metrics say 0.9 where its unchanged samples give 0.5 (the outputs' digests can be
    recomputed by whoever edits them): the gate trusts a score only as its samples' mean."""
    samples = planted(100, 0.5, lost=0, noise=0)
    base, cand = sides_of(samples)
    cand.metrics["tasks"]["mc"]["score"] = 0.9
    (verdict,) = judge_all((base, cand), ({"mc": samples[0]}, {"mc": samples[1]}), Gate.from_dict(GATE))
    assert verdict.verdict == "not comparable"
    assert "eval/metrics.json says 0.9, its 100 samples give 0.5" in verdict.reason, verdict.reason


def test_a_changed_prompt_or_scoring_of_a_chat_task_is_not_comparable(reproduced_repo):
    """Through a chat template the prompt hash belongs to the delivery (the template renders it), so a
    changed doc_to_text, and any change of scoring, left the task's identity equal: a regression or a pass
    was reported for a task that measures something else."""
    task = reproduced_repo / "eval/tasks/demo_chat_home.yaml"
    text = task.read_text().replace('doc_to_text: "{{question}}"', 'doc_to_text: "{{question}} One word."')
    task.write_text(text.replace("ignore_case: true", "ignore_case: false"))
    evaluated = evalpin_in_process(reproduced_repo, "evaluate")
    assert (
        "demo_chat_home: runs (task definition: eval/tasks/demo_chat_home.yaml changed)" in evaluated.stdout
    )
    proc = evalpin_in_process(reproduced_repo, "compare", "--baseline", "HEAD", check=False)
    assert proc.returncode == ExitCode.NOT_COMPARABLE, proc.stdout
    row = next(line for line in proc.stdout.splitlines() if line.startswith("demo_chat_home"))
    assert "not comparable" in row and "task definition (prompt, scoring, code) differ" in proc.stdout


def test_a_side_recorded_before_task_definitions_stays_comparable(repo):
    """A baseline tagged by an older evalpin has no definition digest: compared by the other fields."""
    metrics, fingerprint = candidate(repo)
    fingerprint["suite"]["tasks"]["mc"]["definition_sha256"] = "d" * 64
    write(repo, metrics, fingerprint)
    assert compare(repo, "base", "workspace", GATE).exit_code == ExitCode.OK
