"""evalpin's table of contents: one function per command of the CLI, in the order of the chain.

The chain, a model delivery's way from the Hub to a released, reproducible evaluation:
- pin, pin_data, suite_data: a model delivery (or a dataset repo) locked at an immutable commit
  (delivery/, pinning/, suite/);
- verify, verify_data, golden: what is on disk is still what was pinned (pinning/, signing/);
- compose, use, keep, evaluate, why, numerics, report, samples: conf/ -> params.yaml, the suite run on the
  pinned model, its scores and samples (config/, evaluation/, results/);
- compare, outputs_diff, diff, check_upstream: what changed between two sides, does it matter (results/);
- release, promote: a verified, reproducible version, tagged and staged (registry/);
then the rest: reproduce, restore, remote_init_local, remote_s3, remote_remember, remote_check
(registry/), serve_args, check_server (serving/), clean_start (template/).

evalpin.cli parses the arguments, calls these and prints what they return (evaluate and reproduce
stream a long run's progress). Each imports its package when it runs: importing them all would cost
every command (`evalpin verify` in each `dvc repro`) the start-up of all; `evalpin --help` imports none.
"""

from __future__ import annotations

import importlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from evalpin.base.credentials import mask as mask  # `as`: re-exported, for evalpin.cli
from evalpin.base.errors import EvalpinError, ExitCode
from evalpin.base.names import check_name
from evalpin.base.names import check_repo_id as check_repo_id
from evalpin.base.project import find_root as find_root
from evalpin.base.project import use_offline_environment as use_offline_environment

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from evalpin.delivery.lock import Lock
    from evalpin.pinning.requests import DataPinRequest, PinRequest
    from evalpin.pinning.verify_stage import Check, VerifyRequest
    from evalpin.registry.reproduce import Reproduction
    from evalpin.serving.check_server import Report as ServerReport
    from evalpin.signing import Trust

# The errors a command explains in one line instead of a traceback (evalpin.cli.explain).
EXPECTED_ERRORS = (EvalpinError, json.JSONDecodeError, yaml.YAMLError, OSError, KeyboardInterrupt)

# The requests the verbs take, imported when first named (`api.PinRequest`), not with this module.
TYPES = {
    "DataPinRequest": "evalpin.pinning.requests",
    "PinRequest": "evalpin.pinning.requests",
    "VerifyRequest": "evalpin.pinning.verify_stage",
}


def __getattr__(name: str) -> type:
    if name not in TYPES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(TYPES[name]), name)


@dataclass(frozen=True)
class Verdict:
    """What a judging command prints, and its exit code."""

    text: str
    exit_code: ExitCode


@dataclass(frozen=True)
class DataPin:
    """A pinned dataset's lock; `awaits_review`: conf/data/NAME.yaml still accepts an earlier lock."""

    lock: Lock
    awaits_review: bool


@dataclass(frozen=True)
class Upstream:
    """The pin, the commit its upstream's ref serves today, and the files that differ ('' if none)."""

    lock: Lock
    commit: str
    changes: str


def pin(root: Path, request: PinRequest) -> Lock:
    """Pin a model delivery at an immutable commit into models/NAME (lock, DVC, conf/model/NAME.yaml)."""
    from evalpin.pinning.pin import pin

    return pin(root, request)


def selects_no_model(root: Path) -> bool:
    """Does conf/config.yaml select no model yet (a fresh project)? Then the next pin becomes the model."""
    from evalpin.config.defaults_list import selects_no_model

    return selects_no_model(root)


def publisher_trust(
    key: Path | None, chain: tuple[Path, ...], identity: str | None, issuer: str | None
) -> Trust:
    """Whom pin trusts for the publisher's signature: a key, a certificate chain or a Sigstore identity."""
    from evalpin.signing import Trust, check_trust

    trust = Trust(public_key=key, certificate_chain=chain, identity=identity, oidc_issuer=issuer)
    check_trust(trust)
    return trust


