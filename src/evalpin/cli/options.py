"""How a command is declared, and every option that several commands share, declared once.

An option is an `Arg`: the flags and the keywords of argparse's add_argument, kept as data so that a
command lists its options in one call and shared ones are written here only.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

Handler = Callable[[Path, argparse.Namespace], int]


class Arg(NamedTuple):
    flags: tuple[str, ...]
    spec: dict[str, Any]


def arg(*flags: str, **spec: Any) -> Arg:
    return Arg(flags, spec)


def add(parser: argparse.ArgumentParser, *args: Arg) -> None:
    for option in args:
        parser.add_argument(*option.flags, **option.spec)


def command(
    commands: argparse._SubParsersAction, name: str, handler: Handler, summary: str, *args: Arg
) -> None:
    """`evalpin NAME`, running `handler(root, args)`; it also takes --debug after its name."""
    parser = commands.add_parser(name, help=summary)
    add(parser, *args, DEBUG._replace(spec={**DEBUG.spec, "default": argparse.SUPPRESS}))
    parser.set_defaults(handler=handler)


DEBUG = arg("--debug", action="store_true", help="on an error, also print the traceback its message hides")
MODEL = arg("name", help="model name (conf/model/NAME.yaml)")
MODEL_NAME = arg("name", nargs="?", help="model name (default: the model in params.yaml)")
OVERRIDES = arg("overrides", nargs="*", help="Hydra overrides, e.g. inference.batch_size=4")
FULL = arg("--full", action="store_true", help="re-hash every file, ignoring the stat record")
RELEASE_KEYS = arg(
    "--public-key",
    type=Path,
    action="append",
    default=[],
    help="check the signed release with this public key (PEM, repeatable; default: conf/signing "
    "release_keys)",
)

# Where pin and pin-data read a delivery from, and under which name they store it.
REVISION = arg("--revision", required=True, help="full 40-hex commit (or a ref, with --resolve)")
LOCAL_NAME = arg("--name", help="local name (default: the repo id's last part)")
UPSTREAM = arg(
    "--upstream", help="a huggingface_hub cache directory, relative to the repo (default: the Hub)"
)
LOCAL_DIR = arg(
    "--local-dir",
    help="a plain directory holding the commit's files (`hf download --local-dir`), relative to the repo",
)
UNVERIFIED_ORIGIN = arg(
    "--unverified-origin",
    action="store_true",
    help="--local-dir without huggingface_hub download metadata: the commit is asserted, not proven",
)
RESOLVE = arg("--resolve", action="store_true", help="accept a branch or tag; record its commit")
SOURCE = (REVISION, LOCAL_NAME, UPSTREAM, LOCAL_DIR, UNVERIFIED_ORIGIN)
