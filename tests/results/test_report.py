"""`evalpin report`: the scores against the committed baseline, in words (the HTML page: test_report_html)."""

from evalpin.results.report import truncation_lines
from support import evalpin_in_process, git
from support.outputs import rewrite_outputs


def test_a_baseline_of_another_model_is_no_baseline_yet(reproduced_repo):
    """After switching models, HEAD's scores are the previous model's: not a drift of this one."""
    eval_dir = reproduced_repo / "eval"
    names = ["metrics.json", "fingerprint.json", "scores.json", "samples/demo_color_mc.jsonl"]
    ours = {name: (eval_dir / name).read_bytes() for name in names}
    rewrite_outputs(reproduced_repo, {"demo_color_mc": 0.25}, model="smollm2")  # another model's scores
    git(reproduced_repo, "commit", "-qam", "smollm2's baseline")
    for name, blob in ours.items():
        (eval_dir / name).write_bytes(blob)
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