def pin_data(root: Path, request: DataPinRequest) -> DataPin:
    """Pin a Hub dataset repo at an immutable commit into eval/data/NAME."""
    from evalpin.pinning.pin import accepted_digest, pin_dataset

    lock = pin_dataset(root, request)
    return DataPin(lock, accepted_digest(root, request.name) != lock.digest)


def suite_data(root: Path, suite: str | None = None, entry: str | None = None) -> str:
    """The Hub datasets a suite's catalog entries read, which are pinned, how to pin the rest."""
    from evalpin.config.compose import compose, load_params
    from evalpin.config.params import section
    from evalpin.suite.data import describe

    params = compose(root, (f"suite={suite}",)) if suite else load_params(root)
    return describe(root, section(params, "suite"), entry)


def verify(
    root: Path, name: str | None, request: VerifyRequest, public_keys: list[Path] | None = None
) -> Iterator[Check]:
    """Re-hash models/NAME against its lock, one check at a time, stopping at a failing one. With
    `public_keys` (maybe empty: conf/signing's), the signatures first, before the delivery is read."""
    from evalpin.config.selection import default_model
    from evalpin.pinning.verify_stage import Check, check_signatures, verify_model

    name = default_model(root, name)
    signed = []
    if public_keys is not None:
        signed.append(Check(out=tuple(check_signatures(root, name, public_keys))))
    return itertools.chain(signed, verify_model(root, name, request))


def verify_data(root: Path, names: list[str], full: bool = False, accept: bool = False) -> Iterator[Check]:
    """Re-hash pinned datasets eval/data/NAME (default: all) against their locks; `accept` a re-pin."""
    from evalpin.pinning.verify_stage import verify_datasets

    return verify_datasets(root, names, full=full, accept=accept)


def golden(root: Path, name: str | None = None, accept: bool = False) -> Check:
    """Check (or `accept`) the prompt-rendering golden token IDs of models/NAME."""
    from evalpin.config.selection import default_model
    from evalpin.pinning.verify_stage import golden

    return golden(root, default_model(root, name), accept=accept)


def compose(root: Path, overrides: tuple[str, ...] = ()) -> tuple[list[str], Path]:
    """Write params.yaml from conf/ (Hydra), overrides kept in conf/ first: the files kept in, the path."""
    from evalpin.config.compose import compose, write_params
    from evalpin.config.persist import override_choices, persist

    kept = persist(root, compose(root, overrides), override_choices(root, overrides)) if overrides else []
    return kept, write_params(root, compose(root))


def check_composed(root: Path) -> bool:
    """Does params.yaml equal conf/'s composition, and can it run? False: `dvc exp run` composed it."""
    from evalpin.config.compose import require_composed

    return require_composed(root)


def use(root: Path, name: str) -> list[str]:
    """Evaluate pinned model NAME: select it in conf/config.yaml (the edits) and compose params.yaml."""
    from evalpin.config.persist import use_model

    return use_model(root, name)


def keep(root: Path, experiment: str | None = None) -> list[str]:
    """Keep an experiment (default: the workspace): `dvc exp apply`, write it into conf/ (the edits)."""
    from evalpin.config.compose import compose, load_params, write_params
    from evalpin.config.experiments import apply
    from evalpin.config.persist import choices_of, persist

    if experiment:
        apply(root, experiment)
    params = load_params(root)
    edits = persist(root, params, choices_of(root, params))
    write_params(root, compose(root))
    return edits


def evaluate(root: Path, verbose: bool = False) -> dict:
    """Run the suite on the pinned model (the pipeline's stage): the metrics, per task."""
    from evalpin.base import quiet
    from evalpin.config.compose import load_typed_params
    from evalpin.evaluation.evaluate_stage import evaluate

    quiet.install(verbose)
    return evaluate(root, load_typed_params(root))


