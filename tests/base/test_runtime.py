"""The runtime's versions (base/runtime.py): read from package metadata, never by importing a package, in a
fixed order, with the container image's digest where one is set. What a lock or a task key does with them
is tested in test_lock.py, test_verify.py and test_task_key.py."""

import json
import os
import subprocess
import sys

import pytest
import yaml

import evalpin
from evalpin.base.runtime import RESULT_PACKAGES, RUNTIME_PACKAGES, current_runtime, package_version

MISSING = "evalpin-tests-no-such-package"


def test_an_installed_packages_version_is_the_one_it_reports_and_a_missing_one_is_absent():
    assert package_version("pyyaml") == yaml.__version__
    assert package_version("PyYAML") == yaml.__version__  # distribution names are case-insensitive
    assert package_version("pytest") == pytest.__version__
    assert package_version(MISSING) == "absent"


def test_the_runtime_lists_python_then_each_package_in_order_then_the_image(monkeypatch):
    monkeypatch.delenv("EVALPIN_IMAGE_DIGEST", raising=False)
    found = current_runtime(("pytest", MISSING, "pyyaml"))
    assert list(found) == ["python", "pytest", MISSING, "pyyaml"]
    assert found == {
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "pytest": pytest.__version__,
        MISSING: "absent",
        "pyyaml": yaml.__version__,
    }
    assert list(current_runtime()) == ["python", *RUNTIME_PACKAGES]
    monkeypatch.setenv("EVALPIN_IMAGE_DIGEST", "sha256:" + "ab" * 32)
    assert list(current_runtime(("pytest",)).items())[-1] == ("image", "sha256:" + "ab" * 32)
    monkeypatch.setenv("EVALPIN_IMAGE_DIGEST", "")  # set but empty: no image to record
    assert "image" not in current_runtime(("pytest",))


def test_recording_what_computes_a_score_imports_none_of_it():
    """torch takes seconds to import; a task key records 8 packages' versions per leaf. In a fresh process:
    nothing of RESULT_PACKAGES is imported by recording them, and numpy's version is the one it reports."""
    script = (
        "import json, sys\n"
        "from evalpin.base.runtime import RESULT_PACKAGES, current_runtime\n"
        "found = current_runtime(RESULT_PACKAGES)\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'lm_eval', 'datasets', 'numpy', 'peft')"
        " if m in sys.modules)\n"
        "import numpy, evalpin\n"
        "print(json.dumps({'found': found, 'imported': heavy, 'numpy': numpy.__version__,"
        " 'evalpin': evalpin.__file__}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "EVALPIN_IMAGE_DIGEST"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    out = json.loads(proc.stdout)
    assert out["evalpin"] == evalpin.__file__  # this checkout's, not another's
    assert out["imported"] == []
    assert list(out["found"]) == ["python", *RESULT_PACKAGES]
    assert out["found"]["numpy"] == out["numpy"]
    assert "absent" not in (out["found"]["torch"], out["found"]["lm_eval"])  # `make setup` installs them
