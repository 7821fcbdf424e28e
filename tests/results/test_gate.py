import copy

import pytest

from evalpin.base.errors import ExitCode
from evalpin.evaluation.output_set import write_set
from evalpin.results.gate import (
    Side,
    compare,
    format_markdown,
    format_table,
    judge,
)
from support import evalpin, git

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
    assert "| task | baseline | candidate | delta | stderr | verdict |" in markdown
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
