"""The README is a landing page whose links resolve; the CLI reference is rendered from the parser (fast)."""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path
from types import ModuleType

from evalpin.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def load_hook(name: str = "cli_reference") -> ModuleType:
    """docs/hooks/NAME.py as mkdocs loads it: a file, not a package module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / f"docs/hooks/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def relative_links(markdown: str) -> list[str]:
    """Link targets that point into the repository (no scheme, no bare anchor), without their anchor."""
    targets = [target.split("#", 1)[0] for target in LINK.findall(markdown)]
    return [t for t in targets if t and "://" not in t and not t.startswith(("mailto:", "{{"))]


def test_the_readme_is_a_landing_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move sections into docs/, keep it <= 200"


def test_the_readmes_relative_links_resolve():
    links = relative_links((ROOT / "README.md").read_text())
    assert links, "README.md links nothing into docs/"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README.md: links to missing files {missing}"


def test_a_projects_readme_links_nothing_a_project_does_not_hold():
    """README.md.tmpl becomes a copied project's README: docs/, src/ and the rest are evalpin's."""
    assert relative_links((ROOT / "README.md.tmpl").read_text()) == []


def sections(rendered: str) -> dict[str, str]:
    """The rendered reference cut at its headings: `evalpin pin` -> that command's section."""
    parts = re.split(r"^#+ (evalpin[^\n]*)$", rendered, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_command_and_option_is_in_the_rendered_cli_reference():
    hook = load_hook()
    parser = build_parser()
    rendered = hook.render_reference(parser)
    found = sections(rendered)
    pending = list(hook.subcommands(parser).values())
    assert len(pending) > 10  # the walk found the commands: an empty reference would pass vacuously
    while pending:
        sub, _help = pending.pop()
        assert sub.prog in found, f"{sub.prog}: no section in the CLI reference"
        pending.extend(hook.subcommands(sub).values())
        documented = [a for a in sub._actions if a.help != argparse.SUPPRESS and a.dest != "help"]
        for action in documented:
            for option in action.option_strings:
                assert option in found[sub.prog], f"{sub.prog} {option}: not in its section"
    assert parser.epilog in rendered  # the exit codes


def test_the_hook_fills_only_the_page_with_the_marker():
    hook = load_hook()
    assert hook.on_page_markdown("# Other page\n", None, None, None) == "# Other page\n"
    page = hook.on_page_markdown(f"# CLI\n\n{hook.MARKER}\n", None, None, None)
    assert hook.MARKER not in page and "evalpin pin" in page
    assert hook.MARKER in (ROOT / "docs/cli.md").read_text()


def test_the_module_table_lists_every_module_with_its_docstring():
    hook = load_hook("module_table")
    package = ROOT / "src/evalpin"
    rendered = hook.render_modules(package)
    for path in package.rglob("*.py"):
        assert f"| `{path.relative_to(package).as_posix()}` |" in rendered, path
    assert "| `delivery/verify.py` | Verify a delivery against its lock" in rendered
    assert hook.MARKER in (ROOT / "docs/development.md").read_text()
