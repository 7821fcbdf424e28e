"""`evalpin report --html`: one self-contained page; a real browser (Debian's chromium) draws its chart."""

import shutil
import subprocess

import pytest

from evalpin.results.report_html import CANDIDATE_COLOUR, GATE_COLOUR, releases
from support import evalpin_in_process, git
from support.outputs import rewrite_outputs
from support.png import coloured_pixels, read_rgb

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
TASKS = ("demo_behaviour", "demo_chat_home", "demo_color_mc", "demo_food_fewshot", "demo_home_gen")


@pytest.fixture
def two_releases(reproduced_repo):
    """demo-tiny@v1.0.0 (the evaluated baseline), then v1.1.0 whose demo_color_mc dropped to 0.25 (a
    regression the gate catches), checked out: the page for the workspace against v1.0.0."""
    git(reproduced_repo, "tag", "demo-tiny@v1.0.0")
    rewrite_outputs(reproduced_repo, {"demo_color_mc": 0.25})  # as a worse delivery's evaluation writes it
    git(reproduced_repo, "commit", "-qam", "a worse delivery")
    git(reproduced_repo, "tag", "demo-tiny@v1.1.0")
    evalpin_in_process(reproduced_repo, "report", "--html", "report.html", "--baseline", "demo-tiny@v1.0.0")
    return reproduced_repo


def test_the_page_holds_scores_gate_history_and_drift_and_needs_no_network(two_releases):
    page = (two_releases / "report.html").read_text()
    assert "://" not in page and "<script" not in page and "src=" not in page and "<link" not in page
    assert page.count("<svg") == 2  # the scores, the history
    for task in TASKS:
        assert f"<title>{task} baseline " in page and f"<title>{task} candidate " in page
    assert page.count("<title>gate: a regression below") == len(TASKS)
    assert [r.tag for r in releases(two_releases, "demo-tiny")] == ["demo-tiny@v1.0.0", "demo-tiny@v1.1.0"]
    assert ">demo-tiny@v1.0.0</text>" in page and ">demo-tiny@v1.1.0</text>" in page
    assert '<tr class="regression"><td>demo_color_mc</td>' in page and "REGRESSION: workspace" in page
    assert "Greedy outputs that changed</h3><p>None" in page  # only a score was edited
    proc = evalpin_in_process(
        two_releases, "report", "--html", "other.html", "--baseline", "v1.0", check=False
    )
    assert proc.returncode == 2 and "--baseline v1.0: not a git revision here" in proc.stderr
    assert not proc.stdout and not (two_releases / "other.html").exists()
    metrics = two_releases / "eval/metrics.json"  # a baseline whose scores were edited after the run
    metrics.write_text(metrics.read_text().replace('"score": 0.25', '"score": 0.9', 1))
    git(two_releases, "commit", "-qam", "edited scores")
    git(two_releases, "tag", "edited")
    proc = evalpin_in_process(
        two_releases, "report", "--html", "other.html", "--baseline", "edited", check=False
    )
    assert proc.returncode == 2 and "does not match field 'outputs'" in proc.stderr  # not "no baseline"


@pytest.mark.skipif(not BROWSER, reason="no browser: `apt-get install chromium` (Debian) runs this test")
def test_a_headless_browser_draws_the_chart(two_releases, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # offline, whatever this machine can reach
            f"--screenshot={shot}",
            "--window-size=820,420",
            (two_releases / "report.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    image = read_rgb(shot)
    assert image.shape[:2] == (420, 820)
    chart = image[200:420, 230:720]  # the plot area of the scores chart, below the headings
    bars = coloured_pixels(chart, CANDIDATE_COLOUR, tol=30)
    assert bars > 2000, bars  # five candidate bars, 10 px high: a blank page has none
    assert coloured_pixels(chart, GATE_COLOUR, tol=40) > 50  # the gate's ticks
