"""What the tests, the benchmarks (bench/) and the demo builders (scripts/) share: scratch repositories made
from this template, evalpin/dvc/git run as a user runs them, and upstreams in huggingface_hub cache
layout. `make setup` installs it into .venv as a development package (tests/pyproject.toml), for all three.
"""

from __future__ import annotations

from support.commands import (
    dvc,
    evalpin,
    evalpin_in_process,
    git,
    killed_at,
    pipeline_changes,
    run,
    subprocess_env,
)
from support.hubcache import ARC_COMMIT, ARC_FIX, write_dataset_cache
from support.real_upstream import REPO_ID as REAL_REPO_ID
from support.repos import (
    DEMO_DATA,
    HUB_REPO,
    TEMPLATE,
    build_demo_lock,
    committed_scores,
    copy_repo,
    demo_commit,
    demo_conf,
    make_template_repo,
    pin_demo,
    pin_demo_data,
    read_json,
    select_model,
)

__all__ = [
    "ARC_COMMIT",
    "ARC_FIX",
    "DEMO_DATA",
    "HUB_REPO",
    "REAL_REPO_ID",
    "TEMPLATE",
    "build_demo_lock",
    "committed_scores",
    "copy_repo",
    "demo_commit",
    "demo_conf",
    "dvc",
    "evalpin",
    "evalpin_in_process",
    "git",
    "killed_at",
    "make_template_repo",
    "pin_demo",
    "pin_demo_data",
    "pipeline_changes",
    "read_json",
    "run",
    "select_model",
    "subprocess_env",
    "write_dataset_cache",
]
