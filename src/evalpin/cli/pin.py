"""evalpin pin, pin-data, suite-data: a model delivery or a dataset repo, pinned at an immutable commit,
and which datasets a suite still needs pinned."""

from __future__ import annotations

import argparse
from pathlib import Path

from evalpin.base.errors import EvalpinError, ExitCode
from evalpin.cli.options import MODEL_TYPE, RESOLVE, SOURCE, Arg, Commands, repo_id_type, request

TYPE_CHECKING = False  # not `from typing`: its import is not for --help
if TYPE_CHECKING:
    from evalpin.api import Lock


COMMANDS = Commands()


@COMMANDS.command(
    "pin",
    Arg("repo_id", type=repo_id_type, help="hub repo id, e.g. evalpin/demo-tiny"),
    *SOURCE,
    Arg("--base", type=MODEL_TYPE, help="pin a peft (LoRA) adapter, certified on this pinned model"),
    Arg("--gguf-file", help="of several GGUF files in the delivery, pin this one (file name)"),
    Arg("--quant", help="of several GGUF files, pin the one whose name carries this type (Q4_1)"),
    RESOLVE,
    Arg("--allow-pickle", action="store_true", help="accept pickle weights (.bin/.pt/.pkl)"),
    Arg("--trust-remote-code", action="store_true", help="accept (and lock) remote code (*.py)"),
    Arg("--signature", type=Path, help="the publisher's model-signing bundle: checked on the pinned bytes"),
    Arg("--public-key", type=Path, help="--signature was made with this EC key (PEM)"),
    Arg(
        "--certificate-chain",
        type=Path,
        action="append",
        default=[],
        help="... or by a certificate of this chain",
    ),
    Arg("--certificate-identity", help="... or keyless (Sigstore) by this identity"),
    Arg("--certificate-oidc-issuer", help="the identity's OIDC issuer (Sigstore keyless)"),
)
def cmd_pin(root: Path, args: argparse.Namespace) -> int:
    """pin a model delivery at an immutable commit into models/NAME"""
    from evalpin import api

    one_source(args, "pin")
    signature = {"signature": None, **publisher_signature(args)}
    first = api.selects_no_model(root)
    lock = api.pin(root, request(api.PinRequest, args, name=local_name(args), **signature))
    print("\n".join(pinned_model(lock)))
    if first:
        print(f"  selected as the evaluated model (none was): conf/config.yaml, params.yaml name {lock.name}")
    return ExitCode.OK


def pinned_model(lock: Lock) -> list[str]:
    """What pin says about the delivery it pinned: what it is, how its origin is known, what to commit."""
    name = lock.name
    lines = [f"pinned {lock.source.repo_id}@{lock.source.revision} as {name}: {len(lock.files)} files"]
    if lock.base:
        lines.append(
            f"  a peft adapter, certified on {lock.base.name} ({lock.base.repo_id}@{lock.base.revision})"
        )
    lines += [
        f"  {path}: GGUF v{info.version}, {info.architecture}, {info.file_type}, header, tensors locked"
        for path, info in (lock.gguf or {}).items()
    ]
    if lock.signed:
        lines.append(
            f"  signed by the publisher: {lock.signed.method} {lock.signed.signer}, "
            f"kept as {lock.signed.signature}"
        )
    if lock.source.provenance:
        how = {"download-metadata": "proven by huggingface_hub's download metadata"}
        proof = how.get(lock.source.provenance, "asserted (--unverified-origin), not proven")
        lines.append(f"  from {lock.source.local_dir}: commit {proof}")
    lines.append(f"  models/{name}/ (DVC), models/{name}.lock.json, conf/model/{name}.yaml")
    lines.append(
        f"  next: evalpin use {name} && git add -A 'models/{name}.*' conf params.yaml dvc.yaml && dvc repro"
    )
    return lines


def publisher_signature(args: argparse.Namespace) -> dict:
    """pin's --signature and whom to trust for it, as PinRequest fields. The CLI's: its errors name
    the command's flags."""
    trusted = (
        args.public_key or args.certificate_chain or args.certificate_identity or args.certificate_oidc_issuer
    )
    if args.signature is None:
        if trusted:
            raise EvalpinError("pin: --public-key/--certificate-* check a --signature FILE; give it too.")
        return {}
    from evalpin import api

    if not args.signature.is_file():
        raise EvalpinError(f"pin --signature {args.signature}: no such file (the publisher's bundle).")
    trust = api.publisher_trust(
        key=args.public_key,
        chain=tuple(args.certificate_chain),
        identity=args.certificate_identity,
        issuer=args.certificate_oidc_issuer,
    )
    return {"signature": args.signature.resolve(), "trust": trust}


@COMMANDS.command(
    "pin-data",
    Arg("repo_id", type=repo_id_type, help="hub dataset repo id, e.g. allenai/ai2_arc"),
    *SOURCE,
    Arg(
        "--include", action="append", default=[], help="glob on data paths to keep (repeatable): 'ARC-Easy/*'"
    ),
    RESOLVE,
    Arg("--trust-loading-script", action="store_true", help="accept (and lock) a loading script (*.py)"),
)
def cmd_pin_data(root: Path, args: argparse.Namespace) -> int:
    """pin a Hub dataset repo at an immutable commit into eval/data/NAME"""
    from evalpin import api

    one_source(args, "pin-data")
    name = local_name(args)
    pinned = api.pin_data(root, request(api.DataPinRequest, args, name=name, include=tuple(args.include)))
    lock = pinned.lock
    print(f"pinned dataset {lock.source.repo_id}@{lock.source.revision} as {name}: {len(lock.files)} files")
    print(f"  {lock.what}/ (DVC), {lock.what}.lock.json, conf/data/{name}.yaml")
    if pinned.awaits_review:
        print(
            f"  re-pinned: conf/data/{name}.yaml still accepts the previous lock, so verify (and "
            f"`dvc repro`) refuse the new data until you review it (`evalpin diff --dataset {name} HEAD "
            f"{lock.what}.lock.json`) and accept it: `evalpin verify-data {name} --accept`"
        )
    print(f"  next: git add {lock.what}.dvc {lock.what}.lock.json conf/data/{name}.yaml")
    return ExitCode.OK


@COMMANDS.command(
    "suite-data",
    Arg(
        "entry", nargs="?", help="one entry: its index in suite.catalog, or a catalog task, group or tag name"
    ),
    Arg("--suite", help="a suite in conf/suite/ (default: the suite in params.yaml)"),
)
def cmd_suite_data(root: Path, args: argparse.Namespace) -> int:
    """the Hub datasets the suite's catalog entries read, which are pinned, how to pin the rest"""
    from evalpin import api

    print(api.suite_data(root, args.suite, args.entry))
    return ExitCode.OK


def local_name(args: argparse.Namespace) -> str:
    return args.name or args.repo_id.split("/")[-1].lower()


def one_source(args: argparse.Namespace, command_name: str) -> None:
    if args.local_dir and args.upstream:
        raise EvalpinError(
            f"{command_name}: give --upstream (a hub cache) or --local-dir (a plain directory), not both."
        )
