"""Releases: a Git tag (gto's NAME@vX.Y.Z, DVC's own model registry) ties code, delivery and baseline.

A release is refused unless the commit it tags can be restored and reproduced by anyone: git clean,
params.yaml equal to conf/, `dvc status` clean (so metrics are current), the delivery verified, and the
DVC remote holding the delivery and the pipeline outputs.
"""

from __future__ import annotations

import glob
import json
import subprocess
import sys
import time
from pathlib import Path

from evalpin import signing
from evalpin.base import credentials, project
from evalpin.base.atomic import kill_point
from evalpin.base.errors import EvalpinError
from evalpin.base.exclusive import exclusive
from evalpin.base.leftovers import clean_and_say
from evalpin.base.outs import FINGERPRINT_FILE, METRICS_FILE
from evalpin.config.compose import check_params, load_params
from evalpin.config.selection import verify_suite_datasets
from evalpin.delivery.diff import diff_locks, load_lock_at
from evalpin.delivery.lock import load_lock
from evalpin.delivery.verify import require_verified
from evalpin.evaluation.output_set import check_set
from evalpin.registry.remote import MOVE_SECRETS
from evalpin.results.gate import WORKSPACE, read_at, read_bytes_at
from evalpin.signing.release_tags import check_release_tag

BUMP_ORDER = ("major", "minor", "patch")
FIRST_VERSION = "v1.0.0"
STALE_SECONDS = 10  # git holds a ref's lock for milliseconds


def preflight(root: Path, name: str) -> list[str]:
    """Every reason this commit cannot be released yet; empty when it can. What killed runs left (a
    staged copy, a temporary file) is removed first: it is not a change of the user's."""
    clean_and_say(root)
    problems = []
    if project.git(root, "status", "--porcelain"):
        problems.append("git is not clean: commit or stash your changes (`git status`)")
    problems += committed_secrets(root)
    if diffs := check_params(root):
        problems.append("params.yaml disagrees with conf/: " + "; ".join(diffs) + " (run `evalpin compose`)")
    if status := pipeline_changes(root):
        problems.append(
            f"`dvc status` is not clean ({json.dumps(status)}): run `dvc repro` and commit dvc.lock and eval/"
        )
    problems += outputs_problems(root)
    require_verified(root, name)  # raises DriftError with the table
    verify_suite_datasets(root)  # what the always-changed verify stage checks on every run
    return problems


def committed_secrets(root: Path) -> list[str]:
    """A credential in the committed .dvc/config: a release would publish it with the tag."""
    blob, _ = project.git_show(root, "HEAD", ".dvc/config")
    found = credentials.in_config_text(blob.decode(errors="replace")) if blob else []
    if not found:
        return []
    return [
        f"the committed .dvc/config holds {', '.join(found)}: a secret in git, published with the tag. "
        f"{MOVE_SECRETS} Commit that, and rotate the credential: git history keeps it"
    ]


def outputs_problems(root: Path) -> list[str]:
    """eval/'s metrics must be the ones its evaluation wrote (output_set's digests)."""

    try:
        metrics = read_bytes_at(root, WORKSPACE, METRICS_FILE)
        check_set(root, None, metrics, read_at(root, WORKSPACE, FINGERPRINT_FILE))
    except EvalpinError as exc:
        return [str(exc)]
    return []


def clear_stale_tag_locks(root: Path, name: str) -> None:
    """A release killed while git wrote the tag leaves refs/tags/NAME@vX.Y.Z.lock, and every later tag
    of that name fails on it. This release holds NAME's release lock, so no evalpin writes those refs
    now: a lock file older than STALE_SECONDS is a killed writer's and is removed; a fresh one is some
    git command's, and the release stops with what to do."""
    common = Path(project.git(root, "rev-parse", "--git-common-dir"))
    tags = (common if common.is_absolute() else root / common) / "refs" / "tags"
    for lock_file in sorted(tags.glob(f"{glob.escape(name)}@*.lock")):
        if time.time() - lock_file.stat().st_mtime < STALE_SECONDS:
            raise EvalpinError(
                f"{lock_file}: a git command is writing this tag ref now. Wait for it and rerun; if no "
                f"git runs here, a killed one left it: `rm '{lock_file}'`, then rerun."
            )
        lock_file.unlink()
        print(f"evalpin: removed {lock_file}, left by an interrupted release", file=sys.stderr)


