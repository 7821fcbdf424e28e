"""The `evalpin` command: what DVC cannot do for a model delivery. Heavy libraries load per command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evalpin import __version__, project
from evalpin.errors import EvalpinError

EXIT_OK, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        root = project.find_root()
        project.use_offline_environment(root)
        return args.handler(root, args)
    except EvalpinError as exc:
        print(f"evalpin: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("evalpin: interrupted; nothing was half-written (outputs are replaced whole).", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalpin",
        description="Pin every part of an open-weights model delivery, verify it fail-closed, "
        "and reproduce its evaluation with DVC.",
        epilog="Exit codes: 0 ok, 1 drift, 2 usage or configuration error.",
    )
    parser.add_argument("--version", action="version", version=f"evalpin {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pin = commands.add_parser("pin", help="pin a model delivery at an immutable commit into models/NAME")
    pin.add_argument("repo_id", help="hub repo id, e.g. evalpin/demo-tiny")
    pin.add_argument("--revision", required=True, help="full 40-hex commit (or a ref, with --resolve)")
    pin.add_argument("--name", help="local name (default: the repo id's last part)")
    pin.add_argument(
        "--upstream", help="a huggingface_hub cache directory, relative to the repo (default: the Hub)"
    )
    pin.add_argument("--resolve", action="store_true", help="accept a branch or tag; record its commit")
    pin.add_argument("--allow-pickle", action="store_true", help="accept pickle weights (.bin/.pt/.pkl)")
    pin.add_argument("--trust-remote-code", action="store_true", help="accept (and lock) remote code (*.py)")
    pin.set_defaults(handler=cmd_pin)

    verify = commands.add_parser("verify", help="re-hash models/NAME against its lock (exit 1 on drift)")
    verify.add_argument("name", nargs="?", help="model name (default: the model in params.yaml)")
    verify.add_argument("--full", action="store_true", help="re-hash every file, ignoring the stat record")
    verify.add_argument("--strict", action="store_true", help="a runtime version change is an error")
    verify.add_argument("--record", type=Path, help="write a stable verification record (pipeline output)")
    verify.set_defaults(handler=cmd_verify)

    restore = commands.add_parser("restore", help="restore models/NAME from the DVC remote or the upstream")
    restore.add_argument("name", nargs="?", help="model name (default: the model in params.yaml)")
    restore.set_defaults(handler=cmd_restore)

    compose = commands.add_parser("compose", help="write params.yaml from conf/ (Hydra)")
    compose.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. inference.batch_size=4")
    compose.add_argument("--check", action="store_true", help="only check that params.yaml equals conf/")
    compose.set_defaults(handler=cmd_compose)

    evaluate = commands.add_parser(
        "evaluate", help="run the suite on the pinned model (the pipeline's stage)"
    )
    evaluate.set_defaults(handler=cmd_evaluate)

    report = commands.add_parser("report", help="print the model, its verification and the scores")
    report.set_defaults(handler=cmd_report)
    return parser


def default_model(root: Path, name: str | None) -> str:
    if name:
        return name
    from evalpin.compose import load_params

    return load_params(root)["model"]["name"]


def cmd_pin(root: Path, args: argparse.Namespace) -> int:
    from evalpin.pin import PinRequest, pin

    name = args.name or args.repo_id.split("/")[-1].lower()
    request = PinRequest(
        repo_id=args.repo_id,
        revision=args.revision,
        name=name,
        upstream=args.upstream,
        resolve=args.resolve,
        allow_pickle=args.allow_pickle,
        trust_remote_code=args.trust_remote_code,
    )
    lock = pin(root, request)
    print(f"pinned {lock.source.repo_id}@{lock.source.revision} as {name}: {len(lock.files)} files")
    print(f"  models/{name}/ (DVC), models/{name}.lock.json, conf/model/{name}.yaml")
    print(
        f"  next: git add models/{name}.dvc models/{name}.lock.json conf/model/{name}.yaml && evalpin compose"
    )
    return EXIT_OK


def cmd_verify(root: Path, args: argparse.Namespace) -> int:
    from evalpin.atomic import write_atomic
    from evalpin.verify import describe_drift, verify_pinned

    name = default_model(root, args.name)
    lock, report = verify_pinned(root, name, full=args.full)
    for package, (locked, now) in report.runtime_changes.items():
        print(
            f"evalpin: warning: runtime {package} is {now}, the lock was made with {locked}", file=sys.stderr
        )
    if not report.ok:
        print(f"models/{name}: DRIFT against models/{name}.lock.json", file=sys.stderr)
        print(describe_drift(report), file=sys.stderr)
        return EXIT_DRIFT
    if args.strict and report.runtime_changes:
        print(
            "evalpin: --strict: runtime differs from the lock (see warnings above); re-pin or match it.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(
        f"models/{name}: verified {report.files_checked} files against models/{name}.lock.json "
        f"({report.files_rehashed} re-hashed, commit {lock.source.revision[:12]})"
    )
    if args.record:
        record = {
            "model": name,
            "revision": lock.source.revision,
            "lock_digest": lock.digest,
            "files": report.files_checked,
        }
        write_atomic(root / args.record, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return EXIT_OK


def cmd_restore(root: Path, args: argparse.Namespace) -> int:
    from evalpin.restore import restore

    name = default_model(root, args.name)
    print(f"models/{name}: {restore(root, name)}")
    return EXIT_OK


def cmd_compose(root: Path, args: argparse.Namespace) -> int:
    from evalpin.compose import check_params, compose, in_dvc_experiment, write_params

    if args.check:
        if in_dvc_experiment():
            print("params.yaml: composed by `dvc exp run` (with its -S overrides); not compared with conf/")
            return EXIT_OK
        diffs = check_params(root)
        if diffs:
            raise EvalpinError(
                "params.yaml disagrees with conf/ (conf/ is the source of truth):\n  "
                + "\n  ".join(diffs)
                + "\nRun `evalpin compose` (or `make repro`) to rewrite params.yaml, then `dvc repro`."
            )
        print("params.yaml equals the composition of conf/")
        return EXIT_OK
    path = write_params(root, compose(root, tuple(args.overrides)))
    print(
        f"wrote {path.relative_to(root)} from conf/"
        + (f" with {' '.join(args.overrides)}" if args.overrides else "")
    )
    return EXIT_OK


def cmd_evaluate(root: Path, args: argparse.Namespace) -> int:
    from evalpin.compose import load_params
    from evalpin.evaluate import evaluate

    metrics = evaluate(root, load_params(root))
    for task, row in metrics["tasks"].items():
        print(f"{task}: {row['metric']} {row['score']:.4f}")
    return EXIT_OK


def cmd_report(root: Path, args: argparse.Namespace) -> int:
    from evalpin.report import render

    text, matches = render(root)
    print(text)
    return EXIT_OK if matches else EXIT_DRIFT


if __name__ == "__main__":
    sys.exit(main())
