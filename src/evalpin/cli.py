"""The `evalpin` command: what DVC cannot do for a model delivery. Heavy libraries load per command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

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
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        print(
            f"evalpin: a JSON or YAML file is not valid: {exc}. Fix or restore it (git checkout).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except OSError as exc:  # disk full, permissions, a vanished file: say which file, not a traceback
        print(
            f"evalpin: {exc.filename or ''}: {exc.strerror or exc}. Fix the file system, then rerun.",
            file=sys.stderr,
        )
        return EXIT_USAGE
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
    pin.add_argument(
        "--local-dir",
        help="a plain directory holding the commit's files (`hf download --local-dir`), relative to the repo",
    )
    pin.add_argument(
        "--unverified-origin",
        action="store_true",
        help="--local-dir without huggingface_hub download metadata: the commit is asserted, not proven",
    )
    pin.add_argument("--base", help="pin a peft (LoRA) adapter, certified on this pinned model")
    pin.add_argument("--gguf-file", help="of several GGUF files in the delivery, pin this one (file name)")
    pin.add_argument("--quant", help="of several GGUF files, pin the one whose name carries this type (Q4_1)")
    pin.add_argument("--resolve", action="store_true", help="accept a branch or tag; record its commit")
    pin.add_argument("--allow-pickle", action="store_true", help="accept pickle weights (.bin/.pt/.pkl)")
    pin.add_argument("--trust-remote-code", action="store_true", help="accept (and lock) remote code (*.py)")
    pin.add_argument(
        "--signature", type=Path, help="the publisher's model-signing bundle: checked on the pinned bytes"
    )
    pin.add_argument("--public-key", type=Path, help="--signature was made with this EC key (PEM)")
    pin.add_argument(
        "--certificate-chain",
        type=Path,
        action="append",
        default=[],
        help="... or by a certificate of this chain",
    )
    pin.add_argument("--certificate-identity", help="... or keyless (Sigstore) by this identity")
    pin.add_argument("--certificate-oidc-issuer", help="the identity's OIDC issuer (Sigstore keyless)")
    pin.set_defaults(handler=cmd_pin)

    pin_data = commands.add_parser(
        "pin-data", help="pin a Hub dataset repo at an immutable commit into eval/data/NAME"
    )
    pin_data.add_argument("repo_id", help="hub dataset repo id, e.g. allenai/ai2_arc")
    pin_data.add_argument("--revision", required=True, help="full 40-hex commit (or a ref, with --resolve)")
    pin_data.add_argument("--name", help="local name (default: the repo id's last part)")
    pin_data.add_argument("--upstream", help="a huggingface_hub cache directory instead of the Hub")
    pin_data.add_argument("--local-dir", help="a plain directory holding the commit's files")
    pin_data.add_argument("--unverified-origin", action="store_true", help="--local-dir without metadata")
    pin_data.add_argument(
        "--include", action="append", default=[], help="glob on data paths to keep (repeatable): 'ARC-Easy/*'"
    )
    pin_data.add_argument("--resolve", action="store_true", help="accept a branch or tag; record its commit")
    pin_data.add_argument(
        "--trust-loading-script", action="store_true", help="accept (and lock) a loading script (*.py)"
    )
    pin_data.set_defaults(handler=cmd_pin_data)
    suite_data = commands.add_parser(
        "suite-data",
        help="the Hub datasets the suite's catalog entries read, which are pinned, how to pin the rest",
    )
    suite_data.add_argument(
        "entry", nargs="?", help="one entry: its index in suite.catalog, or a catalog task, group or tag name"
    )
    suite_data.add_argument("--suite", help="a suite in conf/suite/ (default: the suite in params.yaml)")
    suite_data.set_defaults(handler=cmd_suite_data)
    verify_data = commands.add_parser(
        "verify-data", help="re-hash pinned datasets eval/data/NAME against their locks (exit 1 on drift)"
    )
    verify_data.add_argument("names", nargs="*", help="dataset names (default: every pinned dataset)")
    verify_data.add_argument(
        "--full", action="store_true", help="re-hash every file, ignoring the stat record"
    )
    verify_data.add_argument(
        "--accept",
        action="store_true",
        help="after a re-pin: verify the new files, then make conf/data/NAME.yaml accept this lock",
    )
    verify_data.set_defaults(handler=cmd_verify_data)

    verify = commands.add_parser("verify", help="re-hash models/NAME against its lock (exit 1 on drift)")
    verify.add_argument("name", nargs="?", help="model name (default: the model in params.yaml)")
    verify.add_argument("--full", action="store_true", help="re-hash every file, ignoring the stat record")
    verify.add_argument("--strict", action="store_true", help="a runtime version change is an error")
    verify.add_argument("--record", type=Path, help="write a stable verification record (pipeline output)")
    verify.add_argument(
        "--files-only",
        action="store_true",
        help="skip the prompt-rendering golden check (no transformers import)",
    )
    verify.add_argument(
        "--signatures",
        action="store_true",
        help="first check the publisher signature and the signed release at HEAD (statement, NAME.sig)",
    )
    verify.add_argument(
        "--public-key",
        type=Path,
        action="append",
        default=[],
        help="the release public key (PEM, repeatable; default: conf/signing release_keys)",
    )
    verify.set_defaults(handler=cmd_verify)

    restore = commands.add_parser(
        "restore",
        help="restore models/NAME and the suite's pinned datasets from the DVC remote or the upstream",
    )
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

    diff = commands.add_parser("diff", help="classify the change between two locks; suggest a version bump")
    diff.add_argument("a", help="a .lock.json path or a git revision (tag NAME@vX.Y.Z, branch, commit)")
    diff.add_argument("b", help="the same, for the other side (e.g. HEAD)")
    diff.add_argument("--name", help="model name at git revisions (default: from a NAME@v tag, else params)")
    diff.add_argument(
        "--dataset", metavar="NAME", help="compare pinned dataset NAME's locks (eval/data/NAME)"
    )
    diff.set_defaults(handler=cmd_diff)

    upstream = commands.add_parser("check-upstream", help="is what the upstream serves today still the pin?")
    upstream.add_argument("name", nargs="?", help="model name (default: the model in params.yaml)")
    upstream.add_argument("--dataset", action="store_true", help="NAME is a pinned dataset (eval/data/NAME)")
    upstream.add_argument(
        "--ref", default="main", help="the upstream's moving ref to resolve (default: main)"
    )
    upstream.add_argument(
        "--upstream",
        metavar="DIR",
        help="a huggingface_hub cache to ask instead (default: where it was pinned from)",
    )
    upstream.set_defaults(handler=cmd_check_upstream)

    golden = commands.add_parser("golden", help="check (or --accept) the prompt-rendering golden token IDs")
    golden.add_argument("name", nargs="?", help="model name (default: the model in params.yaml)")
    golden.add_argument("--accept", action="store_true", help="record the current rendering as the golden")
    golden.set_defaults(handler=cmd_golden)

    outputs = commands.add_parser("outputs-diff", help="samples whose response or score changed between revs")
    outputs.add_argument("rev_a", help="a git revision (tag, branch, commit) or 'workspace'")
    outputs.add_argument("rev_b", nargs="?", default="workspace", help="the other side (default: workspace)")
    outputs.set_defaults(handler=cmd_outputs_diff)

    compare = commands.add_parser("compare", help="gate: candidate scores against a baseline revision")
    compare.add_argument(
        "--baseline", required=True, help="git revision: a tag (NAME@v1.0.0), branch or commit"
    )
    compare.add_argument("--candidate", default="workspace", help="git revision or 'workspace' (default)")
    compare.add_argument("--format", choices=("table", "markdown"), default="table")
    compare.set_defaults(handler=cmd_compare)

    release = commands.add_parser("release", help="tag a verified, reproducible version (gto NAME@vX.Y.Z)")
    release.add_argument("name", nargs="?", help="model name (default: the model in params.yaml)")
    release.add_argument("--bump", choices=("auto", "major", "minor", "patch"), default="auto")
    release.add_argument("-m", "--message", required=True, help="what this release is")
    release.add_argument(
        "--sign-key",
        type=Path,
        help="sign the delivery and the release with this EC private key (outside git)",
    )
    release.add_argument("--sign", action="store_true", help="sign with the key at $EVALPIN_SIGN_KEY")
    release.set_defaults(handler=cmd_release)

    promote = commands.add_parser("promote", help="assign a released version to a stage (gto NAME#STAGE#N)")
    promote.add_argument("name", help="model name")
    promote.add_argument("version", help="released version, e.g. v1.0.0")
    promote.add_argument("--stage", required=True, help="e.g. prod")
    promote.set_defaults(handler=cmd_promote)

    reproduce = commands.add_parser("reproduce", help="rerun a revision from scratch; exit 0 if identical")
    reproduce.add_argument("rev", help="git revision, e.g. demo-tiny@v1.0.0")
    reproduce.add_argument(
        "--public-key",
        type=Path,
        action="append",
        default=[],
        help="check the signed release with this public key first (default: conf/signing release_keys)",
    )
    reproduce.set_defaults(handler=cmd_reproduce)

    remote = commands.add_parser("remote", help="set up DVC remotes: a local directory, or S3 for a team")
    remote_commands = remote.add_subparsers(dest="remote_command", required=True, metavar="ACTION")
    local = remote_commands.add_parser(
        "init-local", help="a directory outside the repo as this clone's default remote (.dvc/config.local)"
    )
    local.add_argument(
        "path", nargs="?", type=Path, help="default: $EVALPIN_REMOTE or ~/.cache/evalpin/remote/<repo name>"
    )
    local.add_argument("--if-missing", action="store_true", help="do nothing when any remote is configured")
    local.set_defaults(handler=cmd_remote_init_local)
    s3 = remote_commands.add_parser("s3", help="an S3 remote in .dvc/config (credentials never in git)")
    s3.add_argument("--url", required=True, help="s3://BUCKET/PREFIX")
    s3.add_argument("--endpoint", help="endpoint URL for S3-compatible stores (MinIO, Ceph, ...)")
    s3.add_argument("--name", default="team", help="remote name (default: team)")
    s3.add_argument(
        "--store-credentials",
        action="store_true",
        help="copy AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN from the environment "
        "into .dvc/config.local",
    )
    s3.set_defaults(handler=cmd_remote_s3)
    remember = remote_commands.add_parser(
        "remember", help="copy .dvc/config's remotes into .dvc/config.local (so older tags restore)"
    )
    remember.set_defaults(handler=cmd_remote_remember)
    check = remote_commands.add_parser("check", help="reach the remote; say clearly what is wrong if not")
    check.add_argument("name", nargs="?", help="remote name (default: the default remote)")
    check.set_defaults(handler=cmd_remote_check)

    serve = commands.add_parser(
        "serve-args", help="print the server command for a pinned model (vLLM; llama-cpp-python for GGUF)"
    )
    serve.add_argument("name", help="model name (conf/model/NAME.yaml)")
    serve.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. inference.seed=7")
    serve.add_argument("--hub", action="store_true", help="serve ORG/NAME --revision COMMIT, not models/NAME")
    serve.add_argument("--json", action="store_true", help="print the argv as a JSON list")
    serve.set_defaults(handler=cmd_serve_args)
    return parser


def default_model(root: Path, name: str | None) -> str:
    """The model named on the command line, else the one params.yaml evaluates; either way a safe name."""
    from evalpin.pin import check_name

    if not name:
        from evalpin.compose import load_params
        from evalpin.evaluate import section

        name = str(section(load_params(root), "model").get("name", ""))
    check_name(name)
    return name


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
        local_dir=args.local_dir,
        unverified_origin=args.unverified_origin,
        base=args.base,
        gguf_file=args.gguf_file,
        quant=args.quant,
        **publisher_signature(args),
    )
    if args.local_dir and args.upstream:
        raise EvalpinError("pin: give --upstream (a hub cache) or --local-dir (a plain directory), not both.")
    lock = pin(root, request)
    print(f"pinned {lock.source.repo_id}@{lock.source.revision} as {name}: {len(lock.files)} files")
    if lock.base:
        print(f"  a peft adapter, certified on {lock.base.name} ({lock.base.repo_id}@{lock.base.revision})")
    for path, info in (lock.gguf or {}).items():
        print(
            f"  {path}: GGUF v{info.version}, {info.architecture}, {info.file_type}, header, tensors locked"
        )
    if lock.signed:
        print(
            f"  signed by the publisher: {lock.signed.method} {lock.signed.signer}, "
            f"kept as {lock.signed.signature}"
        )
    if lock.source.provenance:
        how = {"download-metadata": "proven by huggingface_hub's download metadata"}
        proof = how.get(lock.source.provenance, "asserted (--unverified-origin), not proven")
        print(f"  from {lock.source.local_dir}: commit {proof}")
    print(f"  models/{name}/ (DVC), models/{name}.lock.json, conf/model/{name}.yaml")
    print(f"  next: git add -A 'models/{name}.*' conf/model/{name}.yaml && evalpin compose")
    return EXIT_OK


def publisher_signature(args: argparse.Namespace) -> dict:
    """pin's --signature and whom to trust for it, as PinRequest fields."""
    trusted = (
        args.public_key or args.certificate_chain or args.certificate_identity or args.certificate_oidc_issuer
    )
    if args.signature is None:
        if trusted:
            raise EvalpinError("pin: --public-key/--certificate-* check a --signature FILE; give it too.")
        return {}
    from evalpin.signing import Trust, check_trust

    if not args.signature.is_file():
        raise EvalpinError(f"pin --signature {args.signature}: no such file (the publisher's bundle).")
    trust = Trust(
        public_key=args.public_key,
        certificate_chain=tuple(args.certificate_chain),
        identity=args.certificate_identity,
        oidc_issuer=args.certificate_oidc_issuer,
    )
    check_trust(trust)
    return {"signature": args.signature.resolve(), "trust": trust}


