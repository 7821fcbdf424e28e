"""Values written back into conf/, the source of truth, as a user would edit it: one line at a time.

`evalpin use NAME`, `evalpin compose KEY=VALUE` and `evalpin keep EXP` all end here. A group choice
(`model=NAME`) edits its line of conf/config.yaml's defaults list; a value (`inference.batch_size=4`)
edits its key's line in the selected option file (conf/inference/cpu-fp32.yaml), or adds one. Comments,
order and indentation stay: nothing is re-dumped. Every edit is first made in a scratch copy of conf/ and
composed there; only when that composition equals the wanted parameters is any real file replaced, so a
value conf/ cannot express is refused before anything changes.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from evalpin.base import project
from evalpin.base.atomic import write_atomic
from evalpin.base.errors import EvalpinError
from evalpin.base.names import check_name
from evalpin.config.compose import compose, differences, write_params
from evalpin.config.defaults_list import CONFIG_FILE, set_choice

NAMED_GROUPS = ("model", "suite", "backend", "launcher")  # options carry `name:`: params show the choice


def selected(root: Path) -> dict[str, str]:
    """group -> option that conf/config.yaml's defaults list selects (optional groups included)."""
    config = yaml.safe_load((root / CONFIG_FILE).read_text()) or {}
    choices = {}
    for entry in config.get("defaults", []):
        if isinstance(entry, dict):
            for group, option in entry.items():
                choices[group.removeprefix("optional ").strip()] = str(option)
    return choices


def flow(value: object) -> str:
    """A value as one line of YAML (a list or mapping in flow style), as a user writes it."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("...").strip()


def set_key(text: str, key: str, value: object) -> str:
    """An option file with `KEY: VALUE` set (a dotted key inside its block mappings); the other lines, the
    key's own comment and indentation stay; a block value becomes one flow line; a missing key is added."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    set_in(lines, key.split("."), value, (0, len(lines)), "")
    return "".join(lines)


def set_in(lines: list[str], path: list[str], value: object, span: tuple[int, int], indent: str) -> None:
    """Set `path` to `value` among lines[span] at this indentation, recursing into block mappings."""
    head = re.compile(rf"^{indent}{re.escape(path[0])}:(?P<value>[^#\n]*?)(?P<comment>[ \t]+#.*)?$")
    for index in range(*span):
        match = head.match(lines[index].rstrip("\n"))
        if match is None:
            continue
        stop = block_end(lines, index, indent, span[1])
        inline = match.group("value").strip()
        children = [line for line in lines[index + 1 : stop] if line.strip()]
        if len(path) > 1 and not inline and children and not children[0].lstrip().startswith("-"):
            child_indent = children[0][: len(children[0]) - len(children[0].lstrip())]
            set_in(lines, path[1:], value, (index + 1, stop), child_indent)
            return
        new = value if len(path) == 1 else nested(yaml.safe_load(inline or "{}") or {}, path[1:], value)
        line = f"{indent}{path[0]}: {flow(new)}"
        comment = match.group("comment") or ""
        if comment:  # at its old column when the new value leaves room
            column = len(match.group(0)) - len(comment.lstrip(" \t"))
            comment = " " * max(1, column - len(line)) + comment.lstrip(" \t")
        lines[index:stop] = [f"{line}{comment}\n"]
        return
    at = span[1]
    while at > span[0] and not lines[at - 1].strip():
        at -= 1
    lines.insert(at, f"{indent}{path[0]}: {flow(value if len(path) == 1 else nested({}, path[1:], value))}\n")


def block_end(lines: list[str], index: int, indent: str, limit: int) -> int:
    """Where the block under the key on lines[index] ends: its deeper lines (or a `- item` list at the
    key's own indentation) and the blank lines among them, not the blank lines after it."""
    end = index + 1
    while end < limit and (
        not lines[end].strip() or lines[end][len(indent) : len(indent) + 1] in (" ", "\t", "-")
    ):
        if lines[end].strip() and not lines[end].startswith(indent):
            break
        end += 1
    while end > index + 1 and not lines[end - 1].strip():
        end -= 1
    return end


def nested(mapping: dict, path: list[str], value: object) -> dict:
    """A copy of `mapping` with the dotted `path` set to `value`."""
    head, *rest = path
    child = mapping.get(head) if isinstance(mapping.get(head), dict) else {}
    return {**mapping, head: nested(child, rest, value) if rest else value}


