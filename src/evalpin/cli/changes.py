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
    from evalpin.config.compose import load_params
    from evalpin.config.params_check import RULES, check_section
    from evalpin.results.gate import compare, format_markdown, format_table

    gate = load_params(root).get("gate")
    check_section(gate, "gate", RULES["gate"], "params.yaml")  # thresholds, before any is used
    comparison = compare(root, args.baseline, args.candidate, gate)
    print(format_markdown(comparison) if args.format == "markdown" else format_table(comparison))
    return comparison.exit_code


@COMMANDS.command(
    "outputs-diff",
    Arg("rev_a", help="a git revision (tag, branch, commit) or 'workspace'"),
    Arg("rev_b", nargs="?", default="workspace", help="the other side (default: workspace)"),
)
def cmd_outputs_diff(root: Path, args: argparse.Namespace) -> int:
    """samples whose response or score changed between revs, and the level of reproduction"""
    from evalpin.results.sample_changes import (
        diff_samples,
        format_changes,
        level_of_samples,
        one_sided,
        read_samples,
    )

    a, b = read_samples(root, args.rev_a), read_samples(root, args.rev_b)
    lines = one_sided(a, b, args.rev_a, args.rev_b)
    print(format_changes(diff_samples(a, b), args.rev_a, args.rev_b, tasks_one_sided=lines))
    print(level_of_samples(root, (args.rev_a, args.rev_b), (a, b)).line())
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
    from evalpin.base.names import check_name
    from evalpin.config.selection import configs_read, default_model
    from evalpin.delivery.diff import diff_locks, format_diff, load_lock_at, name_from_spec

    reads = None
    if args.dataset:
        name, dataset = args.dataset, True
        reads = configs_read(root, name)  # data files no suite task reads do not make it major
    else:
        name = args.name or name_from_spec(args.a) or name_from_spec(args.b) or default_model(root, None)
        check_name(name)  # from a NAME@v tag: checked like --name before it becomes a path
        dataset = False
    locks = (load_lock_at(root, spec, name, dataset=dataset) for spec in (args.a, args.b))
    print(format_diff(diff_locks(*locks, reads=reads)))
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
    from evalpin.config.selection import configs_read, default_model
    from evalpin.delivery.diff import check_upstream, format_diff

    name = args.name if args.dataset else default_model(root, args.name)
    if not name:
        raise EvalpinError("check-upstream --dataset: name the pinned dataset (eval/data/NAME).")
    reads = configs_read(root, name) if args.dataset else None
    lock, commit, diff = check_upstream(root, name, args.ref, args.upstream, args.dataset, reads)
    where = f"{lock.source.repo_id} {args.ref} -> {commit}"
    if not diff.files:
        same = "the pinned commit" if commit == lock.source.revision else "a new commit with identical files"
        print(f"{where}: serves {same}; every file matches {lock.what}.lock.json")
        return ExitCode.OK
    print(f"{where}: DRIFT. The same name now delivers something else than pinned {lock.source.revision}:")
    print(format_diff(diff))
    return ExitCode.DRIFT