def cmd_pin_data(root: Path, args: argparse.Namespace) -> int:
    from evalpin.pin import DataPinRequest, accepted_digest, pin_dataset

    if args.local_dir and args.upstream:
        raise EvalpinError(
            "pin-data: give --upstream (a hub cache) or --local-dir (a plain directory), not both."
        )
    name = args.name or args.repo_id.split("/")[-1].lower()
    request = DataPinRequest(
        repo_id=args.repo_id,
        revision=args.revision,
        name=name,
        upstream=args.upstream,
        local_dir=args.local_dir,
        resolve=args.resolve,
        include=tuple(args.include),
        trust_loading_script=args.trust_loading_script,
        unverified_origin=args.unverified_origin,
    )
    lock = pin_dataset(root, request)
    print(f"pinned dataset {lock.source.repo_id}@{lock.source.revision} as {name}: {len(lock.files)} files")
    print(f"  {lock.what}/ (DVC), {lock.what}.lock.json, conf/data/{name}.yaml")
    if accepted_digest(root, name) != lock.digest:
        print(
            f"  re-pinned: conf/data/{name}.yaml still accepts the previous lock, so verify (and "
            f"`dvc repro`) refuse the new data until you review it (`evalpin diff --dataset {name} HEAD "
            f"{lock.what}.lock.json`) and accept it: `evalpin verify-data {name} --accept`"
        )
    print(f"  next: git add {lock.what}.dvc {lock.what}.lock.json conf/data/{name}.yaml")
    return EXIT_OK


