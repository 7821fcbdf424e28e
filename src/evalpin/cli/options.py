"""How a command is declared (on its handler), and every option that several commands share, once.

An option is an `Arg`: the flags and the keywords of argparse's add_argument, kept as data so that a
command lists its options where its handler is defined and shared ones are written here only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

TYPE_CHECKING = False  # not `from typing`: --help imports neither typing nor dataclasses (start-up)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    Handler = Callable[[Path, argparse.Namespace], int]
    Request = TypeVar("Request")


class Arg:
    """One option or positional: add_argument's flags and keywords."""

    __slots__ = ("flags", "spec")

    def __init__(self, *flags: str, **spec: Any) -> None:
        self.flags, self.spec = flags, spec


def add(parser: argparse.ArgumentParser, *args: Arg) -> None:
    for option in args:
        parser.add_argument(*option.flags, **option.spec)


class Commands:
    """One module's commands, declared on their handlers (`@COMMANDS.command(...)`), in the order of
    `evalpin --help`; `under` puts them below a command of their own (`evalpin remote ACTION`)."""

    def __init__(self, under: tuple[str, str] | None = None) -> None:
        self.under = under
        self.declared: list[tuple[str, str, tuple[Arg, ...], Handler]] = []

    def command(self, name: str, *args: Arg) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.declared.append((name, (handler.__doc__ or "").strip(), args, handler))
            return handler

        return declare

    def register(self, commands: argparse._SubParsersAction) -> None:
        if self.under:
            name, summary = self.under
            parent = commands.add_parser(name, help=summary)
            commands = parent.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")
        for name, summary, args, handler in self.declared:
            parser = commands.add_parser(name, help=summary)
            add(parser, *args, Arg(*DEBUG.flags, **{**DEBUG.spec, "default": argparse.SUPPRESS}))
            parser.set_defaults(handler=handler)


def request(cls: type[Request], args: argparse.Namespace, **given: Any) -> Request:
    """A library request (a dataclass) from the options of its fields' names; `given` wins."""
    import dataclasses

    names = {field.name for field in dataclasses.fields(cls)} - given.keys()
    return cls(**{name: value for name, value in vars(args).items() if name in names}, **given)


def name_type(what: str) -> Callable[[str], str]:
    """argparse's `type=` for a local name (models/NAME, eval/data/NAME): checked before it is a path."""

    def checked(value: str) -> str:
        from evalpin import api
        from evalpin.base.errors import EvalpinError

        try:
            return api.check_name(value, what)
        except EvalpinError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    checked.__name__ = f"{what} name"  # argparse names the type in "invalid ... value"
    return checked


def repo_id_type(value: str) -> str:
    """argparse's `type=` for a Hub repo id (ORG/NAME)."""
    from evalpin import api
    from evalpin.base.errors import EvalpinError

    try:
        return api.check_repo_id(value)
    except EvalpinError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


MODEL_TYPE, DATASET_TYPE = name_type("model"), name_type("dataset")
DEBUG = Arg("--debug", action="store_true", help="on an error, also print the traceback its message hides")
MODEL = Arg("name", type=MODEL_TYPE, help="model name (conf/model/NAME.yaml)")
MODEL_NAME = Arg("name", nargs="?", type=MODEL_TYPE, help="model name (default: the model in params.yaml)")
DATASETS = Arg("names", nargs="*", type=DATASET_TYPE, help="dataset names (default: every pinned dataset)")
OVERRIDES = Arg("overrides", nargs="*", help="Hydra overrides, e.g. inference.batch_size=4")
TASK = Arg("task", help="a task of the suite (eval/samples/TASK.jsonl, eval/results/TASK.json)")
JSON = Arg("--json", action="store_true", help="print JSON (a machine's form) instead of text")
FULL = Arg("--full", action="store_true", help="re-hash every file, ignoring the stat record")
RELEASE_KEYS = Arg(
    "--public-key",
    type=Path,
    action="append",
    default=[],
    help="check the signed release with this public key (PEM, repeatable; default: conf/signing "
    "release_keys)",
)

# Where pin and pin-data read a delivery from, and under which name they store it.
REVISION = Arg("--revision", required=True, help="full 40-hex commit (or a ref, with --resolve)")
LOCAL_NAME = Arg("--name", type=name_type("local"), help="local name (default: the repo id's last part)")
UPSTREAM = Arg(
    "--upstream", help="a huggingface_hub cache directory, relative to the repo (default: the Hub)"
)
LOCAL_DIR = Arg(
    "--local-dir",
    help="a plain directory holding the commit's files (`hf download --local-dir`), relative to the repo",
)
UNVERIFIED_ORIGIN = Arg(
    "--unverified-origin",
    action="store_true",
    help="--local-dir without huggingface_hub download metadata: the commit is asserted, not proven",
)
RESOLVE = Arg("--resolve", action="store_true", help="accept a branch or tag; record its commit")
SOURCE = (REVISION, LOCAL_NAME, UPSTREAM, LOCAL_DIR, UNVERIFIED_ORIGIN)
