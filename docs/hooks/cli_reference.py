"""mkdocs hook: the CLI reference (docs/cli.md) rendered from `evalpin.cli.build_parser()` on every build.

The page holds only MARKER; this hook replaces it with every command, its usage, its arguments and their
help, and the exit codes of the top-level epilog, so the reference can never drift from `evalpin --help`.
`tests/test_docs.py` calls `render_reference()` directly.
"""

from __future__ import annotations

import argparse
from typing import Any

MARKER = "<!-- evalpin-cli-reference -->"
WIDTH = 100  # usage lines are wrapped at a fixed width, whatever the terminal that runs mkdocs


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs event: fill the page that carries MARKER, leave every other page as it is."""
    return markdown.replace(MARKER, render_reference()) if MARKER in markdown else markdown


def render_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """Markdown for the whole command line: the synopsis, the exit codes, then one section per command."""
    if parser is None:
        from evalpin.cli import build_parser  # imported at build time: the code the site documents

        parser = build_parser()
    parts = [parser.description or "", _usage(parser)]
    if parser.epilog:
        parts.append(f"**{parser.epilog}**")
    parts.append(_command_table(parser))
    parts.extend(_commands(parser, level=2))
    return "\n\n".join(part for part in parts if part) + "\n"


def subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """Each subcommand of `parser` (aliases once): name -> (its parser, its one-line help)."""
    found: dict[str, tuple[argparse.ArgumentParser, str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    found[name] = (sub, helps.get(name, ""))
    return found


def _commands(parser: argparse.ArgumentParser, level: int) -> list[str]:
    sections = []
    for _name, (sub, help_) in subcommands(parser).items():
        sections.append(_command(sub, help_, level))
        sections.extend(_commands(sub, level + 1))
    return sections


def _command(parser: argparse.ArgumentParser, help_: str, level: int) -> str:
    parts = [f"{'#' * level} {parser.prog}", _escape(_sentence(help_))]
    if parser.description and parser.description != help_:
        parts.append(_escape(parser.description))
    parts += [_usage(parser), _arguments(parser)]
    if parser.epilog:
        parts.append(_escape(parser.epilog))
    return "\n\n".join(part for part in parts if part)


def _command_table(parser: argparse.ArgumentParser) -> str:
    rows = ["| command | what it does |", "| --- | --- |"]
    for _name, (sub, help_) in subcommands(parser).items():
        anchor = sub.prog.replace(" ", "-")
        rows.append(f"| [`{sub.prog}`](#{anchor}) | {_escape(help_)} |")
    return "\n".join(rows)


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = parser.formatter_class(prog=parser.prog, width=WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return "```text\n" + formatter.format_help().strip() + "\n```"


def _arguments(parser: argparse.ArgumentParser) -> str:
    formatter = parser.formatter_class(prog=parser.prog, width=WIDTH)
    rows = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(
            action, (argparse._HelpAction, argparse._SubParsersAction)
        ):
            continue
        invocation = formatter._format_action_invocation(action)
        help_ = formatter._expand_help(action) if action.help else ""
        rows.append(f"| `{_escape(invocation)}` | {_escape(help_)} |")
    if not rows:
        return ""
    return "\n".join(["| argument | meaning |", "| --- | --- |", *rows])


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if not text or text.endswith(".") else ".")


def _escape(text: str) -> str:
    """One table cell or paragraph: argparse's line breaks become spaces, `|` and `<` cannot open markup."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")
