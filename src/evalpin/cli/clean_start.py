"""evalpin clean-start: the project without the demo, ready for the user's own pins."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalpin.base.errors import ExitCode
from evalpin.cli.options import Commands

COMMANDS = Commands()


@COMMANDS.command("clean-start")
def cmd_clean_start(root: Path, args: argparse.Namespace) -> int:
    """remove the demo's pins, run and suite selection; keep yours (idempotent)"""
    from evalpin import api

    print("\n".join(api.clean_start(root)))
    return ExitCode.OK
