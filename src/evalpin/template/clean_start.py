"""Remove the demo from a project: its pins, its run, its selection; what the user pinned stays.

What is the demo's is told by each lock's `source.upstream` (demo/hub, evalpin.delivery.demo): a model pinned
from there loses models/NAME (and its .dvc, lock, golden renderings, signatures), conf/model/NAME.yaml
and its `artifacts:` entry in dvc.yaml; a dataset loses eval/data/NAME (.dvc, lock) and
conf/data/NAME.yaml. The last run goes too when it evaluated a removed pin (eval/verified.json says):
its outputs and dvc.lock, so the first `dvc repro` of the user's model runs both stages from scratch.
conf/config.yaml then selects no model (Hydra's `???`: compose names the fix) and, instead of the demo's
suites, conf/suite/main.yaml (empty). demo/ stays (the tests build their scratch projects from it), and
so do the demo's task files and suites, unselected.

A project copied without the demo (copier's `demo: false`) never held it; clean-start is for a project
that started with the demo and now evaluates its own model.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from evalpin.base.atomic import write_atomic
from evalpin.base.errors import EvalpinError
from evalpin.base.outs import (
    FINGERPRINT_FILE,
    METRICS_FILE,
    RESULTS_DIR,
    SAMPLES_DIR,
    SCORES_FILE,
    VERIFIED_FILE,
)
from evalpin.base.project import CONF_DIR, DATA_DIR, DEMO_UPSTREAM, MODELS_DIR, PARAMS_FILE
from evalpin.config.defaults_list import CONFIG_FILE, UNSELECTED, choice, set_choice

MODEL_FILES = ("", ".dvc", ".lock.json", ".golden.json", ".sig", ".publisher.sig", ".publisher.pub")
MODEL_FILES += (".publisher-chain.pem",)
DATA_FILES = ("", ".dvc", ".lock.json")
RUN_FILES = (VERIFIED_FILE, METRICS_FILE, SCORES_FILE, FINGERPRINT_FILE, SAMPLES_DIR, RESULTS_DIR, "dvc.lock")
DEMO_SUITES = ("demo", "standard")  # the template's suites: the demo's local tasks, its pinned datasets
CLEAN_SUITE = "main"
NO_MODEL_PARAMS = (
    "# Composed from conf/ by `evalpin compose` (or `dvc exp run`). Edit conf/, not this file.\n"
    "# No model is selected yet (`evalpin clean-start` removed the demo's), so `dvc repro` stops at\n"
    "# \"Could not find 'model.name'\". Pin yours, then select it, which writes this file:\n"
    "#   evalpin pin ORG/NAME --revision <40-hex commit> --name NAME && evalpin use NAME\n"
    "{}\n"
)
NEXT = (
    "next: HF_HUB_OFFLINE=0 evalpin pin ORG/NAME --revision <40-hex commit> --name NAME",
    "      evalpin use NAME                         # the evaluated model: conf/config.yaml, params.yaml",
    "      HF_HUB_OFFLINE=0 evalpin pin-data ORG/DATASET --revision <40-hex commit> --name DATA",
    f"      $EDITOR {CONF_DIR}/suite/{CLEAN_SUITE}.yaml   # tasks, and catalog entries bound to DATA",
    "      dvc repro && git add -A && git commit -m 'Evaluate NAME'",
)


@dataclass
class Plan:
    """What clean-start removes and changes; empty when the project holds nothing of the demo."""

    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)  # paths relative to the root, that exist
    choices: dict[str, str] = field(default_factory=dict)  # conf/config.yaml group -> new option

    def edited(self) -> list[str]:
        ignores = [f"{MODELS_DIR}/.gitignore", f"{DATA_DIR}/.gitignore"]
        return [CONFIG_FILE, PARAMS_FILE, "dvc.yaml", *ignores] if self.choices or self.remove else []


def demo_pins(root: Path, folder: str) -> list[str]:
    """The names of the locks in FOLDER pinned from the demo's upstream."""
    found = []
    for path in sorted((root / folder).glob("*.lock.json")):
        source = json.loads(path.read_text()).get("source") or {}
        if source.get("upstream") == DEMO_UPSTREAM:
            found.append(path.name.removesuffix(".lock.json"))
    return found


def last_run_is_demo(root: Path, models: list[str], datasets: list[str]) -> bool:
    """Whether the last run (eval/verified.json, else eval/fingerprint.json) evaluated a removed pin."""
    for rel in (VERIFIED_FILE, FINGERPRINT_FILE):
        if (root / rel).is_file():
            run = json.loads((root / rel).read_text())
            model = run.get("model") or (run.get("delivery") or {}).get("name")
            data = set(run.get("datasets") or {})
            for row in ((run.get("suite") or {}).get("tasks") or {}).values():
                data.add((row.get("data") or {}).get("name"))
            return model in models or bool(data & set(datasets))
    return False


def plan(root: Path) -> Plan:
    models, datasets = demo_pins(root, MODELS_DIR), demo_pins(root, DATA_DIR)
    paths = [f"{MODELS_DIR}/{n}{s}" for n in models for s in MODEL_FILES]
    paths += [f"{CONF_DIR}/model/{n}.yaml" for n in models]
    paths += [f"{DATA_DIR}/{n}{s}" for n in datasets for s in DATA_FILES]
    paths += [f"{CONF_DIR}/data/{n}.yaml" for n in datasets]
    if last_run_is_demo(root, models, datasets):
        paths += RUN_FILES
    config = (root / CONFIG_FILE).read_text()
    choices = {}
    if choice(config, "model") in models:
        choices["model"] = UNSELECTED
    if choice(config, "suite") in DEMO_SUITES:
        choices["suite"] = CLEAN_SUITE
    return Plan(models, datasets, [p for p in paths if (root / p).exists()], choices)


