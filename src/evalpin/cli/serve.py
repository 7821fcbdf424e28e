"""evalpin serve-args, check-server: the server command line for a pinned model, and proof of what a running
server serves."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalpin.base.errors import ExitCode
from evalpin.cli.options import JSON, MODEL, OVERRIDES, Arg, Commands

COMMANDS = Commands()


@COMMANDS.command(
    "serve-args",
    Arg("--hub", action="store_true", help="serve ORG/NAME --revision COMMIT, not models/NAME"),
    JSON,
    MODEL,
    OVERRIDES,
)
def cmd_serve_args(root: Path, args: argparse.Namespace) -> int:
    """print the server command for a pinned model (vLLM; llama-cpp-python for GGUF)"""
    from evalpin import api

    print(api.serve_args(root, args.name, hub=args.hub, overrides=tuple(args.overrides), as_json=args.json))
    return ExitCode.OK


@COMMANDS.command(
    "check-server",
    Arg("name", help="NAME (the workspace's pin) or NAME@vX.Y.Z (what that release pinned)"),
    Arg("--url", required=True, help="the server's root, e.g. http://127.0.0.1:8000"),
    Arg("--kind", choices=["vllm", "llama-cpp"], help="default: told by /v1/models"),
    Arg("--tolerance", type=float, help="largest logprob difference (default: measured)"),
)
def cmd_check_server(root: Path, args: argparse.Namespace) -> int:
    """does a running server serve the pinned delivery? (exit 2: cannot tell)"""
    from evalpin import api

    report = api.check_server(root, args.name, args.url, args.kind, args.tolerance)
    for note in report.notes:
        print(f"note: {note}")
    where = f"{args.url} ({report.kind}) against {report.references.source}"
    if report.findings:
        print(f"{where}: MISMATCH\n  " + "\n  ".join(map(str, report.findings)))
    else:
        print(f"{where}: serves the pinned delivery ({', '.join(report.checked)})")
    return report.exit_code
