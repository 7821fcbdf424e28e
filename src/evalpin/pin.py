"""Pin a model delivery: copy one immutable commit into models/NAME, lock every file, track it with DVC.

Nothing unverified lands in models/: files are staged under .evalpin/staging, hashed there, and only then
renamed into place. A replaced delivery is not lost: its bytes stay in the DVC cache and its lock in git.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from evalpin import project
from evalpin.atomic import replace_dir, write_atomic
from evalpin.errors import EvalpinError
from evalpin.golden import golden_path, write_golden
from evalpin.lock import Lock, Source, build_lock, check_safety, save_lock
from evalpin.sources import Upstream, is_commit, upstream_of

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


@dataclass(frozen=True)
class PinRequest:
    repo_id: str
    revision: str
    name: str
    upstream: str | None  # huggingface_hub cache dir relative to the repo root; None is the Hub
    resolve: bool = False  # allow a branch or tag name, recording the commit it resolved to
    allow_pickle: bool = False
    trust_remote_code: bool = False


def pin(root: Path, request: PinRequest) -> Lock:
    check_name(request.name)
    upstream = upstream_of(root, request.repo_id, request.upstream)
    commit = resolve_revision(upstream, request.revision, request.resolve)
    snapshot = upstream.snapshot(commit)
    source = Source(
        repo_id=request.repo_id,
        revision=commit,
        requested=None if is_commit(request.revision) else request.revision,
        tokenizer_revision=None,
        upstream=request.upstream,
    )
    with staging_dir(root, request.name) as staged_name:
        staged = Path(staged_name)
        copy_delivery(snapshot, staged)
        lock = build_lock(staged, request.name, source)
        check_safety(
            lock, request.allow_pickle, request.trust_remote_code, where=f"{request.repo_id}@{commit}"
        )
        if not golden_path(root, request.name).exists():  # never overwritten: a re-pin faces the old one
            write_golden(
                root, request.name, staged
            )  # rendered from the staged copy: fails before anything lands
        replace_dir(staged, project.model_dir(root, request.name))
    save_lock(lock, project.lock_path(root, request.name))
    write_model_conf(root, request, commit)
    register_artifact(root, request.name, request.repo_id)
    project.run_dvc(root, "add", f"{project.MODELS_DIR}/{request.name}")
    return lock


def check_name(name: str) -> None:
    if not name or not set(name) <= NAME_CHARS or name[0] in "-._":
        raise EvalpinError(
            f"model name {name!r}: use lower-case letters, digits, '-', '_' or '.', starting with a letter "
            "or digit (it becomes models/NAME, conf/model/NAME.yaml and the registry name)."
        )


def resolve_revision(upstream: Upstream, revision: str, resolve: bool) -> str:
    if is_commit(revision):
        return revision
    if not resolve:
        raise EvalpinError(
            f"--revision {revision!r} is a moving ref (a branch or tag), not a commit: what it names can "
            "change under the same name. Pass a full 40-hex commit, or add --resolve to pin the commit "
            "it points at now (the ref is recorded in the lock as `requested`)."
        )
    return upstream.resolve(revision)


def copy_delivery(snapshot: Path, staged: Path) -> None:
    """Copy a snapshot's files, following its symlinks only into the snapshot's own cache repo."""
    cache_repo = snapshot.parent.parent.resolve()  # models--ORG--NAME
    for entry in sorted(snapshot.rglob("*")):
        if entry.is_dir():
            continue
        target = entry.resolve()
        if not target.is_relative_to(cache_repo):
            raise EvalpinError(
                f"{entry}: symlink leaves the upstream's cache ({target}). Refusing to copy it; "
                "repair the cache (`huggingface-cli scan-cache`) or fetch the commit again."
            )
        destination = staged / entry.relative_to(snapshot)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, destination)


def staging_dir(root: Path, name: str) -> tempfile.TemporaryDirectory:
    base = root / project.STATE_DIR / "staging"
    base.mkdir(parents=True, exist_ok=True)
    # The staged tree is renamed into models/ on success, so cleanup must tolerate it being gone.
    return tempfile.TemporaryDirectory(dir=base, prefix=f"{name}-", ignore_cleanup_errors=True)


def write_model_conf(root: Path, request: PinRequest, commit: str) -> None:
    """conf/model/NAME.yaml: the pinned identity plus the safety switches; other keys a user added stay."""
    path = project.model_conf_path(root, request.name)
    conf = yaml.safe_load(path.read_text()) if path.exists() else {}
    conf.update(
        name=request.name,
        repo_id=request.repo_id,
        revision=commit,
        upstream=request.upstream,
        trust_remote_code=request.trust_remote_code,
        allow_pickle=request.allow_pickle,
    )
    conf.setdefault("add_bos_token", False)
    header = (
        f"# Written by `evalpin pin`: {request.repo_id} at commit {commit}.\n"
        f"# Files: models/{request.name}/ (DVC); their sha256s: models/{request.name}.lock.json.\n"
    )
    write_atomic(path, header + yaml.safe_dump(conf, sort_keys=False))


def register_artifact(root: Path, name: str, repo_id: str) -> None:
    """Declare models/NAME under `artifacts:` in dvc.yaml (once), so gto tags version it and
    `dvc artifacts get` can fetch it. ruamel keeps the file's comments and order."""
    import io

    from ruamel.yaml import YAML

    path = root / "dvc.yaml"
    yaml_rt = YAML()
    document = yaml_rt.load(path.read_text()) if path.is_file() else {}
    artifacts = document.setdefault("artifacts", {})
    if name in artifacts:
        return
    artifacts[name] = {
        "path": f"{project.MODELS_DIR}/{name}",
        "type": "model",
        "desc": f"{repo_id}, pinned by commit and per-file sha256 (models/{name}.lock.json)",
    }
    out = io.StringIO()
    yaml_rt.dump(document, out)
    write_atomic(path, out.getvalue())
