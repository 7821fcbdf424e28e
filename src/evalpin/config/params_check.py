"""The pipeline's parameters (params.yaml's inference, suite, gate and backend sections, and the model's
true/false switches), checked before any stage runs: by `evalpin compose --check`, the verify stage's
first check (`verify --check-composed`), because DVC deletes a stage's outputs before running it, so an
error found only by the evaluate stage would cost the committed outputs. `evaluate` checks them again (it
fails closed outside the pipeline too), and `compare` checks the gate it applies.

Each problem is one line naming the conf/ file the value came from (the option conf/config.yaml or an
override selected; params.yaml inside `dvc exp run`), the dotted field, what it is and what it may be.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from evalpin.base.documents import switch
from evalpin.base.errors import EvalpinError
from evalpin.base.names import check_task_name
from evalpin.suite import catalog
from evalpin.suite.local_tasks import declared_kinds

TYPE_CHECKING = False
if TYPE_CHECKING:
    Rule = tuple[Callable[[object], bool], str]

DTYPES = ("auto", "float32", "float16", "bfloat16")
MODEL_SWITCHES = ("trust_remote_code", "allow_pickle", "add_bos_token")  # conf/model/NAME.yaml's true/false


def positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def names(value: object) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(v, str) and v for v in value))


def mapping(value: object) -> bool:
    return value is None or isinstance(value, dict)


def number(value: object) -> bool:
    """A finite int or float: NaN compares false with everything and infinity passes any bound, so either
    would turn a threshold or a tolerance into a pass."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


# section -> field -> (accepts, what it may be); every field is required, and no other is allowed (a typo
# such as `limt: 4` would otherwise be ignored and the whole suite run).
RULES: dict[str, dict[str, Rule]] = {
    "inference": {
        "dtype": (lambda v: v in DTYPES, f"one of {', '.join(DTYPES)}"),
        "device": (text, "a device name such as cpu or cuda:0"),
        "batch_size": (positive_int, "a positive integer (a fixed size: padding changes loglikelihoods)"),
        "torch_threads": (positive_int, "a positive integer"),
        "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0"),
        "apply_chat_template": (lambda v: isinstance(v, bool), "true or false"),
        "system_instruction": (lambda v: v is None or isinstance(v, str), "null or a string"),
        "gen_kwargs": (mapping, "a mapping of generation arguments, e.g. {max_gen_toks: 32}, or {}"),
        "numerics": (
            lambda v: v in ("portable", "fast"),
            "portable (the same bytes on any x86-64 CPU with AVX2) or fast (the machine's kernels; "
            "equivalent within the tolerance): docs/reproduction.md",
        ),
    },
    "suite": {
        "name": (text, "a non-empty name"),
        "include_path": (text, "the folder of the suite's task YAMLs, relative to the repository"),
        "tasks": (names, "a list of task names (or null)"),
        "chat_tasks": (names, "a list of task names (or null)"),
        "limit": (
            lambda v: v is None or positive_int(v),
            "null (every sample) or a positive integer (the first N samples per task: smoke tests only)",
        ),
        "catalog": (lambda v: v is None or isinstance(v, list), "a list of catalog entries (or null)"),
    },
    "gate": {
        "k_stderr": (lambda v: number(v) and v >= 0, "a number >= 0 (stderrs a drop may span)"),
        "abs_floor": (lambda v: number(v) and v >= 0, "a number >= 0 (the smallest drop that counts)"),
        "alpha": (lambda v: number(v) and 0 < v < 1, "a number in (0, 1): the suite-wide false-alarm rate"),
        "correction": (
            lambda v: v in ("holm", "none"),
            "holm (alpha holds for the whole suite) or none (alpha per task)",
        ),
        "power": (lambda v: number(v) and 0 < v < 1, "a number in (0, 1): the power the mde is quoted at"),
    },
    "backend": {
        "name": (text, "a backend name"),
        "model_args": (mapping, "a mapping of lm-eval model_args, or {}"),
        "server_tolerance": (
            lambda v: v is None or (number(v) and v > 0),
            "null (measured) or a positive number",
        ),
    },
}
OPTIONAL = {
    ("suite", "catalog"),
    ("suite", "chat_tasks"),
    ("backend", "server_tolerance"),
    ("inference", "numerics"),  # absent: fast, how evalpin before 0.2 computed (older tags reproduce so)
    ("gate", "alpha"),  # absent (a gate from before 0.2): 0.05, Holm, power 0.8 (results/gate.py Gate)
    ("gate", "correction"),
    ("gate", "power"),
}


