"""eval/'s outputs as one set (issue #26 items 5 and 6): scores that are not the ones the evaluation wrote
are refused by compare, report and release, and an evaluation killed while writing eval/ is detected,
then recovered by the rerun. The kills are real: SIGKILL at named points of the writer, in a subprocess."""

import json
import sys

import pytest

from support import dvc, evalpin, evalpin_in_process, git, killed_at, run

# A new evaluation's outputs (one score changed), written by output_set.write_set as evaluate writes them.
NEW_RUN = """
import json
from pathlib import Path
from evalpin.evaluation.output_set import write_set
metrics = json.loads(Path("eval/metrics.json").read_text())
fingerprint = json.loads(Path("eval/fingerprint.json").read_text())
files = Path("eval/samples").glob("*.jsonl")
samples = {p.stem: [json.loads(line) for line in p.read_text().splitlines()] for p in files}
task = sorted(metrics["tasks"])[0]
metrics["tasks"][task]["score"] = 0.123
write_set(Path("."), samples, fingerprint, json.loads(Path("eval/scores.json").read_text()), metrics)
"""


def edit_a_score(repo) -> None:
    """Raise a task's committed score by hand: what an evaluation never wrote."""
    path = repo / "eval/metrics.json"
    data = json.loads(path.read_text())
    task = sorted(data["tasks"])[0]
    data["tasks"][task]["score"] = 0.9 if data["tasks"][task]["score"] < 0.9 else 0.1
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def test_edited_scores_are_refused_by_compare_and_report(reproduced_repo):
    edit_a_score(reproduced_repo)
    for command in (("compare", "--baseline", "HEAD"), ("report",)):
        proc = evalpin_in_process(reproduced_repo, *command, check=False)
        assert proc.returncode == 2, proc.stdout
        assert (
            "eval/metrics.json in the workspace does not match field 'outputs' of eval/fingerprint.json"
            in proc.stderr
        )
        assert "`dvc repro`" in proc.stderr and "PASS" not in proc.stdout


def test_edited_scores_committed_with_dvc_lock_are_refused_at_that_revision(reproduced_repo):
    edit_a_score(reproduced_repo)
    dvc(reproduced_repo, "commit", "-f", "evaluate")  # dvc.lock's md5 now agrees with the edit
    git(reproduced_repo, "commit", "-qam", "better scores")
    proc = evalpin_in_process(
        reproduced_repo, "compare", "--baseline", "HEAD", "--candidate", "HEAD", check=False
    )
    assert proc.returncode == 2 and "eval/metrics.json at HEAD does not match" in proc.stderr
    assert "`evalpin reproduce HEAD`" in proc.stderr
    proc = evalpin(reproduced_repo, "release", "demo-tiny", "-m", "x", check=False)  # refused before any push
    assert proc.returncode == 2 and "release refused" in proc.stderr
    assert "eval/metrics.json in the workspace does not match" in proc.stderr
    assert "demo-tiny@" not in git(reproduced_repo, "tag").stdout


def test_outputs_without_digests_are_refused(reproduced_repo):
    path = reproduced_repo / "eval/fingerprint.json"
    data = json.loads(path.read_text())
    del data["outputs"]
    path.write_text(json.dumps(data))
    proc = evalpin_in_process(reproduced_repo, "compare", "--baseline", "HEAD", check=False)
    assert proc.returncode == 2 and "field 'outputs' is missing" in proc.stderr


def test_a_samples_file_from_another_run_is_refused(reproduced_repo):
    samples = sorted((reproduced_repo / "eval/samples").glob("*.jsonl"))[0]
    samples.chmod(0o644)
    samples.write_text(samples.read_text().replace('"score": 1.0', '"score": 0.0', 1) + "\n")
    proc = evalpin_in_process(reproduced_repo, "report", check=False)
    assert (
        proc.returncode == 2 and f"eval/samples/{samples.name} in the workspace does not match" in proc.stderr
    )


@pytest.mark.parametrize(
    "point",
    ["outputs.marked", "replace_dir.moved_aside", "outputs.samples", "outputs.fingerprint", "outputs.scores"],
)
def test_an_evaluation_killed_while_writing_eval_is_detected_and_the_rerun_recovers(reproduced_repo, point):
    killed_at(reproduced_repo, point, sys.executable, "-c", NEW_RUN)
    for command in (("compare", "--baseline", "HEAD"), ("report",)):
        proc = evalpin_in_process(reproduced_repo, *command, check=False)
        assert proc.returncode == 2 and "an evaluation was killed while writing eval/" in proc.stderr, command
    run(reproduced_repo, sys.executable, "-c", NEW_RUN)  # the rerun: removes the killed run's leftovers
    assert not (reproduced_repo / "eval/.outputs-incomplete").exists()
    assert "eval/" not in git(
        reproduced_repo, "status", "--porcelain", "--untracked-files=all"
    ).stdout.replace(" M eval/", "")
    report = evalpin_in_process(reproduced_repo, "report", check=False)
    assert "0.1230" in report.stdout and "DIFFERENT from the committed baseline" in report.stdout
