"""conf/config.yaml's defaults list read and edited as text, one `- GROUP: OPTION` line at a time: the
comments, order and indentation stay. Standard library only, so that `evalpin clean-start` also runs
before the project's virtual environment exists (copier's task, `python -m evalpin.template.clean_start`)."""

from __future__ import annotations

import re
from pathlib import Path

from evalpin.base.errors import EvalpinError
from evalpin.base.project import CONF_DIR

CONFIG_FILE = f"{CONF_DIR}/config.yaml"
UNSELECTED = "???"  # Hydra's mandatory value: compose refuses until an option is chosen


def _line(group: str) -> re.Pattern[str]:
    return re.compile(rf"^([ \t]*-[ \t]+{re.escape(group)}:[ \t]*)(\S+)([ \t]*)(#.*)?$", re.MULTILINE)


def choice(text: str, group: str) -> str | None:
    """The option the defaults list selects for GROUP, or None without a `- GROUP: ...` line."""
    match = _line(group).search(text)
    return match.group(2) if match else None


def set_choice(text: str, group: str, option: str) -> str:
    """conf/config.yaml with `- GROUP: OPTION` in its defaults list; the comment keeps its column."""
    match = _line(group).search(text)
    if match is None:
        raise EvalpinError(
            f"{CONFIG_FILE}: no `- {group}: ...` line in its defaults list; add `- {group}: {option}` there."
        )
    old, spaces = match.group(2), match.group(3)
    padding = " " * max(1, len(old) + len(spaces) - len(option)) if match.group(4) else ""
    line = f"{match.group(1)}{option}{padding}{match.group(4) or ''}"
    return text[: match.start()] + line + text[match.end() :]


def selects_no_model(root: Path) -> bool:
    """A project that evaluates no model yet (conf/config.yaml's `- model: ???`): its first pin is it."""
    config = root / CONFIG_FILE
    return config.is_file() and choice(config.read_text(), "model") == UNSELECTED
