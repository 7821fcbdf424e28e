"""`evalpin report`: the scores against the committed baseline, in words (the HTML page: test_report_html)."""

import json

from evalpin.report import truncation_lines
from support import evalpin_in_process, git


def test_a_baseline_of_another_model_is_no_baseline_yet(reproduced_repo):
    """After switching models, HEAD's scores are the previous model's: not a drift of this one."""
    path = reproduced_repo / "eval/fingerprint.json"
    ours = path.read_text()
    theirs = json.loads(ours)
    theirs["delivery"]["name"] = "smollm2"
    path.write_text(json.dumps(theirs))
    git(reproduced_repo, "commit", "-qam", "smollm2's baseline")
    path.write_text(ours)
    metrics = reproduced_repo / "eval/metrics.json"
    metrics.write_text(metrics.read_text().replace('"score": 0.625', '"score": 0.5', 1))  # other scores
    proc = evalpin_in_process(reproduced_repo, "report", "--html", "report.html")
    assert (
        "no baseline yet for demo-tiny: the committed scores (git HEAD:eval/metrics.json) are smollm2's"
        in (proc.stdout)
    )
    assert "DIFFERENT" not in proc.stdout and proc.returncode == 0
    page = (reproduced_repo / "report.html").read_text()
    assert "no baseline yet for demo-tiny: the scores at HEAD are smollm2&#x27;s" in page
    assert "is a regression" in page and 'class="regression"' not in page  # nothing compared


def test_truncated_prompts_are_named_per_task():
    fingerprint = {
        "suite": {"tasks": {"gsm8k": {"truncated": {"prompts": 8, "kept_tokens": 256}}, "arc": {}}}
    }
    lines = truncation_lines(fingerprint, {"tasks": {"gsm8k": {"n": 8}}})
    assert lines == [
        "gsm8k: 8 of 8 prompts cut to their last 256 tokens; its score measures the cut prompts "
        "(`evalpin samples gsm8k` shows which)"
    ]
