"""evalpin serve-args: the server command line for a pinned model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evalpin.cli.options import MODEL, OVERRIDES, Arg, Commands
from evalpin.errors import ExitCode

COMMANDS = Commands()


@COMMANDS.command(
    "serve-args",
    Arg("--hub", action="store_true", help="serve ORG/NAME --revision COMMIT, not models/NAME"),
    Arg("--json", action="store_true", help="print the argv as a JSON list"),
    MODEL,
    OVERRIDES,
)
def cmd_serve_args(root: Path, args: argparse.Namespace) -> int:
    """print the server command for a pinned model (vLLM; llama-cpp-python for GGUF)"""
    from evalpin.serve import render, serve_args

    argv = serve_args(root, args.name, hub=args.hub, overrides=tuple(args.overrides))
    print(json.dumps(argv) if args.json else render(argv))
    return ExitCode.OK
