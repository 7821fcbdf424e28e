"""The names evalpin turns into paths, checked before they become one: a local name (models/NAME,
eval/data/NAME, conf/model/NAME.yaml), a task name (eval/results/TASK.json, eval/samples/TASK.jsonl) and a
Hub repo id (ORG/NAME). Every command that takes either checks
it here (the CLI as the argparse `type=` of its option, cli/options.py), so `../../etc` never reaches a
path, a hub client or a DVC call."""

from __future__ import annotations

import re

from evalpin.base.errors import EvalpinError

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
# huggingface_hub's own rule (validate_repo_id): an optional namespace, letters, digits, '-', '_', '.';
# no '--' or '..', no leading or trailing '-' or '.', at most 96 characters.
REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
REPO_ID = re.compile(rf"^(?:{REPO_PART}/)?{REPO_PART}$")
PLACES = {
    "model": "models/NAME, conf/model/NAME.yaml and the registry name",
    "dataset": "eval/data/NAME and conf/data/NAME.yaml",
    "local": "models/NAME or eval/data/NAME",
}


def check_name(name: str, what: str = "model") -> str:
    """`name` when it is a safe local name, else EvalpinError saying which names are."""
    if not name or not set(name) <= NAME_CHARS or name[0] in "-._":
        raise EvalpinError(
            f"{what} name {name!r}: use lower-case letters, digits, '-', '_' or '.', starting with "
            f"a letter or digit (it becomes {PLACES.get(what, PLACES['model'])}), e.g. `demo-tiny`."
        )
    return name


def check_repo_id(repo_id: str) -> str:
    """`repo_id` when it is a Hub repo id (ORG/NAME or NAME), else EvalpinError naming the rule."""
    if len(repo_id) > 96 or not REPO_ID.match(repo_id) or "--" in repo_id or ".." in repo_id:
        raise EvalpinError(
            f"repo id {repo_id!r}: expected ORG/NAME as on the Hub (letters, digits, '-', '_', '.'; no "
            "'..', '--' or leading '/'), e.g. `evalpin/demo-tiny`."
        )
    return repo_id


# lm-eval's task names: letters of either case, digits, '_', '-', '.' (mmlu_high_school_biology,
# AraDiCE_boolq_egy, leaderboard_bbh_navigate); never a path separator, a leading dot or '..'.
TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def check_task_name(name: object, where: str) -> str:
    """`name` when a task of that name can be stored as eval/results/NAME.json, else EvalpinError."""
    if not isinstance(name, str) or not TASK_NAME.match(name) or ".." in name or len(name) > 200:
        raise EvalpinError(
            f"{where}: task name {name!r} cannot name a file (eval/results/NAME.json): use letters, digits, "
            "'_', '-' or '.', starting with a letter or digit, without '/' or '..'; rename its `task:`."
        )
    return name
