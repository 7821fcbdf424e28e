import json

from evalpin.results.sample_changes import diff_samples, format_changes, one_sided
from evalpin.results.samples_at import read_samples
from support import evalpin, evalpin_in_process


def test_identical_revisions_have_no_changes(reproduced_repo):
    proc = evalpin(reproduced_repo, "outputs-diff", "HEAD", "workspace")
    assert "no sample changed" in proc.stdout


def test_changed_response_is_listed_with_scores(reproduced_repo):
    path = reproduced_repo / "eval/samples/demo_home_gen.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[3]["response"], rows[3]["score"] = " nowhere", 0.0
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    changes = diff_samples(read_samples(reproduced_repo, "HEAD"), read_samples(reproduced_repo, "workspace"))
    assert [(c.task, c.doc_id) for c in changes] == [("demo_home_gen", rows[3]["doc_id"])]
    table = format_changes(changes, "HEAD", "workspace")
    assert '" nowhere"' in table and "-> 0" in table and "1 samples changed in 1 tasks" in table
    level = evalpin_in_process(reproduced_repo, "outputs-diff", "HEAD").stdout.splitlines()[-1]
    doc = rows[3]["doc_id"]
    assert level.startswith(f"reproduction: DIFFERS (1 samples: demo_home_gen doc {doc}: text (")


def test_log_likelihoods_moved_within_the_tolerance_are_equivalent(reproduced_repo):
    """Another CPU's last digits: every pick equal, each log-likelihood moved by 3e-6 (the tolerance
    between two portable classes is 5e-4 + 7e-5|x|): equivalent, not exact, not differs."""
    fingerprint = reproduced_repo / "eval/fingerprint.json"
    body = json.loads(fingerprint.read_text())
    body["numerics"]["class"] = "cpu-portable-0therclass"  # as another machine's run would record it
    fingerprint.write_text(json.dumps(body))
    path = reproduced_repo / "eval/samples/demo_color_mc.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        row["response"]["loglikelihoods"] = [x + 3e-6 for x in row["response"]["loglikelihoods"]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = evalpin_in_process(reproduced_repo, "outputs-diff", "HEAD").stdout.splitlines()[-1]
    assert out.startswith("reproduction: equivalent (every decision equal; numerics class cpu-portable-")
    assert "vs cpu-portable-0therclass; largest log-likelihood difference 3.0e-06" in out


def test_missing_revision_data_says_how_to_get_it(reproduced_repo):
    proc = evalpin(reproduced_repo, "outputs-diff", "no-such-rev", check=False)
    assert proc.returncode == 2 and "no-such-rev" in proc.stderr


def numerics_class(repo) -> str:
    return json.loads((repo / "eval/fingerprint.json").read_text())["numerics"]["class"]


def test_a_task_on_one_side_only_is_one_line_not_a_row_per_sample(reproduced_repo):
    samples = reproduced_repo / "eval/samples"
    (samples / "demo_behaviour.jsonl").rename(samples / "demo_new_task.jsonl")  # one removed, one added
    out = evalpin_in_process(reproduced_repo, "outputs-diff", "HEAD").stdout
    assert out.splitlines() == [
        "task demo_behaviour: only in HEAD (8 samples, mean score 1.0000), not in workspace",
        "task demo_new_task: only in workspace (8 samples, mean score 1.0000), not in HEAD",
        "no sample changed its response or score in the tasks on both sides between HEAD and workspace",
        "reproduction: DIFFERS (2 tasks: demo_behaviour doc -: missing (task not in the rerun); "
        "demo_new_task doc -: missing (task not in the reference); numerics class "
        f"{numerics_class(reproduced_repo)})",
    ]  # the workspace is what is on disk, not what dvc.lock still lists
    a, b = read_samples(reproduced_repo, "HEAD"), read_samples(reproduced_repo, "workspace")
    assert not diff_samples(a, b) and len(one_sided(a, b, "HEAD", "workspace")) == 2