def check_settings(root: Path, params: dict, files: dict[str, str] | None = None) -> None:
    """EvalpinError on the first parameter that cannot run. `files`: group -> the conf file it was
    composed from (conf/suite/demo.yaml); absent ones are named as params.yaml."""
    check_values(params, files)
    where = {group: (files or {}).get(group) or "params.yaml" for group in RULES}
    check_backend_name(params["backend"]["name"], where["backend"])
    check_suite_tasks(root, params["suite"], where["suite"])


def check_values(params: dict, files: dict[str, str] | None = None) -> None:
    """What typing params.yaml needs (config/params.py), read from no other file: each section a mapping
    of its fields' values, the model's switches true or false."""
    model, at = params.get("model"), (files or {}).get("model") or "params.yaml"
    if not isinstance(model, dict):  # first: which model is the first thing every command needs
        state = "missing" if model is None else f"{model!r}"
        raise EvalpinError(
            f"{at}: section 'model' is {state}; expected conf/model/NAME.yaml's fields. Select a pinned "
            "model (`evalpin use NAME`) or run `evalpin compose`."
        )
    for group, rules in RULES.items():
        check_section(params.get(group), group, rules, (files or {}).get(group) or "params.yaml")
    for key in MODEL_SWITCHES:
        switch(model, key, f"{at}: model")


def check_section(section: object, group: str, rules: dict[str, Rule], where: str) -> None:
    if not isinstance(section, dict):
        raise EvalpinError(
            f"{where}: section {group!r} is {section!r}, expected a mapping from conf/{group}/. Fix it, "
            "then `evalpin compose`."
        )
    unknown = sorted(set(section) - set(rules), key=str)
    if unknown:
        raise EvalpinError(
            f"{where}: {group}.{unknown[0]} is not a field of {group} (fields: {', '.join(rules)}); "
            "fix its spelling or remove it, then `evalpin compose`."
        )
    for field, (accepts, expected) in rules.items():
        if field not in section and (group, field) in OPTIONAL:
            continue
        value = section.get(field, "<missing>")
        if field not in section or not accepts(value):
            raise EvalpinError(
                f"{where}: {group}.{field} is {value!r}; expected {expected}. Fix it, then `evalpin compose`."
            )


BACKENDS = ("hf", "local-completions", "gguf")  # evaluation/backends.py: one function each


def check_backend_name(name: str, where: str) -> None:
    if name not in BACKENDS:
        raise EvalpinError(
            f"{where}: backend.name is {name!r}, which `evalpin evaluate` cannot run; it runs "
            f"{', '.join(sorted(BACKENDS))}. Select one in conf/config.yaml (defaults: `- backend: hf`), "
            "then `evalpin compose`."
        )


def check_suite_tasks(root: Path, suite: dict, where: str) -> None:
    """The suite runs something, each task once, every local task is declared under include_path, and
    every catalog entry resolves, binds its pinned data and finds the config and split it reads there."""

    plain, chat = [*(suite.get("tasks") or [])], list(suite.get("chat_tasks") or [])
    if not plain and not chat and not suite.get("catalog"):
        raise EvalpinError(f"{where}: the suite lists no tasks; add task names under `tasks:`.")
    if both := sorted(set(plain) & set(chat)):
        raise EvalpinError(f"{where}: {both} listed under both `tasks` and `chat_tasks`; keep one.")
    for task in [*plain, *chat]:
        check_task_name(task, where)
    include = root / suite["include_path"]
    declared = declared_kinds(include, root)
    for field, listed in (("tasks", plain), ("chat_tasks", chat)):
        if grouped := [t for t in listed if declared.get(t) in ("group", "tag")]:
            raise EvalpinError(
                f"{where}: suite.{field} names {grouped[0]!r}, a {declared[grouped[0]]} in "
                f"{suite['include_path']}/; each task is evaluated (and stored) on its own, so list its "
                "tasks one by one under `tasks:`."
            )
        if unknown := [t for t in listed if t not in declared]:
            raise EvalpinError(
                f"{where}: suite.{field} names {unknown[0]!r}, which no YAML under {suite['include_path']}/ "
                f"declares (task, group or tag; declared: {', '.join(sorted(declared)) or 'none'}). Fix "
                "the name, or add its YAML there."
            )
    catalog.check_cards(root, suite)  # every entry resolves, binds pinned data, and finds its config
