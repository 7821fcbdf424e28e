"""evalpin clean-start: the project without the demo, ready for the user's own pins."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalpin.base.errors import ExitCode
from evalpin.cli.options import Arg, Commands
from evalpin.template.clean_start import FRESH_COPY

COMMANDS = Commands()


@COMMANDS.command("clean-start", Arg(*FRESH_COPY[0], **FRESH_COPY[1]))
def cmd_clean_start(root: Path, args: argparse.Namespace) -> int:
    """remove the demo's pins, run and suite selection; keep yours (idempotent)"""
    from evalpin.template.clean_start import NEXT, clean_start

    lines, recompose = clean_start(root, args.fresh_copy)
    if recompose:  # a model of yours is selected: params.yaml follows the new suite
        from evalpin.config.compose import compose, write_params

        write_params(root, compose(root))
        lines.append("params.yaml: composed from conf/ again")
    print("\n".join([*lines, *NEXT]))
    return ExitCode.OK
