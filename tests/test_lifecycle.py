"""The README's story, executed: scripts/lifecycle.sh in a scratch clone.
`make walkthrough` runs it; `make test` leaves it out (its budget is 8 minutes), and CI runs both."""

import re
import subprocess

import pytest

from support import TEMPLATE, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.walkthrough]  # `make walkthrough`; CI runs it after `make test`


def test_lifecycle_walkthrough(tmp_path):
    proc = subprocess.run(
        ["bash", str(TEMPLATE / "scripts/lifecycle.sh"), str(tmp_path)],
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "suggested bump: patch" in output
    # r2: same weights, new chat template -> the chat task collapses; the gate shows it pair by pair and
    # says the demo's 16 questions are too few to call it at 5% over the suite (its mde is 0.44)
    assert "PASS: workspace against baseline demo-tiny@v1.0.0; output fingerprint changed" in output
    assert re.search(
        r"^demo_chat_home +0\.3125 +0\.0000 .* McNemar exact: 5 lost, 0 gained of 16 +pass$", output, re.M
    )
    # the base's major bump: the adapter certified on v1 is refused, then re-certified with a2
    assert "models/demo-tiny-lora was certified on demo-tiny" in output
    assert "says it was trained on commit" in output
    # the benchmark data moves: ai2_arc's main fixes answer keys; the re-pin waits for acceptance
    assert re.search(r"evalpin-demo/ai2_arc main -> [0-9a-f]{40}: DRIFT", output)
    assert "the dataset was re-pinned" in output  # dvc repro stopped at verify
    assert "conf/data/arc.yaml now accepts commit" in output
    assert re.search(r"^arc_easy .* not comparable \(dataset arc@[0-9a-f]{12} \(files", output, re.MULTILINE)
    # v1.0.0s on the data they were measured on: the same bytes (portable numerics)
    assert len(re.findall(r"@v1\.0\.0 \([0-9a-f]{12}\): reproduction: exact", output)) == 2
    # v1.0.0 signed: model_signing's CLI accepts models/demo-tiny.sig; verify --signatures and reproduce
    # check the release first; a re-pinned clone fools the lock but not the signature, which names the files
    assert "Verification succeeded" in output
    assert output.count("demo-tiny@v1.0.0: signed release statement verified") == 2
    assert "signed release statement verified before the run" in output
    assert re.search(
        r"differs from what release demo-tiny@v1.0.0 signed:\n(.*\n)*models/demo-tiny\.lock\.json ", output
    )
    tags = proc.stdout.split("Done:")[-1]
    for tag in (
        "demo-tiny@v1.0.0",
        "demo-tiny@v1.0.1",
        "demo-tiny@v2.0.0",
        "demo-tiny@v2.0.1",
        "demo-tiny-lora@v1.0.0",
        "demo-tiny-lora@v2.0.0",
    ):
        assert tag in tags
