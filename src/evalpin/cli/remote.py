"""evalpin remote ACTION: DVC remotes, a local directory for one machine or S3 for a team."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalpin.base.errors import ExitCode
from evalpin.cli.options import Arg, Commands

COMMANDS = Commands(under=("remote", "set up DVC remotes: a local directory, or S3 for a team"))


@COMMANDS.command(
    "init-local",
    Arg(
        "path",
        nargs="?",
        type=Path,
        help="default: $EVALPIN_REMOTE or ~/.cache/evalpin/remote/<repo name>",
    ),
    Arg("--if-missing", action="store_true", help="do nothing when any remote is configured"),
)
def cmd_init_local(root: Path, args: argparse.Namespace) -> int:
    """a directory outside the repo as this clone's default remote (.dvc/config.local)"""
    from evalpin import api

    print(api.remote_init_local(root, args.path, if_missing=args.if_missing))
    return ExitCode.OK


@COMMANDS.command(
    "s3",
    Arg("--url", required=True, help="s3://BUCKET/PREFIX"),
    Arg("--endpoint", help="endpoint URL for S3-compatible stores (MinIO, Ceph, ...)"),
    Arg("--name", default="team", help="remote name (default: team)"),
    Arg(
        "--store-credentials",
        action="store_true",
        help="copy AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN from the environment "
        "into .dvc/config.local",
    ),
)
def cmd_s3(root: Path, args: argparse.Namespace) -> int:
    """an S3 remote in .dvc/config (credentials never in git)"""
    from evalpin import api

    for line in api.remote_s3(root, args.url, args.endpoint, args.name, args.store_credentials):
        print(line)
    return ExitCode.OK


@COMMANDS.command("remember")
def cmd_remember(root: Path, args: argparse.Namespace) -> int:
    """copy .dvc/config's remotes into .dvc/config.local (so older tags restore)"""
    from evalpin import api

    print(f"remembered in .dvc/config.local: {', '.join(api.remote_remember(root))}")
    return ExitCode.OK


@COMMANDS.command("check", Arg("name", nargs="?", help="remote name (default: the default remote)"))
def cmd_check(root: Path, args: argparse.Namespace) -> int:
    """reach the remote; say clearly what is wrong if not"""
    from evalpin import api

    print(api.remote_check(root, args.name))
    return ExitCode.OK