def check_committed(root: Path, paths: list[str]) -> None:
    """Refuse when git holds uncommitted changes to any of PATHS: removing them would lose work."""
    proc = subprocess.run(
        ["git", "status", "--porcelain", "--", *paths], cwd=root, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise EvalpinError(
            f"clean-start: {root} is not a git repository with a commit, so nothing it removes could be "
            "brought back. Commit the project first (`git init -b main && git add -A && git commit -m "
            "Start`), then rerun `evalpin clean-start`."
        )
    changed = sorted({line[3:].strip() for line in proc.stdout.splitlines() if line.strip()})
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise EvalpinError(
            f"clean-start: uncommitted changes to {shown}, which it would remove or rewrite; commit or "
            "stash them (`git stash`), then rerun `evalpin clean-start`."
        )


def without_artifacts(text: str, names: list[str]) -> str:
    """dvc.yaml's text without the `artifacts:` entries NAMES (their lines only); without the block's
    header and the comment above it once no entry is left."""
    lines = text.splitlines(keepends=True)
    head = next((i for i, line in enumerate(lines) if re.match(r"artifacts:\s*(#.*)?$", line)), None)
    if head is None:
        return text
    end = head + 1
    while end < len(lines) and (lines[end][:1] in (" ", "\t") or not lines[end].strip()):
        end += 1
    kept, dropping = [], False
    for line in lines[head + 1 : end]:
        entry = re.match(r"[ \t]+([^\s#:][^:]*):\s*(#.*)?$", line)
        if entry and len(line) - len(line.lstrip()) == indent_of(lines[head + 1 : end]):
            dropping = entry.group(1).strip() in names
        if not dropping:
            kept.append(line)
    if any(line.strip() and not line.lstrip().startswith("#") for line in kept):
        return "".join([*lines[: head + 1], *kept, *lines[end:]])
    start = head
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    return "".join([*lines[:start], *lines[end:]])


def indent_of(block: list[str]) -> int:
    """The indentation of a block's first entry (its children's keys sit deeper)."""
    first = next((line for line in block if line.strip() and not line.lstrip().startswith("#")), "  x")
    return len(first) - len(first.lstrip())


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def unignore(path: Path, names: list[str]) -> None:
    """Drop the `/NAME` lines DVC added to FOLDER/.gitignore for NAMES (the file, once nothing is left)."""
    if not names or not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines(keepends=True) if line.strip()[1:] not in names]
    if any(line.strip() for line in kept):
        write_atomic(path, "".join(kept))
    else:
        path.unlink()


def apply(root: Path, todo: Plan) -> list[str]:
    """Carry out the plan: the lines saying what was removed and changed."""
    for rel in todo.remove:
        remove(root / rel)
    lines = [f"removed {rel}" for rel in todo.remove]
    for folder, names in ((MODELS_DIR, todo.models), (DATA_DIR, todo.datasets)):
        unignore(root / folder / ".gitignore", names)
    if todo.models and (root / "dvc.yaml").is_file():
        text = (root / "dvc.yaml").read_text()
        if (updated := without_artifacts(text, todo.models)) != text:
            write_atomic(root / "dvc.yaml", updated)
            lines.append(f"dvc.yaml: artifacts {', '.join(todo.models)} removed (the registry's entries)")
    config = (root / CONFIG_FILE).read_text()
    for group, option in todo.choices.items():
        config = set_choice(config, group, option)
        lines.append(f"{CONFIG_FILE}: {group}: {option}")
    if todo.choices:
        write_atomic(root / CONFIG_FILE, config)
    if todo.choices.get("model") == UNSELECTED:
        write_atomic(root / PARAMS_FILE, NO_MODEL_PARAMS)
        lines.append(f"{PARAMS_FILE}: no model selected until `evalpin use NAME`")
    return lines


def clean_start(root: Path) -> tuple[list[str], bool]:
    """Remove the demo (idempotent): the lines to print, and whether params.yaml must be composed again
    (a model of the user's is still selected, and the suite changed)."""
    todo = plan(root)
    if not todo.remove and not todo.choices:
        return ["clean-start: nothing of the demo is left here (no pin from demo/hub, no demo suite)"], False
    check_committed(root, [*todo.remove, *todo.edited()])
    lines = apply(root, todo)
    kept = own_pins(root)
    lines.append(
        f"clean-start: removed the demo's {len(todo.models)} model(s) and {len(todo.datasets)} dataset(s)"
        + (f"; kept your pins: {', '.join(kept)}" if kept else "")
    )
    return lines, "suite" in todo.choices and todo.choices.get("model") != UNSELECTED


def own_pins(root: Path) -> list[str]:
    """The pins left: the user's own (models/NAME, eval/data/NAME)."""
    return [
        f"{folder}/{p.name.removesuffix('.lock.json')}"
        for folder in (MODELS_DIR, DATA_DIR)
        for p in sorted((root / folder).glob("*.lock.json"))
    ]
