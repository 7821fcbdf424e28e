"""evalpin compose, evaluate, report, restore, reproduce: the DVC pipeline's commands and around them."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalpin.cli.options import MODEL_NAME, OVERRIDES, RELEASE_KEYS, Arg, Commands
from evalpin.errors import ExitCode

COMMANDS = Commands()


@COMMANDS.command(
    "compose", OVERRIDES, Arg("--check", action="store_true", help="only check that params.yaml equals conf/")
)
def cmd_compose(root: Path, args: argparse.Namespace) -> int:
    """write params.yaml from conf/ (Hydra)"""
    from evalpin.compose import compose, require_composed, write_params

    if args.check:
        if require_composed(root):
            print("params.yaml equals the composition of conf/")
        else:
            print("params.yaml: composed by `dvc exp run` (with its -S overrides); not compared with conf/")
        return ExitCode.OK
    path = write_params(root, compose(root, tuple(args.overrides)))
    with_overrides = f" with {' '.join(args.overrides)}" if args.overrides else ""
    print(f"wrote {path.relative_to(root)} from conf/{with_overrides}")
    return ExitCode.OK


@COMMANDS.command("evaluate")
def cmd_evaluate(root: Path, args: argparse.Namespace) -> int:
    """run the suite on the pinned model (the pipeline's stage)"""
    from evalpin.compose import load_params
    from evalpin.evaluate import evaluate

    metrics = evaluate(root, load_params(root))
    for task, row in metrics["tasks"].items():
        print(f"{task}: {row['metric']} {row['score']:.4f}")
    return ExitCode.OK


@COMMANDS.command("report")
def cmd_report(root: Path, args: argparse.Namespace) -> int:
    """print the model, its verification and the scores"""
    from evalpin.report import render

    text, matches = render(root)
    print(text)
    return ExitCode.OK if matches else ExitCode.DRIFT


@COMMANDS.command("restore", MODEL_NAME)
def cmd_restore(root: Path, args: argparse.Namespace) -> int:
    """restore models/NAME and the suite's pinned datasets from the DVC remote or the upstream"""
    from evalpin.restore import restore
    from evalpin.selection import default_model, suite_datasets

    for what, where in restore(root, default_model(root, args.name), suite_datasets(root)).items():
        print(f"{what}: {where}")
    return ExitCode.OK


@COMMANDS.command("reproduce", Arg("rev", help="git revision, e.g. demo-tiny@v1.0.0"), RELEASE_KEYS)
def cmd_reproduce(root: Path, args: argparse.Namespace) -> int:
    """rerun a revision from scratch; exit 0 if identical"""
    from evalpin.reproduce import reproduce

    result = reproduce(root, args.rev, args.public_key)
    for line in result.signatures:
        print(line)
    if result.identical:
        print(f"{args.rev} ({result.commit[:12]}): reproduced exactly (metrics and output fingerprint)")
        return ExitCode.OK
    print(f"{args.rev} ({result.commit[:12]}): NOT reproduced:\n  " + "\n  ".join(result.differences))
    return ExitCode.DRIFT