def why(root: Path, task: str) -> list[str]:
    """A task's inputs (its key's files and parameters, what it read last), and whether it is reused."""
    from evalpin.evaluation.task_inputs import explain

    return explain(root, task)


def numerics(root: Path) -> dict:
    """The numerics class this machine computes in (conf/inference's mode), and the machine."""
    from evalpin.base import numerics
    from evalpin.config.compose import load_params
    from evalpin.config.params import section

    inference = section(load_params(root), "inference")
    numerics.apply(inference)
    return {**numerics.describe(inference), "machine": numerics.machine()}


def report(root: Path, html: Path | None = None, baseline: str = "HEAD") -> Verdict:
    """The model, its verification and the scores; `html`: also a page, compared with `baseline`."""
    from evalpin.results.report import render

    text, matches = render(root)
    if html:  # before the text is printed: a wrong baseline fails the command, not after its text
        from evalpin.results.report_html import write

        text += f"\nwrote {write(root, html, baseline)} (self-contained: opens offline in any browser)"
    return Verdict(text, ExitCode.OK if matches else ExitCode.DRIFT)


def samples(
    root: Path,
    task: str,
    rev: str = "workspace",
    failed: bool = False,
    limit: int | None = None,
    as_json: bool = False,
) -> str:
    """Each sample of a task at a revision: question, choices or gold, the model's answer, score."""
    from evalpin.results.samples import render_json, render_text, select, task_samples, view

    records = task_samples(root, task, rev)
    views = [view(r) for r in select(records, failed, limit)]
    return render_json(task, rev, views) if as_json else render_text(task, rev, records, views)


def compare(root: Path, baseline: str, candidate: str = "workspace", markdown: bool = False) -> Verdict:
    """The gate: the candidate's scores against a baseline revision, under params.yaml's thresholds."""
    from evalpin.config.compose import load_params
    from evalpin.config.params_check import RULES, check_section
    from evalpin.results.gate import compare, format_markdown, format_table

    gate = load_params(root).get("gate")
    check_section(gate, "gate", RULES["gate"], "params.yaml")  # thresholds, before any is used
    comparison = compare(root, baseline, candidate, gate)
    text = format_markdown(comparison) if markdown else format_table(comparison)
    return Verdict(text, comparison.exit_code)


def outputs_diff(root: Path, rev_a: str, rev_b: str = "workspace") -> list[str]:
    """The samples whose response or score changed between two revisions, then the reproduction level."""
    from evalpin.results import sample_changes as changes
    from evalpin.results.samples_at import read_samples

    a, b = read_samples(root, rev_a), read_samples(root, rev_b)
    one_sided = changes.one_sided(a, b, rev_a, rev_b)
    return [
        changes.format_changes(changes.diff_samples(a, b), rev_a, rev_b, tasks_one_sided=one_sided),
        changes.level_of_samples(root, (rev_a, rev_b), (a, b)).line(),
    ]


def diff(root: Path, a: str, b: str, name: str | None = None, dataset: str | None = None) -> str:
    """The change between two locks (paths or revisions) of a model or `dataset`, with its version bump."""
    from evalpin.config.selection import configs_read, default_model
    from evalpin.delivery.diff import diff_locks, format_diff, load_lock_at, name_from_spec

    reads = None
    if dataset:
        name = dataset
        reads = configs_read(root, name)  # data files no suite task reads do not make it major
    else:
        name = name or name_from_spec(a) or name_from_spec(b) or default_model(root, None)
        check_name(name)  # from a NAME@v tag: checked like --name before it becomes a path
    locks = (load_lock_at(root, spec, name, dataset=bool(dataset)) for spec in (a, b))
    return format_diff(diff_locks(*locks, reads=reads))


