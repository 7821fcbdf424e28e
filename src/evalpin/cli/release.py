"""evalpin release, promote: the model registry's versions and stages (gto tags)."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalpin.cli.options import MODEL, MODEL_NAME, arg, command
from evalpin.errors import ExitCode


def register(commands: argparse._SubParsersAction) -> None:
    command(
        commands,
        "release",
        cmd_release,
        "tag a verified, reproducible version (gto NAME@vX.Y.Z)",
        MODEL_NAME,
        arg("--bump", choices=("auto", "major", "minor", "patch"), default="auto"),
        arg("-m", "--message", required=True, help="what this release is"),
        arg(
            "--sign-key",
            type=Path,
            help="sign the delivery and the release with this EC private key (outside git)",
        ),
        arg("--sign", action="store_true", help="sign with the key at $EVALPIN_SIGN_KEY"),
    )
    command(
        commands,
        "promote",
        cmd_promote,
        "assign a released version to a stage (gto NAME#STAGE#N)",
        MODEL,
        arg("version", help="released version, e.g. v1.0.0"),
        arg("--stage", required=True, help="e.g. prod"),
    )


def cmd_release(root: Path, args: argparse.Namespace) -> int:
    from evalpin.release import release
    from evalpin.selection import default_model

    tag = release(root, default_model(root, args.name), args.bump, args.message, args.sign_key, args.sign)
    print(f"released {tag}; share it: git push origin {tag}")
    return ExitCode.OK


def cmd_promote(root: Path, args: argparse.Namespace) -> int:
    from evalpin.release import promote

    print(promote(root, args.name, args.version, args.stage))
    return ExitCode.OK