def planned_edits(
    root: Path, choices: dict[str, str], values: dict[str, object]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """conf-relative path -> its new text, and -> what changed in it, for the choices and the
    `GROUP.KEY` values."""
    current = selected(root)
    texts: dict[str, str] = {}
    notes: dict[str, list[str]] = {}

    def edit(rel: str, change: str, how: Callable[[str], str]) -> None:
        texts[rel] = how(texts.get(rel, (root / rel).read_text()))
        notes.setdefault(rel, []).append(change)

    for group, option in choices.items():
        if current.get(group) != option:
            edit(CONFIG_FILE, f"{group}: {option}", lambda text, g=group, o=option: set_choice(text, g, o))
    for dotted, value in values.items():
        group, key = dotted.split(".", 1)
        option = choices.get(group, current.get(group))
        rel = f"{project.CONF_DIR}/{group}/{option}.yaml"
        if option is None or not (root / rel).is_file():
            raise EvalpinError(
                f"{dotted}: no option file of group {group!r} is selected in {CONFIG_FILE} to keep it in; "
                f"put it in conf/ by hand, or try it unkept: `dvc exp run -S {dotted}=...`."
            )
        edit(rel, f"{key}: {flow(value)}", lambda text, k=key, v=value: set_key(text, k, v))
    return texts, notes


def changed_values(base: dict, target: dict, prefix: str = "") -> dict[str, object]:
    """Dotted key -> target value for every leaf that differs (a list is one leaf)."""
    values: dict[str, object] = {}
    for key in (*base, *(k for k in target if k not in base)):
        dotted = f"{prefix}{key}"
        if key not in target:
            raise EvalpinError(
                f"{dotted}: removed by the override; conf/ keeps every key. Set it to null instead "
                f"(`{dotted}=null`) or edit the option file in conf/ by hand."
            )
        old, new = base.get(key, "<absent>"), target[key]
        if isinstance(old, dict) and isinstance(new, dict):
            values.update(changed_values(old, new, f"{dotted}."))
        elif old != new:
            values[dotted] = new
    return values


def choices_of(root: Path, params: dict) -> dict[str, str]:
    """The group choices a composed params dict shows (what `-S model=NAME` did): a model, suite or
    backend named in it whose option file exists; for another group, the option that composes to exactly
    its section, when the selected one does not."""
    found, current = {}, selected(root)
    base = compose(root)
    for group, option in current.items():
        section = params.get(group) or {}
        named = section.get("name") if group in NAMED_GROUPS else None
        if named and (root / project.CONF_DIR / group / f"{named}.yaml").is_file():
            found[group] = str(named)
        elif section != base.get(group) and not named:
            others = sorted(
                p.stem for p in (root / project.CONF_DIR / group).glob("*.yaml") if p.stem != option
            )
            matching = (
                other for other in others if compose(root, (f"{group}={other}",)).get(group) == section
            )
            if choice := next(matching, None):
                found[group] = choice
    return found


def override_choices(root: Path, overrides: tuple[str, ...]) -> dict[str, str]:
    """The group choices among Hydra overrides (`model=NAME`); refuses the forms conf/ cannot keep."""
    groups = selected(root)
    found = {}
    for override in overrides:
        key, _, value = override.partition("=")
        if key[:1] in "+~" or not value:
            raise EvalpinError(
                f"{override}: compose keeps plain KEY=VALUE overrides in conf/; add or remove keys in the "
                f"option files under conf/ by hand, or try it unkept: `dvc exp run -S '{override}'`."
            )
        if key in groups:
            found[key] = value
    return found


def persist(root: Path, target: dict, choices: dict[str, str]) -> list[str]:
    """Write `target` (a full composition) into conf/: the choices, then the values they leave differing.
    Returns one line per edited file; refuses, changing nothing, when conf/ would not compose to it."""
    overrides = tuple(f"{group}={option}" for group, option in choices.items())
    texts, notes = planned_edits(root, choices, changed_values(compose(root, overrides), target))
    with tempfile.TemporaryDirectory(prefix="evalpin-conf-") as scratch:
        shutil.copytree(root / project.CONF_DIR, Path(scratch) / project.CONF_DIR)
        for rel, text in texts.items():
            (Path(scratch) / rel).write_text(text)
        if left := differences(compose(Path(scratch)), target):
            wrong = (
                line.replace("conf/ gives", "conf/ would give").replace("params.yaml has", "wanted")
                for line in left
            )
            raise EvalpinError(
                "conf/ cannot hold these values by a one-line edit (nothing was changed):\n  "
                + "\n  ".join(wrong)
                + "\nEdit the option files in conf/ by hand, then `evalpin compose`."
            )
    for rel, text in texts.items():
        write_atomic(root / rel, text)
    return [f"{rel}: {', '.join(notes[rel])}" for rel in texts]


def use_model(root: Path, name: str) -> list[str]:
    """Select pinned model NAME in conf/config.yaml and compose params.yaml with it (the edits); refuses
    a name with no conf/model/NAME.yaml or lock."""

    check_name(name)
    conf, lock = project.model_conf_path(root, name), project.lock_path(root, name)
    for path in (conf, lock):
        if not path.is_file():
            pinned = sorted(p.stem for p in (root / project.CONF_DIR / "model").glob("*.yaml"))
            raise EvalpinError(
                f"{path.relative_to(root)}: not found, so {name!r} is not a pinned model (pinned here: "
                f"{', '.join(pinned) or 'none'}). Pin it first: `evalpin pin ORG/REPO --revision "
                f"<40-hex commit> --name {name}`, then `evalpin use {name}`."
            )
    edits = persist(root, compose(root, (f"model={name}",)), {"model": name})
    write_params(root, compose(root))
    return edits
