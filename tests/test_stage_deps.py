"""dvc.yaml's stages and the software that runs them: the evaluate stage depends on the project's pins of
it (requirements.txt: evalpin's version; constraints.txt: every other package's), never on evalpin's
source, which a project made from the template does not hold. A new version reruns the stage, and the
task keys decide what recomputes: a version that changes no result recomputes no task."""

from __future__ import annotations

import re

import pytest
import yaml

import evalpin
from support import TEMPLATE, dvc, pipeline_changes

SOFTWARE = ["requirements.txt", "constraints.txt"]


def stages() -> dict[str, dict]:
    return yaml.safe_load((TEMPLATE / "dvc.yaml").read_text())["stages"]


def test_a_stage_that_runs_on_every_repro_lists_no_deps():
    """verify (always_changed) reruns anyway: deps would only make DVC hash them for nothing."""
    verify = stages()["verify"]
    assert verify.get("always_changed") is True
    assert not verify.get("deps") and not verify.get("params"), "dvc.yaml: verify reruns anyway: no deps"


def test_the_evaluation_depends_on_the_pinned_software_not_on_evalpins_source():
    deps = stages()["evaluate"]["deps"]
    assert set(SOFTWARE) <= set(deps), deps
    assert not [dep for dep in deps if dep.startswith("src")], deps


def test_requirements_pin_the_evalpin_version_of_this_source():
    """requirements.txt is what a project installs; here it names the version src/ is (one version)."""
    pins = re.findall(r"^evalpin==(\S+)$", (TEMPLATE / "requirements.txt").read_text(), re.M)
    assert pins == [evalpin.__version__], f"requirements.txt: pin evalpin=={evalpin.__version__}"


@pytest.mark.slow
def test_a_new_version_that_changes_no_result_reruns_the_stage_but_no_task(reproduced_repo):
    assert pipeline_changes(reproduced_repo) == {}
    requirements = reproduced_repo / "requirements.txt"
    requirements.write_text(requirements.read_text().replace(f"=={evalpin.__version__}", "==99.0.0"))
    assert "requirements.txt" in str(pipeline_changes(reproduced_repo).get("evaluate")), "DVC missed it"
    metrics = (reproduced_repo / "eval/metrics.json").read_bytes()
    proc = dvc(reproduced_repo, "repro")
    assert "Running stage 'evaluate'" in proc.stdout
    assert re.search(r"evaluate: (\d+) of \1 tasks reused, 0 to run", proc.stdout + proc.stderr), proc.stderr
    assert (reproduced_repo / "eval/metrics.json").read_bytes() == metrics