def pipeline_changes(root: Path) -> dict:
    """`dvc status --json` without the verify stage's "always changed" (it runs on every `dvc repro`, and
    preflight verifies what it checks): empty when the outputs are current."""
    status = json.loads(project.run_dvc(root, "status", "--json").stdout.strip() or "{}")
    found = {}
    for stage, changes in status.items():
        kept = [change for change in changes if change != "always changed"]
        if kept:
            found[stage] = kept
    return found


def push_to_remote(root: Path, name: str) -> None:
    """The remote must hold what the tag promises: the delivery and the pipeline outputs."""
    if not project.has_remote(root):
        raise EvalpinError(
            "no DVC remote is configured, so nobody else could restore this release. "
            "Set one up: `evalpin remote init-local` (a local directory) or `evalpin remote s3 --url ...`."
        )
    proc = project.run_dvc(root, "push", check=False)
    if proc.returncode != 0:
        raise EvalpinError(
            f"`dvc push` failed, so the remote may not hold models/{name}: "
            f"{(proc.stderr or proc.stdout).strip()}\nFix the remote (credentials, reachability) and run the "
            "release again; a push can simply be rerun."
        )


def taken_on_remotes(root: Path, tag: str) -> list[str]:
    """The git remotes that already hold `tag`. A remote that cannot be asked is an error: a release made
    now could take a version that a colleague already released there."""
    holding = []
    for remote in project.git(root, "remote").split():
        proc = subprocess.run(
            ["git", "ls-remote", "--tags", remote, f"refs/tags/{tag}"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if proc.returncode != 0:
            raise EvalpinError(
                f"release {tag}: could not list the tags of git remote {remote!r} "
                f"({proc.stderr.strip() or 'no answer'}), so a colleague's {tag} there would go unseen. "
                f"Reach the remote and rerun, or `git remote remove {remote}` if it is gone for good."
            )
        if proc.stdout.strip():
            holding.append(remote)
    return holding


def latest_version(root: Path, name: str) -> str | None:
    from gto.api import find_latest_version
    from gto.exceptions import ArtifactNotFound

    try:
        found = find_latest_version(str(root), name)
    except ArtifactNotFound:
        return None
    return None if found is None else found.version


def next_version(previous: str | None, bump: str) -> str:
    if previous is None:
        return FIRST_VERSION
    major, minor, patch = (int(x) for x in previous.lstrip("v").split("."))
    if bump == "major":
        return f"v{major + 1}.0.0"
    if bump == "minor":
        return f"v{major}.{minor + 1}.0"
    return f"v{major}.{minor}.{patch + 1}"


def suggested_bump(root: Path, name: str, previous: str | None) -> str:
    if previous is None:
        return "major"
    check_release_tag(root, f"{name}@{previous}")
    diff = diff_locks(
        load_lock_at(root, f"{name}@{previous}", name), load_lock(project.lock_path(root, name))
    )
    if diff.bump == "none":
        return "patch"  # same delivery, new code or suite: still a new release of the evaluation
    return diff.bump


def tag_message(statement: dict, message: str) -> str:
    """The annotated tag's text, rendered from the release statement: one set of facts, two forms."""
    facts, delivery = statement["predicate"], statement["predicate"]["delivery"]
    name, version = facts["tag"].split("@", 1)
    scores = ", ".join(f"{t}={score:.4f}" for t, score in facts["metrics"].items())
    base = (
        f"certified on base: {delivery['base']} = {delivery['base_repo_id']}@{delivery['base_revision']}\n"
        if "base" in delivery
        else ""
    )
    origin = f"origin: {delivery['origin']}\n" if "origin" in delivery else ""
    datasets = "".join(
        f"dataset: {n} = {d['revision']}, lock digest {d['lock_digest']}\n"
        for n, d in sorted(facts["datasets"].items())
    )
    return (
        f"{name} {version}: {message}\n\n"
        f"commit: {facts['commit']}\n"
        f"delivery: {delivery['repo_id']}@{delivery['revision']}\n"
        f"{origin}"
        f"lock digest: {delivery['lock_digest']}\n"
        f"{base}{datasets}"
        f"suite mean: {facts['suite_score']:.4f}\n"
        f"scores: {scores}\n"
        f"numerics: {facts.get('numerics_class') or 'unrecorded'}\n"
    )


def release_facts(root: Path, name: str, tag: str) -> dict:
    """The release statement of NAME at HEAD (signing.statement builds it), signed or not."""

    return signing.release_statement(root, load_lock(project.lock_path(root, name)), tag)


def release(
    root: Path, name: str, bump: str, message: str, sign_key: Path | None = None, sign: bool = False
) -> str:
    """Tag NAME@vX.Y.Z. With a signing key (`sign_key`, or $EVALPIN_SIGN_KEY when `sign`): models/NAME.sig
    (model-signing, committed when new) and the signed release statement in the tag's message."""
    evaluated = load_params(root)["model"]["name"]
    if name != evaluated:
        raise EvalpinError(
            f"release {name}: params.yaml evaluates {evaluated!r}, so eval/ holds its scores, not {name}'s. "
            f"Switch conf/config.yaml to `- model: {name}`, `evalpin compose && dvc repro`, commit, "
            "then release."
        )
    with exclusive(root, f".release-{name}", f"release {name}"):
        return release_locked(root, name, bump, message, sign_key, sign)


def release_locked(root: Path, name: str, bump: str, message: str, sign_key: Path | None, sign: bool) -> str:
    clear_stale_tag_locks(root, name)  # first: a refusal must come before anything is pushed
    if problems := preflight(root, name):
        raise EvalpinError("release refused:\n  - " + "\n  - ".join(problems))
    key = None
    if sign_key is not None or sign:
        key = signing.resolve_sign_key(root, sign_key)  # before anything is pushed or committed
    previous = latest_version(root, name)
    chosen = suggested_bump(root, name, previous) if bump == "auto" else bump
    version = next_version(previous, chosen)
    tag = f"{name}@{version}"
    if remotes := taken_on_remotes(root, tag):
        raise EvalpinError(
            f"release refused: {tag} already exists on git remote {remotes[0]!r}, a release this clone has "
            f"not fetched. `git fetch --tags {remotes[0]}`, then release again: it takes the next version."
        )
    push_to_remote(root, name)
    from gto.api import register
    from gto.exceptions import GTOException

    text = (
        sign_release(root, name, tag, key, message)
        if key is not None
        else tag_message(release_facts(root, name, tag), message)
    )
    kill_point("release.tagging")
    try:
        register(str(root), name, "HEAD", version=version, message=text)
    except (GTOException, OSError) as exc:
        raise EvalpinError(f"gto could not tag {name}@{version}: {exc}. Rerun the release.") from exc
    return f"{name}@{version}"


def sign_release(root: Path, name: str, tag: str, key: Path, message: str) -> str:
    """models/NAME.sig (committed on its own when new: it depends only on the delivery's bytes), then the
    tag's message: its text and the signed release statement (signing/__init__ says why it lives there).
    The statement is built after that commit, so it names the commit the tag points at."""

    signature = signing.delivery_signature_path(root, name)
    if signing.sign_delivery(root, name, key):
        path = signature.relative_to(root).as_posix()
        project.git(root, "add", "--", path)
        project.git(
            root, "commit", "--quiet", "-m", f"Sign models/{name} (model-signing) for {tag}", "--", path
        )
        print(f"signed models/{name} -> {path}, committed (`model_signing verify key` accepts it)")
    statement = release_facts(root, name, tag)
    return tag_message(statement, message) + "\n" + signing.tag_block(signing.sign_statement(statement, key))


def promote(root: Path, name: str, version: str, stage: str) -> str:
    from gto.api import assign
    from gto.exceptions import GTOException

    if not project.git(root, "tag", "--list", f"{name}@{version}"):
        raise EvalpinError(f"{name}@{version}: no such release tag (see `gto show {name}`).")
    check_release_tag(root, f"{name}@{version}")

    policy = signing.load_policy(root)
    if stage in policy.signed_stages:  # conf/signing/: only a release signed by a release key
        signing.verify_release(root, f"{name}@{version}", list(policy.release_keys), workspace=False)
    try:
        assign(str(root), name, stage, version=version, message=f"{name} {version} -> {stage}")
    except GTOException as exc:
        raise EvalpinError(f"gto could not assign {name} {version} to {stage}: {exc}") from exc
    return f"{name} {version} is now in stage {stage}"
