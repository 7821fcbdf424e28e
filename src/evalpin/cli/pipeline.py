"""evalpin compose, evaluate, why, report, samples, restore, reproduce: the DVC pipeline's commands and
around them."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalpin.base.errors import ExitCode
from evalpin.cli.options import JSON, MODEL, MODEL_NAME, OVERRIDES, RELEASE_KEYS, TASK, Arg, Commands

COMMANDS = Commands()


def check_composed(root: Path) -> None:
    """`evalpin compose --check` (also `verify --check-composed`, the verify stage's one Python start)."""
    from evalpin import api

    if api.check_composed(root):
        print("params.yaml equals the composition of conf/, and its suite, inference and backend can run")
    else:
        print("params.yaml: composed by `dvc exp run` (with its -S overrides); not compared with conf/")


@COMMANDS.command(
    "compose", OVERRIDES, Arg("--check", action="store_true", help="only check that params.yaml equals conf/")
)
def cmd_compose(root: Path, args: argparse.Namespace) -> int:
    """write params.yaml from conf/ (Hydra)"""
    from evalpin import api

    if args.check:
        check_composed(root)
        return ExitCode.OK
    kept, path = api.compose(root, tuple(args.overrides))
    for line in kept:
        print(f"kept in {line}")
    print(f"wrote {path.relative_to(root)} from conf/")
    return ExitCode.OK


@COMMANDS.command("use", MODEL)
def cmd_use(root: Path, args: argparse.Namespace) -> int:
    """evaluate pinned model NAME: select it in conf/config.yaml and compose params.yaml"""
    from evalpin import api

    edits = api.use(root, args.name)
    print("\n".join(edits) if edits else f"conf/config.yaml: already selects model {args.name}")
    print(f"params.yaml: composed with model {args.name}\nnext: dvc repro && evalpin report")
    return ExitCode.OK


@COMMANDS.command(
    "keep",
    Arg("experiment", nargs="?", help="a DVC experiment's name (`dvc exp show`); default: the workspace"),
)
def cmd_keep(root: Path, args: argparse.Namespace) -> int:
    """keep an experiment: `dvc exp apply` it, then write its parameters into conf/"""
    from evalpin import api

    edits = api.keep(root, args.experiment)
    print("\n".join(edits) if edits else "conf/ already composes to params.yaml: nothing to keep")
    what = f"Keep {args.experiment or 'the experiment'}"
    print(f"next: dvc repro && git add -A conf params.yaml dvc.lock eval && git commit -m '{what}'")
    return ExitCode.OK


@COMMANDS.command(
    "evaluate",
    Arg(
        "-v",
        "--verbose",
        action="store_true",
        help="keep lm-eval's chatter (also: EVALPIN_VERBOSE=1 dvc repro)",
    ),
)
def cmd_evaluate(root: Path, args: argparse.Namespace) -> int:
    """run the suite on the pinned model (the pipeline's stage)"""
    from evalpin import api

    metrics = api.evaluate(root, args.verbose)
    for task, row in metrics["tasks"].items():
        print(f"{task}: {row['metric']} {row['score']:.4f}")
    return ExitCode.OK


@COMMANDS.command("why", TASK)
def cmd_why(root: Path, args: argparse.Namespace) -> int:
    """the inputs a task's stored result depends on, and whether it is reused or runs (and why)"""
    from evalpin import api

    print("\n".join(api.why(root, args.task)))
    return ExitCode.OK


@COMMANDS.command("numerics", JSON)
def cmd_numerics(root: Path, args: argparse.Namespace) -> int:
    """the numerics class this machine computes in (conf/inference's mode), and its CPU"""
    import json

    from evalpin import api

    record = api.numerics(root)
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
        return ExitCode.OK
    print(f"numerics class {record['class']} (mode {record['mode']}: docs/reproduction.md)")
    for key in ("torch", "aten_capability", "blas", "onednn", "cpu", "gpu", "threads"):
        if key in record:
            print(f"  {key:<16} {json.dumps(record[key], sort_keys=True)}")
    print(f"  {'this machine':<16} {json.dumps(record['machine'], sort_keys=True)}")
    return ExitCode.OK


@COMMANDS.command(
    "report",
    Arg("--html", type=Path, metavar="PATH", help="also write a self-contained HTML page (charts, offline)"),
    Arg("--baseline", default="HEAD", help="the HTML page's baseline: a git revision (default HEAD)"),
)
def cmd_report(root: Path, args: argparse.Namespace) -> int:
    """print the model, its verification and the scores"""
    from evalpin import api

    verdict = api.report(root, args.html, args.baseline)
    print(verdict.text)
    return verdict.exit_code


@COMMANDS.command(
    "samples",
    TASK,
    Arg("--rev", default="workspace", help="git revision (tag, branch, commit) or 'workspace' (default)"),
    Arg("--failed", action="store_true", help="only the samples the model missed (score below 1)"),
    Arg("--limit", type=int, metavar="N", help="show the first N"),
    JSON,
)
def cmd_samples(root: Path, args: argparse.Namespace) -> int:
    """each sample of a task: question, choices or gold, the model's answer, score"""
    from evalpin import api

    print(api.samples(root, args.task, args.rev, args.failed, args.limit, as_json=args.json))
    return ExitCode.OK


@COMMANDS.command("restore", MODEL_NAME)
def cmd_restore(root: Path, args: argparse.Namespace) -> int:
    """restore models/NAME, the suite's pinned datasets and the stored results (DVC remote or upstream)"""
    from evalpin import api

    for what, where in api.restore(root, args.name).items():
        print(f"{what}: {where}")
    return ExitCode.OK


@COMMANDS.command("reproduce", Arg("rev", help="git revision, e.g. demo-tiny@v1.0.0"), RELEASE_KEYS)
def cmd_reproduce(root: Path, args: argparse.Namespace) -> int:
    """rerun a revision from scratch; exit 0 exact, 4 equivalent, 1 differs"""
    from evalpin import api

    result = api.reproduce(root, args.rev, args.public_key)
    for line in result.signatures:
        print(line)
    print(f"{args.rev} ({result.commit[:12]}): {result.level.line()}")
    print(f"ran with {result.tool}")
    return result.level.exit_code