def check_upstream(
    root: Path, name: str | None, dataset: bool = False, ref: str = "main", upstream: str | None = None
) -> Upstream:
    """Is what the upstream's `ref` serves today still the pin? `upstream`: a hub cache to ask instead."""
    from evalpin.config.selection import configs_read, default_model
    from evalpin.delivery.diff import check_upstream, format_diff

    name = name if dataset else default_model(root, name)
    reads = configs_read(root, name) if dataset else None
    lock, commit, changes = check_upstream(root, name, ref, upstream, dataset, reads)
    return Upstream(lock, commit, format_diff(changes) if changes.files else "")


def release(
    root: Path, name: str | None, bump: str, message: str, sign_key: Path | None = None, sign: bool = False
) -> str:
    """Tag a verified, reproducible version of NAME (gto NAME@vX.Y.Z), signed with a key: the tag."""
    from evalpin.config.selection import default_model
    from evalpin.registry.release import release

    return release(root, default_model(root, name), bump, message, sign_key, sign)


def promote(root: Path, name: str, version: str, stage: str) -> str:
    """Assign a released version to a stage (gto NAME#STAGE#N): what was done."""
    from evalpin.registry.release import promote

    return promote(root, name, version, stage)


def reproduce(root: Path, rev: str, public_keys: list[Path] | tuple[Path, ...] = ()) -> Reproduction:
    """Rerun a revision from scratch in a clone; its level: exact, equivalent or differs."""
    from evalpin.registry.reproduce import reproduce

    return reproduce(root, rev, public_keys)


def restore(root: Path, name: str | None = None) -> dict[str, str]:
    """models/NAME, the suite's datasets, then the stored results from the DVC remote: from where."""
    from evalpin.config.selection import default_model, suite_datasets
    from evalpin.registry.restore import restore, restore_outputs

    return {**restore(root, default_model(root, name), suite_datasets(root)), **restore_outputs(root)}


def remote_init_local(root: Path, path: Path | None = None, if_missing: bool = False) -> str:
    """A directory outside the repository as this clone's default DVC remote (.dvc/config.local)."""
    from evalpin.registry.remote import init_local

    return init_local(root, path, if_missing=if_missing)


def remote_s3(
    root: Path, url: str, endpoint: str | None = None, name: str = "team", store_credentials: bool = False
) -> list[str]:
    """An S3 remote in .dvc/config (credentials never in git): what was configured."""
    from evalpin.registry.remote import configure_s3

    return configure_s3(root, url, endpoint, name, store_credentials)


def remote_remember(root: Path) -> list[str]:
    """Copy .dvc/config's remotes into .dvc/config.local (so older tags restore): their names."""
    from evalpin.registry.remote import remember

    return remember(root)


def remote_check(root: Path, name: str | None = None) -> str:
    """Reach the remote (default: the default remote); say clearly what is wrong if not."""
    from evalpin.registry.remote import check

    return check(root, name)


def serve_args(
    root: Path, name: str, hub: bool = False, overrides: tuple[str, ...] = (), as_json: bool = False
) -> str:
    """The server command for a pinned model (vLLM; llama-cpp-python for GGUF): a shell line, or JSON."""
    from evalpin.serving.serve_args import render, serve_args

    argv = serve_args(root, name, hub=hub, overrides=overrides)
    return json.dumps(argv) if as_json else render(argv)


def check_server(
    root: Path, name: str, url: str, kind: str | None = None, tolerance: float | None = None
) -> ServerReport:
    """Does a running server serve the pinned delivery (NAME, or NAME@vX.Y.Z's)? Its findings."""
    from evalpin.serving.check_server import check_server, load_references

    return check_server(load_references(root, name), url, kind, tolerance)


def clean_start(root: Path) -> list[str]:
    """Remove the demo's pins, run and suite selection, keep the user's (idempotent): what was done."""
    from evalpin.config.compose import compose, write_params
    from evalpin.template.clean_start import NEXT, clean_start

    lines, recompose = clean_start(root)
    if recompose:  # a model of the user's is selected: params.yaml follows the new suite
        write_params(root, compose(root))
        lines.append("params.yaml: composed from conf/ again")
    return [*lines, *NEXT]