def cmd_suite_data(root: Path, args: argparse.Namespace) -> int:
    from evalpin.compose import compose, load_params
    from evalpin.evaluate import section
    from evalpin.suite_data import describe

    params = compose(root, (f"suite={args.suite}",)) if args.suite else load_params(root)
    print(describe(root, section(params, "suite"), args.entry))
    return EXIT_OK


def cmd_verify_data(root: Path, args: argparse.Namespace) -> int:
    from evalpin.pin import accept_dataset
    from evalpin.verify import describe_drift, summarize, verify_dataset

    names = args.names or sorted(
        p.name[: -len(".lock.json")] for p in (root / project.DATA_DIR).glob("*.lock.json")
    )
    if not names:
        raise EvalpinError(
            "verify-data: no pinned dataset (eval/data/*.lock.json); pin one with `evalpin pin-data`."
        )
    if args.accept and not args.names:
        raise EvalpinError(
            "verify-data --accept: name the dataset(s) to accept, e.g. `verify-data arc --accept`."
        )
    code = EXIT_OK
    for name in names:
        lock, report = verify_dataset(root, name, full=args.full or args.accept, accepting=args.accept)
        if report.ok:
            print(
                f"{lock.what}: {summarize(report.findings)} "
                f"({report.files_checked} files, digest {lock.digest[:12]})"
            )
            if args.accept:
                accept_dataset(root, lock)
                accepted = f"commit {lock.source.revision} (lock {lock.digest[:12]})"
                print(f"  conf/data/{name}.yaml now accepts {accepted}")
        else:
            print(f"{lock.what}: DRIFT against {lock.what}.lock.json\n{describe_drift(report)}")
            code = EXIT_DRIFT
    return code


