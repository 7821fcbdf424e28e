"""evalpin release, promote: the model registry's versions and stages (gto tags)."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalpin.base.errors import ExitCode
from evalpin.cli.options import MODEL, MODEL_NAME, Arg, Commands

COMMANDS = Commands()


@COMMANDS.command(
    "release",
    MODEL_NAME,
    Arg("--bump", choices=("auto", "major", "minor", "patch"), default="auto"),
    Arg("-m", "--message", required=True, help="what this release is"),
    Arg(
        "--sign-key",
        type=Path,
        help="sign the delivery and the release with this EC private key (outside git)",
    ),
    Arg("--sign", action="store_true", help="sign with the key at $EVALPIN_SIGN_KEY"),
)
def cmd_release(root: Path, args: argparse.Namespace) -> int:
    """tag a verified, reproducible version (gto NAME@vX.Y.Z)"""
    from evalpin import api

    tag = api.release(root, args.name, args.bump, args.message, args.sign_key, args.sign)
    print(f"released {tag}; share it: git push origin {tag}")
    return ExitCode.OK


@COMMANDS.command(
    "promote",
    MODEL,
    Arg("version", help="released version, e.g. v1.0.0"),
    Arg("--stage", required=True, help="e.g. prod"),
)
def cmd_promote(root: Path, args: argparse.Namespace) -> int:
    """assign a released version to a stage (gto NAME#STAGE#N)"""
    from evalpin import api

    print(api.promote(root, args.name, args.version, args.stage))
    return ExitCode.OK
