"""The offline environment, defined once in base/offline.env (base/environment.py): read here by
every evalpin command, test and benchmark, and `include`d by the Makefile."""

import re

from evalpin.base import environment
from evalpin.base.environment import OFFLINE_ENV, offline_environment

# What the Makefile's `include` and its `export $(shell sed ...)` read: KEY=VALUE, no quotes, no spaces.
MAKE_LINE = re.compile(r"[A-Z_][A-Z0-9_]*=[^\s\"']+")


def test_no_hub_traffic_no_analytics_and_caches_inside_the_project(tmp_path):
    env = offline_environment(tmp_path)
    assert env["HF_HUB_OFFLINE"] == env["HF_DATASETS_OFFLINE"] == env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["HF_HUB_DISABLE_TELEMETRY"] == env["DVC_NO_ANALYTICS"] == "1"
    assert env["HF_HOME"] == str(tmp_path / ".cache" / "huggingface")  # made absolute under the root


def test_every_setting_is_a_line_make_can_include_and_python_reads_the_same():
    lines = [line for line in OFFLINE_ENV.read_text().splitlines() if line and not line.startswith("#")]
    assert lines and all(MAKE_LINE.fullmatch(line) for line in lines), lines
    assert set(offline_environment(OFFLINE_ENV.parent)) == {line.split("=")[0] for line in lines}


def test_comments_blank_lines_and_an_equals_sign_in_a_value(tmp_path, monkeypatch):
    env_file = tmp_path / "offline.env"
    env_file.write_text("# a comment=ignored\n\nA=1\nB=x=y\nHF_HOME=cache/hf\n")
    monkeypatch.setattr(environment, "OFFLINE_ENV", env_file)
    assert offline_environment(tmp_path / "root") == {
        "A": "1",
        "B": "x=y",
        "HF_HOME": f"{tmp_path}/root/cache/hf",
    }
