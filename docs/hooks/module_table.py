"""mkdocs hook: the table of evalpin's modules (docs/development.md) rendered from their docstrings.

Each module of the installed `evalpin` package (subpackages included) is listed with the first paragraph
of its docstring (blank when it has none), read with `ast` (nothing is imported), so the table follows
every split and rename.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

MARKER = "<!-- evalpin-modules -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs event: fill the page that carries MARKER, leave every other page as it is."""
    return markdown.replace(MARKER, render_modules()) if MARKER in markdown else markdown


def render_modules(package: Path | None = None) -> str:
    """A markdown table: each module's path under src/evalpin/ and the first paragraph of its docstring."""
    if package is None:
        import evalpin  # only to locate the source: its __init__ imports nothing heavy

        package = Path(evalpin.__file__).parent
    rows = ["| module | concept |", "| --- | --- |"]
    for path in sorted(package.rglob("*.py")):
        rows.append(f"| `{path.relative_to(package).as_posix()}` | {_summary(path)} |")
    return "\n".join(rows) + "\n"


def _summary(path: Path) -> str:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    paragraph = docstring.split("\n\n", 1)[0]
    return " ".join(paragraph.split()).replace("|", "\\|")