def cmd_verify(root: Path, args: argparse.Namespace) -> int:
    from evalpin.adapter import check_binding
    from evalpin.verify import verify_pinned

    name = default_model(root, args.name)
    if args.signatures:  # before anything else is read from the delivery
        for line in check_signatures(root, name, args.public_key):
            print(line)
    elif args.public_key:
        raise EvalpinError("verify: --public-key is for --signatures; add --signatures.")
    lock, report = verify_pinned(root, name, full=args.full)
    base_record = None
    if lock.base:  # an adapter: only on the base it was certified on, and that base verifies in full
        check_binding(root, lock)
        base_lock, base_report = verify_pinned(root, lock.base.name, full=args.full)
        if code := report_verification(root, lock.base.name, base_lock, base_report, args):
            return code
        base_record = {
            "model": lock.base.name,
            "revision": base_lock.source.revision,
            "lock_digest": base_lock.digest,
        }
    if code := report_verification(root, name, lock, report, args):
        return code
    from evalpin.signing import enforce_policy, load_policy

    for line in enforce_policy(root, lock, load_policy(root)):  # conf/signing/, fail-closed
        print(f"signing policy: {line}")
    datasets = verify_suite_datasets(root)
    if args.record:
        from evalpin.atomic import write_atomic

        record = {
            "model": name,
            "revision": lock.source.revision,
            "lock_digest": lock.digest,
            "files": report.files_checked,
        }
        if base_record:
            record["base"] = base_record
        if datasets:
            record["datasets"] = datasets
        write_atomic(root / args.record, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return EXIT_OK


def check_signatures(root: Path, name: str, public_keys: list[Path]) -> list[str]:
    """verify --signatures: the publisher's signature (if pinned with one) and the signed release at HEAD."""
    from evalpin import signing
    from evalpin.lock import load_lock

    lock = load_lock(project.lock_path(root, name))
    keys = public_keys or list(signing.load_policy(root).release_keys)
    tags = signing.release_tags_at(root, "HEAD", name)
    if lock.signed is None and not tags:
        raise EvalpinError(
            f"verify --signatures: nothing signed to check for models/{name}: its lock has no publisher "
            f"signature and no release tag {name}@v* points at HEAD. Check out a signed release "
            f"(`git checkout {name}@vX.Y.Z`), or pin with --signature."
        )
    lines = []
    if lock.signed is not None:
        lines.append(f"models/{name}: {signing.recheck_publisher(root, lock)}")
    for tag in tags:
        statement = signing.verify_release(root, tag, keys, workspace=True)
        lines.append(
            f"{tag}: signed release statement verified ({len(statement['predicate']['files'])} files)"
        )
        lines.append(signing.verify_release_delivery(root, statement, keys))
    return lines


def verify_suite_datasets(root: Path) -> dict[str, dict]:
    """Every pinned dataset the suite's catalog tasks read, verified (DriftError on drift): name ->
    commit and lock digest, for eval/verified.json."""
    from evalpin.evaluate import delivery_identity
    from evalpin.verify import require_verified_dataset

    found = {name: delivery_identity(require_verified_dataset(root, name)) for name in suite_datasets(root)}
    for identity in found.values():
        print(f"verified dataset eval/data/{identity['name']} (lock {identity['lock_digest'][:12]})")
    return found


def report_verification(root: Path, name: str, lock, report, args: argparse.Namespace) -> int:
    """Print what verify found for one delivery; the exit code (0 when it verified)."""
    from evalpin.golden import check_golden_of_verified
    from evalpin.verify import describe_drift

    checks_golden = not (args.files_only or not report.ok or lock.base)  # adapters render via the base
    problems = check_golden_of_verified(root, name, lock.digest, reuse=not args.full) if checks_golden else []
    if problems:
        print(f"models/{name}: prompt rendering differs from models/{name}.golden.json:", file=sys.stderr)
        print("  " + "\n  ".join(problems), file=sys.stderr)
        print(
            f"If the new rendering is intended: `evalpin golden {name} --accept`, then commit it.",
            file=sys.stderr,
        )
        return EXIT_DRIFT
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
    bound = f", on base {lock.base.name}" if lock.base else ""
    print(
        f"models/{name}: verified {report.files_checked} files against models/{name}.lock.json "
        f"({report.files_rehashed} re-hashed, commit {lock.source.revision[:12]}{bound})"
    )
    return EXIT_OK


def cmd_restore(root: Path, args: argparse.Namespace) -> int:
    from evalpin.restore import restore

    for what, where in restore(root, default_model(root, args.name), suite_datasets(root)).items():
        print(f"{what}: {where}")
    return EXIT_OK


def suite_datasets(root: Path) -> list[str]:
    """The pinned datasets the suite in params.yaml reads (its catalog tasks'), sorted."""
    from evalpin.catalog import datasets
    from evalpin.compose import load_params
    from evalpin.evaluate import section

    return datasets(section(load_params(root), "suite"))


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


def cmd_diff(root: Path, args: argparse.Namespace) -> int:
    from evalpin.diff import diff_locks, format_diff, load_lock_at, name_from_spec

    if args.dataset:
        locks = (load_lock_at(root, spec, args.dataset, dataset=True) for spec in (args.a, args.b))
        print(format_diff(diff_locks(*locks)))
        return EXIT_OK
    name = args.name or name_from_spec(args.a) or name_from_spec(args.b) or default_model(root, None)
    diff = diff_locks(load_lock_at(root, args.a, name), load_lock_at(root, args.b, name))
    print(format_diff(diff))
    return EXIT_OK


def cmd_check_upstream(root: Path, args: argparse.Namespace) -> int:
    from evalpin.diff import check_upstream, format_diff

    name = args.name if args.dataset else default_model(root, args.name)
    if not name:
        raise EvalpinError("check-upstream --dataset: name the pinned dataset (eval/data/NAME).")
    lock, commit, diff = check_upstream(root, name, args.ref, args.upstream, args.dataset)
    where = f"{lock.source.repo_id} {args.ref} -> {commit}"
    if not diff.files:
        same = "the pinned commit" if commit == lock.source.revision else "a new commit with identical files"
        print(f"{where}: serves {same}; every file matches {lock.what}.lock.json")
        return EXIT_OK
    print(f"{where}: DRIFT. The same name now delivers something else than pinned {lock.source.revision}:")
    print(format_diff(diff))
    return EXIT_DRIFT


def cmd_golden(root: Path, args: argparse.Namespace) -> int:
    from evalpin.golden import check_golden_of_verified, write_golden
    from evalpin.verify import require_verified

    name = default_model(root, args.name)
    lock = require_verified(root, name)
    if lock.base:
        raise EvalpinError(
            f"{name} is an adapter: prompts render through its base's tokenizer and chat template, so the "
            f"golden renderings are the base's: `evalpin golden {lock.base.name}`."
        )
    if args.accept:
        print(f"recorded {write_golden(root, name).relative_to(root)}: commit it with the lock")
        return EXIT_OK
    problems = check_golden_of_verified(root, name, lock.digest, reuse=False)  # asked for: always render
    if problems:
        print("  " + "\n  ".join(problems), file=sys.stderr)
        return EXIT_DRIFT
    print(f"models/{name}: every golden conversation renders to the recorded token IDs")
    return EXIT_OK


def cmd_remote_init_local(root: Path, args: argparse.Namespace) -> int:
    from evalpin.remote import init_local

    print(init_local(root, args.path, if_missing=args.if_missing))
    return EXIT_OK


def cmd_remote_s3(root: Path, args: argparse.Namespace) -> int:
    from evalpin.remote import configure_s3

    for line in configure_s3(root, args.url, args.endpoint, args.name, args.store_credentials):
        print(line)
    return EXIT_OK


def cmd_remote_remember(root: Path, args: argparse.Namespace) -> int:
    from evalpin.remote import remember

    print(f"remembered in .dvc/config.local: {', '.join(remember(root))}")
    return EXIT_OK


def cmd_remote_check(root: Path, args: argparse.Namespace) -> int:
    from evalpin.remote import check

    print(check(root, args.name))
    return EXIT_OK


def cmd_serve_args(root: Path, args: argparse.Namespace) -> int:
    from evalpin.serve import render, serve_args

    argv = serve_args(root, args.name, hub=args.hub, overrides=tuple(args.overrides))
    print(json.dumps(argv) if args.json else render(argv))
    return EXIT_OK


def cmd_outputs_diff(root: Path, args: argparse.Namespace) -> int:
    from evalpin.outputs import diff_samples, format_changes, groups_at, read_samples

    changes = diff_samples(read_samples(root, args.rev_a), read_samples(root, args.rev_b))
    groups = groups_at(root, args.rev_a, args.rev_b)
    print(format_changes(changes, args.rev_a, args.rev_b, groups=groups))
    return EXIT_OK


def cmd_compare(root: Path, args: argparse.Namespace) -> int:
    from evalpin.compose import load_params
    from evalpin.gate import compare, format_markdown, format_table

    comparison = compare(root, args.baseline, args.candidate, load_params(root)["gate"])
    print(format_markdown(comparison) if args.format == "markdown" else format_table(comparison))
    return comparison.exit_code


def cmd_release(root: Path, args: argparse.Namespace) -> int:
    from evalpin.release import release

    tag = release(root, default_model(root, args.name), args.bump, args.message, args.sign_key, args.sign)
    print(f"released {tag}; share it: git push origin {tag}")
    return EXIT_OK


def cmd_promote(root: Path, args: argparse.Namespace) -> int:
    from evalpin.release import promote

    print(promote(root, args.name, args.version, args.stage))
    return EXIT_OK


def cmd_reproduce(root: Path, args: argparse.Namespace) -> int:
    from evalpin.reproduce import reproduce

    result = reproduce(root, args.rev, args.public_key)
    for line in result.signatures:
        print(line)
    if result.identical:
        print(f"{args.rev} ({result.commit[:12]}): reproduced exactly (metrics and output fingerprint)")
        return EXIT_OK
    print(f"{args.rev} ({result.commit[:12]}): NOT reproduced:\n  " + "\n  ".join(result.differences))
    return EXIT_DRIFT


if __name__ == "__main__":
    sys.exit(main())
