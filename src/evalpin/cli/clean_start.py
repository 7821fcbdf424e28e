"""evalpin clean-start: the project without the demo, ready for the user's own pins."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalpin.base.errors import ExitCode
from evalpin.cli.options import Arg, Commands

COMMANDS = Commands()
# evalpin.template.clean_start's own entry point declares the same option (tests/test_api.py compares them)
FRESH_COPY = Arg(
    "--fresh-copy",
    action="store_true",
    help="a project copier has just generated: nothing is committed yet, so skip the git check",
)


@COMMANDS.command("clean-start", FRESH_COPY)
def cmd_clean_start(root: Path, args: argparse.Namespace) -> int:
    """remove the demo's pins, run and suite selection; keep yours (idempotent)"""
    from evalpin import api

    print("\n".join(api.clean_start(root, args.fresh_copy)))
    return ExitCode.OK
