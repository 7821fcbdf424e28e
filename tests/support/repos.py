"""Scratch Git + DVC repositories made from this template, with the demo model pinned from demo/hub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from evalpin.config.defaults_list import set_choice
from evalpin.delivery.lock import Lock, Source
from support.commands import dvc, evalpin, evalpin_in_process, git

TEMPLATE = Path(__file__).resolve().parents[2]
HUB_REPO = TEMPLATE / "demo" / "hub" / "models--evalpin--demo-tiny"
DEMO_METRICS = TEMPLATE / "demo" / "metrics.json"  # the demo suite's rows of the demo's committed run
# What a user's clone holds, minus the pinned model (each test pins its own).
TEMPLATE_PATHS = (
    "conf",
    "eval/tasks",
    "eval/data/README.md",  # the folder pinned datasets go to; the tests pin their own datasets
    "demo",
    "dvc.yaml",
    "params.yaml",
    ".dvcignore",
    ".gitignore",
    "requirements.txt",  # the evaluate stage depends on the software that runs it, as a project pins it
    "constraints.txt",
)


def copy_paths(source: Path, target: Path, paths: Iterable[str], symlinks: bool = True) -> Path:
    """Copy each relative path (a file or a directory, without bytecode) from `source` into `target`;
    symlinks are kept as links, or with symlinks=False replaced by what they point at."""
    for rel in paths:
        src, dst = source / rel, target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir() and not (symlinks and src.is_symlink()):
            shutil.copytree(src, dst, symlinks=symlinks, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst, follow_symlinks=not symlinks)
    return target


def checkout_files() -> list[str]:
    """This checkout's files as a clone would have them: tracked (minus deleted) plus new, not ignored."""
    proc = git(TEMPLATE, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted({f for f in proc.stdout.split("\0") if f and os.path.lexists(TEMPLATE / f)})


def init_repo(path: Path, message: str) -> str:
    """A git repository of `path`'s files on `main`, committed with a test identity: the commit."""
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@evalpin.invalid")
    git(path, "config", "user.name", "evalpin tests")
    return commit_all(path, message)


def commit_all(path: Path, message: str) -> str:
    git(path, "add", "-A")
    git(path, "commit", "-qm", message)
    return git(path, "rev-parse", "HEAD").stdout.strip()


def make_template_repo(path: Path, source: Path = TEMPLATE) -> Path:
    """A fresh clone's worth of the template (or of SOURCE, a project made from it) in `path`, evaluating
    the demo, committed on `main`. Only demo/ and what clean-start leaves are read: the demo's pins are
    made here (conf/model/demo-tiny.yaml now, the delivery by `pin_demo`, datasets by `pin_demo_data`)."""
    path.mkdir(parents=True)
    copy_paths(source, path, TEMPLATE_PATHS)
    for pinned in ("model", "data"):  # the project's own pins (the demo's, or a user's) are not copied
        shutil.rmtree(path / "conf" / pinned, ignore_errors=True)
    write_demo_model_conf(path)
    evaluate_the_demo(path)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@evalpin.invalid")
    git(path, "config", "user.name", "evalpin tests")
    dvc(path, "init", "-q")
    dvc(path, "config", "core.analytics", "false")
    dvc(path, "config", "hydra.enabled", "true")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "template")
    return path


def select_model(repo: Path, name: str, group: str = "model") -> None:
    """Make NAME the model (or another group's option) conf/config.yaml selects, and compose params.yaml
    (only if it changes)."""
    config = repo / "conf" / "config.yaml"
    text = config.read_text()
    selected = set_choice(text, group, name)
    if selected != text:
        config.write_text(selected)
        evalpin(repo, "compose")


def evaluate_the_demo(repo: Path) -> None:
    """Tests run on the demo model and the demo's local tasks (seconds per evaluation); the catalog
    benchmarks on pinned data have tests of their own. A project made from the template may evaluate its
    own model (`- model: mymodel` in conf/config.yaml); its test repos switch back to the demo."""
    select_model(repo, "demo-tiny")
    select_model(repo, "demo", group="suite")


