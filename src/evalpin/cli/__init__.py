"""The `evalpin` command: what DVC cannot do for a model delivery. One module per command group; each
handler parses, calls evalpin.api (the only library module the CLI imports, and only when a command runs:
`evalpin --help` stays cheap) and prints what it returns."""

from __future__ import annotations

import argparse
import errno
import sys

from evalpin import __version__
from evalpin.base.errors import EXIT_MEANINGS, EvalpinError, ExitCode
from evalpin.cli import changes, clean_start, pin, pipeline, release, remote, serve, verify
from evalpin.cli.options import DEBUG, add

# the order of `evalpin --help`
GROUPS = (pin, verify, pipeline, changes, release, remote, serve, clean_start)


def main(argv: list[str] | None = None) -> int:
    """Run one command. A reader that closed stdout early (`| head -1`) ends it quietly with 141, as git
    and coreutils end on SIGPIPE: what was printed was all that was wanted, and nothing is half-written."""
    try:
        code = run(argv)
        sys.stdout.flush()  # inside the try: a pipe closed after the last print fails here
    except BrokenPipeError:
        return quiet_broken_pipe()
    return code


def run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from evalpin import api  # once a command runs, not for --help or a usage error

    try:
        root = api.find_root()
        api.use_offline_environment(root)
        return args.handler(root, args)
    except BrokenPipeError:
        raise
    except (*api.EXPECTED_ERRORS, Exception) as exc:  # one line, never a traceback that exits 1 ("drift")
        if args.debug:
            import traceback

            traceback.print_exc()
        message, code = explain(exc, api.EXPECTED_ERRORS)
        print(f"evalpin: {api.mask(message)}", file=sys.stderr)  # no credential in any line, errors included
        return code


def quiet_broken_pipe() -> int:
    """Point stdout at /dev/null, so that the interpreter's own flush at exit cannot fail again (Python's
    documented recipe, docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is no file (in-process): nothing to flush
        pass
    return ExitCode.BROKEN_PIPE


def explain(exc: BaseException, expected: tuple[type[BaseException], ...]) -> tuple[str, ExitCode]:
    """The one line an error prints, instead of a traceback, and its exit code: exit 2 for anything not
    `expected`, since nothing was judged (exit 1 means drift)."""
    if not isinstance(exc, expected):
        line = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return (
            f"unexpected error ({line}). Nothing was judged: this is no verdict. Rerun with --debug for "
            "the traceback, and report it with the input that caused it.",
            ExitCode.USAGE,
        )
    if isinstance(exc, EvalpinError):
        return str(exc), exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted; nothing was half-written (outputs are replaced whole).", ExitCode.INTERRUPTED
    if isinstance(exc, OSError):  # disk full, permissions, a vanished file: say which file
        where = exc.filename or "(no file named)"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return (
                f"{where}: {exc.strerror}. Free space on its file system (`df -h`), then rerun: the file was "
                "not replaced (a previous version, if any, is intact).",
                ExitCode.USAGE,
            )
        return f"{where}: {exc.strerror or exc}. Fix the file system, then rerun.", ExitCode.USAGE
    return f"a JSON or YAML file is not valid: {exc}. Fix or restore it (git checkout).", ExitCode.USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalpin",
        description="Pin every part of an open-weights model delivery, verify it fail-closed, "
        "and reproduce its evaluation with DVC.",
        epilog=exit_codes(),
    )
    parser.add_argument("--version", action="version", version=f"evalpin {__version__}")
    add(parser, DEBUG)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.COMMANDS.register(commands)
    return parser


def exit_codes() -> str:
    return "Exit codes: " + ", ".join(f"{code.value} {EXIT_MEANINGS[code]}" for code in ExitCode) + "."
