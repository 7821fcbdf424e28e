"""evalpin verify, verify-data, golden: is what is on disk what was pinned?"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from evalpin.base.errors import EvalpinError, ExitCode
from evalpin.cli.options import DATASETS, FULL, MODEL_NAME, RELEASE_KEYS, Arg, Commands, request
from evalpin.cli.pipeline import check_composed

TYPE_CHECKING = False  # not `from typing`: its import is not for --help
if TYPE_CHECKING:
    from evalpin.api import Check


COMMANDS = Commands()


@COMMANDS.command(
    "verify",
    MODEL_NAME,
    FULL,
    Arg("--strict", action="store_true", help="a runtime version change is an error"),
    Arg("--record", type=Path, help="write a stable verification record (pipeline output)"),
    Arg(
        "--files-only",
        action="store_true",
        help="skip the prompt-rendering golden check (no transformers import)",
    ),
    Arg(
        "--signatures",
        action="store_true",
        help="first check the publisher signature and the signed release at HEAD (statement, NAME.sig)",
    ),
    RELEASE_KEYS,
    Arg(
        "--check-composed",
        action="store_true",
        help="first check params.yaml as `evalpin compose --check` does (the pipeline's verify stage)",
    ),
)
def cmd_verify(root: Path, args: argparse.Namespace) -> int:
    """re-hash models/NAME against its lock (exit 1 on drift)"""
    from evalpin import api

    if args.check_composed:  # one Python start for the verify stage: its first check, its own words
        check_composed(root)
    keys = args.public_key if args.signatures else None  # checked before anything else is read
    checks = api.verify(root, args.name, request(api.VerifyRequest, args), public_keys=keys)
    if args.public_key and not args.signatures:
        raise EvalpinError("verify: --public-key is for --signatures; add --signatures.")
    return show(checks)


@COMMANDS.command(
    "verify-data",
    DATASETS,
    FULL,
    Arg(
        "--accept",
        action="store_true",
        help="after a re-pin: verify the new files, then make conf/data/NAME.yaml accept this lock",
    ),
)
def cmd_verify_data(root: Path, args: argparse.Namespace) -> int:
    """re-hash pinned datasets eval/data/NAME against their locks (exit 1 on drift)"""
    from evalpin import api

    return show(api.verify_data(root, args.names, full=args.full, accept=args.accept))


def show(checks: Iterable[Check]) -> ExitCode:
    """Print each check as it comes; the first failing check's exit code, else OK."""
    code = ExitCode.OK
    for check in checks:
        for line in check.err:
            print(line, file=sys.stderr)
        for line in check.out:
            print(line)
        code = code or check.code
    return code


@COMMANDS.command(
    "golden",
    MODEL_NAME,
    Arg("--accept", action="store_true", help="record the current rendering as the golden"),
)
def cmd_golden(root: Path, args: argparse.Namespace) -> int:
    """check (or --accept) the prompt-rendering golden token IDs"""
    from evalpin import api

    return show([api.golden(root, args.name, accept=args.accept)])