def demo_commit(ref: str, hub_repo: Path = HUB_REPO) -> str:
    """The commit REF names in a demo/hub repository (default: the demo model's)."""
    return (hub_repo / "refs" / ref).read_text().strip()


def write_demo_model_conf(repo: Path, ref: str = "r1") -> None:
    """conf/model/demo-tiny.yaml as `evalpin pin` writes it for the demo's REF (the template's pin: r1)."""
    from evalpin.pinning.model_conf import write_model_conf
    from evalpin.pinning.requests import PinRequest

    commit = demo_commit(ref)
    write_model_conf(repo, PinRequest("evalpin/demo-tiny", commit, "demo-tiny", "demo/hub"), commit)


def demo_conf(path: Path) -> Path:
    """A folder holding the template's conf/ with the demo model pinned and selected: what composes in
    any project made from the template, clean-started or not (the suite stays the template's choice)."""
    copy_paths(TEMPLATE, path, ["conf"])
    write_demo_model_conf(path)
    config = path / "conf" / "config.yaml"
    config.write_text(set_choice(config.read_text(), "model", "demo-tiny"))
    return path


def build_demo_lock(folder: Path, ref: str = "r1") -> Lock:
    """The demo's REF locked as `evalpin pin` locks it (a copy of its snapshot under FOLDER/delivery)."""
    from evalpin.delivery.inventory import build_lock

    delivery = folder / "delivery"
    delivery.mkdir(parents=True)
    for f in (HUB_REPO / "snapshots" / demo_commit(ref)).iterdir():
        (delivery / f.name).write_bytes(f.read_bytes())
    return build_lock(
        delivery, "demo-tiny", Source("evalpin/demo-tiny", demo_commit(ref), None, None, "demo/hub")
    )


def pin_demo(
    repo: Path, ref: str = "r1", *extra: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return evalpin_in_process(
        repo,
        "pin",
        "evalpin/demo-tiny",
        "--revision",
        demo_commit(ref),
        "--upstream",
        "demo/hub",
        *extra,
        check=check,
    )


# The demo's datasets as the template pins them (eval/data/NAME): name -> (demo/hub repo id, ref, includes).
DEMO_DATA = {
    "arc": ("evalpin-demo/ai2_arc", "d1", ("ARC-Easy/*",)),
    "gsm8k": ("evalpin-demo/gsm8k", "d1", ("main/*",)),
    "hellaswag": ("evalpin-demo/hellaswag", "d1", ()),
    "mmlu": (
        "evalpin-demo/mmlu",
        "d1",
        ("high_school_biology/*", "nutrition/*", "high_school_geography/*"),
    ),
}


def pin_demo_data(repo: Path, *names: str) -> None:
    """Pin the demo's datasets NAMES (default: all four) from demo/hub into `repo`, as the template does."""
    from evalpin.pinning.pin import pin_dataset
    from evalpin.pinning.requests import DataPinRequest

    for name in names or DEMO_DATA:
        repo_id, ref, include = DEMO_DATA[name]
        commit = demo_commit(ref, TEMPLATE / "demo" / "hub" / f"datasets--{repo_id.replace('/', '--')}")
        pin_dataset(repo, DataPinRequest(repo_id, commit, name, "demo/hub", include=include))


def copy_repo(origin: Path, copy: Path) -> Path:
    shutil.copytree(origin, copy, symlinks=True)
    shutil.rmtree(copy / ".evalpin" / "state", ignore_errors=True)  # stat records name the origin's inodes
    return copy


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def committed_scores(metrics: dict) -> dict:
    """The demo's committed baseline rows (demo/metrics.json: the local tasks' rows of the template's
    eval/metrics.json, kept in demo/ so that a clean-started project still has them) for the tasks in
    `metrics`: what a test repo evaluating only the local tasks must reproduce exactly."""
    committed = read_json(DEMO_METRICS)["tasks"]
    return {task: committed[task] for task in metrics["tasks"]}
