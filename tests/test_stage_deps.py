"""dvc.yaml's stages and the software that runs them: the evaluate stage depends on the project's pins of
it (requirements.txt: evalpin's version; constraints.txt: every other package's), never on evalpin's
source, which a project made from the template does not hold. A new version reruns the stage, and the
task keys decide what recomputes: a version that changes no result recomputes no task (tests/
test_copied_project.py upgrades a project and sees every task reused)."""

from __future__ import annotations

import re

import yaml

import evalpin
from support import TEMPLATE

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
