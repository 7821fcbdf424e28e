"""evalpin compare, outputs-diff, diff, check-upstream: what changed between two sides, and does it matter."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalpin.base.errors import EvalpinError, ExitCode
from evalpin.cli.options import DATASET_TYPE, MODEL_NAME, MODEL_TYPE, Arg, Commands

COMMANDS = Commands()


@COMMANDS.command(
    "compare",
    Arg("--baseline", required=True, help="git revision: a tag (NAME@v1.0.0), branch or commit"),
    Arg("--candidate", default="workspace", help="git revision or 'workspace' (default)"),
    Arg("--format", choices=("table", "markdown"), default="table"),
)
def cmd_compare(root: Path, args: argparse.Namespace) -> int:
    """gate: candidate scores against a baseline revision"""
    from evalpin import api

    verdict = api.compare(root, args.baseline, args.candidate, markdown=args.format == "markdown")
    print(verdict.text)
    return verdict.exit_code


@COMMANDS.command(
    "outputs-diff",
    Arg("rev_a", help="a git revision (tag, branch, commit) or 'workspace'"),
    Arg("rev_b", nargs="?", default="workspace", help="the other side (default: workspace)"),
)
def cmd_outputs_diff(root: Path, args: argparse.Namespace) -> int:
    """samples whose response or score changed between revs, and the level of reproduction"""
    from evalpin import api

    for text in api.outputs_diff(root, args.rev_a, args.rev_b):
        print(text)
    return ExitCode.OK


@COMMANDS.command(
    "diff",
    Arg("a", help="a .lock.json path or a git revision (tag NAME@vX.Y.Z, branch, commit)"),
    Arg("b", help="the same, for the other side (e.g. HEAD)"),
    Arg(
        "--name",
        type=MODEL_TYPE,
        help="model name at git revisions (default: from a NAME@v tag, else params)",
    ),
    Arg(
        "--dataset",
        metavar="NAME",
        type=DATASET_TYPE,
        help="compare pinned dataset NAME's locks (eval/data/NAME)",
    ),
)
def cmd_diff(root: Path, args: argparse.Namespace) -> int:
    """classify the change between two locks; suggest a version bump"""
    from evalpin import api

    print(api.diff(root, args.a, args.b, name=args.name, dataset=args.dataset))
    return ExitCode.OK


@COMMANDS.command(
    "check-upstream",
    MODEL_NAME,
    Arg("--dataset", action="store_true", help="NAME is a pinned dataset (eval/data/NAME)"),
    Arg("--ref", default="main", help="the upstream's moving ref to resolve (default: main)"),
    Arg(
        "--upstream",
        metavar="DIR",
        help="a huggingface_hub cache to ask instead (default: where it was pinned from)",
    ),
)
def cmd_check_upstream(root: Path, args: argparse.Namespace) -> int:
    """is what the upstream serves today still the pin?"""
    from evalpin import api

    if args.dataset and not args.name:
        raise EvalpinError("check-upstream --dataset: name the pinned dataset (eval/data/NAME).")
    served = api.check_upstream(root, args.name, args.dataset, args.ref, args.upstream)
    lock, commit = served.lock, served.commit
    where = f"{lock.source.repo_id} {args.ref} -> {commit}"
    if not served.changes:
        same = "the pinned commit" if commit == lock.source.revision else "a new commit with identical files"
        print(f"{where}: serves {same}; every file matches {lock.what}.lock.json")
        return ExitCode.OK
    print(f"{where}: DRIFT. The same name now delivers something else than pinned {lock.source.revision}:")
    print(served.changes)
    return ExitCode.DRIFT
