"""Pin a model delivery: copy one immutable commit into models/NAME, lock every file, track it with DVC.

Nothing unverified lands in models/: files are staged under .evalpin/staging, hashed there, and only then
renamed into place. A replaced delivery is not lost: its bytes stay in the DVC cache and its lock in git.
The files come from the Hub, a huggingface_hub cache (--upstream) or a plain directory (--local-dir); an
adapter (--base) is pinned the same way and bound to the verified base it is certified on.
"""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import yaml

from evalpin.base import project
from evalpin.base.atomic import kill_point, replace_dir, temp_prefix, write_atomic
from evalpin.base.documents import switch
from evalpin.base.errors import EvalpinError
from evalpin.base.exclusive import exclusive
from evalpin.base.leftovers import clean_and_say
from evalpin.base.names import check_name, check_repo_id
from evalpin.config.defaults_list import selects_no_model
from evalpin.config.persist import use_model
from evalpin.delivery import adapter
from evalpin.delivery import gguf_file as ggufinfo
from evalpin.delivery.card_files import CARD, Card
from evalpin.delivery.golden import golden_path, remember_rendering, write_golden
from evalpin.delivery.inventory import build_lock
from evalpin.delivery.lock import BaseBinding, Lock, Source, save_lock
from evalpin.delivery.roles import DATASET, role_of
from evalpin.delivery.safetensors_file import check_weights
from evalpin.delivery.safety import check_data_safety, check_safety
from evalpin.delivery.sources import (
    Delivery,
    LocalDirectory,
    Upstream,
    is_commit,
    portable_local_dir,
    upstream_of,
)
from evalpin.delivery.verify import require_verified
from evalpin.pinning.all_or_nothing import all_or_nothing, touched_by_pin
from evalpin.pinning.model_conf import register_artifact, write_model_conf
from evalpin.pinning.requests import DataPinRequest, Fetch, PinRequest
from evalpin.signing import check_publisher, delivery_signature_path, store_publisher


def pin(root: Path, request: PinRequest) -> Lock:
    """Pin a model under its name's lock (a concurrent pin of the same name waits for this one), after
    removing what interrupted runs left."""
    check_name(request.name)
    check_repo_id(request.repo_id)
    with exclusive(root, request.name, f"pin {request.name}"):
        clean_and_say(root)
        return pin_locked(root, request)


def pin_locked(root: Path, request: PinRequest) -> Lock:
    name = request.name
    touched, folder = touched_by_pin(root, name), project.model_dir(root, name)
    with all_or_nothing(root, touched, folder):
        return pin_steps(root, request)


def pin_steps(root: Path, request: PinRequest) -> Lock:
    if request.base == request.name:
        raise EvalpinError(f"--base {request.base}: an adapter cannot be its own base; pick another --name.")
    base = require_base(root, request.base) if request.base else None
    first_golden = not base and not golden_path(root, request.name).exists()  # a re-pin faces the old
    lock = stage(
        root,
        request,
        project.model_dir(root, request.name),
        select=lambda files, where: ggufinfo.select(files, request.gguf_file, request.quant, where),
        check=partial(check_staged_model, root, request, base, first_golden),
        base=adapter.binding(base) if base else None,
    )
    if request.signature is not None or project.lock_path(root, request.name).exists():
        store_publisher(root, request.name, request.signature, request.trust)  # type: ignore[arg-type]
        # a release's models/NAME.sig signed the previous delivery; the next signed release writes it anew
        delivery_signature_path(root, request.name).unlink(missing_ok=True)
    save_lock(lock, project.lock_path(root, request.name))
    kill_point("pin.locked")
    if first_golden:  # rendered from exactly the locked bytes: the next verify need not render again
        remember_rendering(root, request.name, lock.digest)
    commit = lock.source.revision
    write_model_conf(root, request, commit, ggufinfo.evaluated_file([f.path for f in lock.files]))
    register_artifact(root, request.name, request.repo_id, request.base)
    if selects_no_model(root):  # DVC cannot read dvc.yaml (its ${model.name}) until a model is selected
        use_model(root, request.name)
    project.run_dvc(root, "add", f"{project.MODELS_DIR}/{request.name}")
    return lock


def require_base(root: Path, name: str) -> Lock:
    """The verified base an adapter is pinned on: a full Hugging Face model, not an adapter or a GGUF."""
    base = require_verified(root, name)
    if base.base:
        raise EvalpinError(
            f"--base {name}: that is itself an adapter (on {base.base.name}); pin the adapter on "
            "a full model, or merge the first adapter into a full model and pin that."
        )
    if base.gguf:
        raise EvalpinError(
            f"--base {name}: a GGUF delivery; peft adapters load on Hugging Face weights. Pin the "
            "base model's safetensors delivery and certify the adapter on that."
        )
    return base


def check_staged_model(
    root: Path,
    request: PinRequest,
    base: Lock | None,
    first_golden: bool,
    staged: Path,
    lock: Lock,
    where: str,
) -> Lock:
    """A model's checks on the staged bytes, before anything lands: safety, quantization, the publisher's
    signature (recorded in the lock), and the adapter's binding or the first golden rendering."""
    check_safety(lock, request.allow_pickle, request.trust_remote_code, where=where)
    fetch = "The download is incomplete or corrupt: fetch the commit again, then pin it again."
    check_weights(staged, [f.path for f in lock.files], where, fetch)
    ggufinfo.check_quant(lock.gguf or {}, request.quant, where)
    if request.signature is not None:  # the publisher's signature, on exactly the staged bytes
        signed = check_publisher(staged, lock, request.signature, request.trust, where)  # type: ignore[arg-type]
        lock = replace(lock, signed=signed)
    if base:
        adapter.check_delivery(staged, base, where)  # an adapter renders through its base: no golden
    elif first_golden:
        write_golden(root, request.name, staged)  # from the staged copy: fails before anything lands
    return lock


def stage(
    root: Path,
    request: Fetch,
    target: Path,
    select: Callable[[list[str], str], list[str]],
    check: Callable[[Path, Lock, str], Lock],
    base: BaseBinding | None = None,
    kind: str | None = None,
) -> Lock:
    """The one staging pipeline of models and datasets: resolve the commit, copy the `select`ed files
    under .evalpin/staging, lock them, prove a local directory's origin, run `check` on the staged bytes
    (it may add to the lock), and only then rename the tree onto `target`. The lock, not yet saved."""
    origin = upstream_of(root, request.repo_id, request.upstream, request.local_dir, kind or "model")
    commit = resolve_revision(origin, request.revision, request.resolve)
    where = f"{request.repo_id}@{commit}" + (" (dataset)" if kind == DATASET else "")
    delivery = origin.delivery(commit)
    delivery = replace(delivery, files=select(delivery.files, where))
    source = Source(
        repo_id=request.repo_id,
        revision=commit,
        requested=None if is_commit(request.revision) else request.revision,
        tokenizer_revision=None,
        upstream=request.upstream,
        local_dir=portable_local_dir(root, request.local_dir),
        repo_type=kind,
    )
    with staging_dir(root, request.name) as staged_name:
        staged = Path(staged_name)
        copy_delivery(delivery, staged)
        lock = build_lock(staged, request.name, source, base, kind)
        if isinstance(origin, LocalDirectory):  # checked on the staged bytes the lock just hashed
            hashed = {f.path: f.sha256 for f in lock.files}
            proof = origin.provenance(commit, staged, hashed, request.unverified_origin)
            lock = replace(lock, source=replace(source, provenance=proof))
        lock = check(staged, lock, where)
        replace_dir(staged, target)
    kill_point("pin.staged")
    return lock


def pin_dataset(root: Path, request: DataPinRequest) -> Lock:
    """Pin a Hub dataset repo's commit into eval/data/NAME: the model's path, with a dataset's roles,
    under the name's lock."""
    check_name(request.name, "dataset")
    check_repo_id(request.repo_id)
    with exclusive(root, request.name, f"pin-data {request.name}"):
        clean_and_say(root)
        return pin_dataset_locked(root, request)


def pin_dataset_locked(root: Path, request: DataPinRequest) -> Lock:
    """A re-pin is a pin over data conf/data/NAME.yaml already accepts (another digest): its new data
    waits for review. Without an accepted digest it is a first pin, also when an interrupted first pin
    left eval/data/NAME.lock.json behind: the rerun completes it."""
    if project.lock_path(root, request.name).exists():
        raise EvalpinError(
            f"--name {request.name}: a model is pinned under that name ({project.MODELS_DIR}/"
            f"{request.name}.lock.json); a dataset needs its own name, e.g. --name {request.name}-data."
        )
    lock = stage(
        root,
        request,
        project.data_dir(root, request.name),
        select=lambda files, where: select_data(files, request.include, where),
        check=partial(check_staged_dataset, request),
        kind=DATASET,
    )
    accepted = accepted_digest(root, request.name)
    save_lock(lock, project.data_lock_path(root, request.name))
    kill_point("pin_data.locked")
    write_data_conf(root, lock, request.trust_loading_script, accept=accepted in (None, lock.digest))
    kill_point("pin_data.accepted")
    project.run_dvc(root, "add", f"{project.DATA_DIR}/{request.name}")
    return lock


def check_staged_dataset(request: DataPinRequest, staged: Path, lock: Lock, where: str) -> Lock:
    """A dataset's checks on the staged bytes: a loading script only when trusted, and a card that makes
    the datasets library read only files of the lock."""
    check_data_safety(lock, request.trust_loading_script, where)
    card = Card.of(staged, Path(project.DATA_DIR) / request.name / CARD)
    card.check_read_path(staged, frozenset(lock.by_path()))
    return lock


def accepted_digest(root: Path, name: str) -> str | None:
    """The lock digest conf/data/NAME.yaml accepts; None for a dataset never pinned before."""
    return project.load_data_conf(root, name).get("lock_digest")


def select_data(files: list[str], include: tuple[str, ...], where: str) -> list[str]:
    """All files, or the card and loading scripts plus the data files matching an --include glob."""
    if not include:
        return files
    kept = [
        f for f in files if role_of(f, DATASET) != "data" or any(fnmatch.fnmatch(f, glob) for glob in include)
    ]
    if not any(role_of(f, DATASET) == "data" for f in kept):
        data = [f for f in files if role_of(f, DATASET) == "data"]
        raise EvalpinError(
            f"{where}: --include {list(include)} matches no data file; the repo has {data}. "
            "Pass a glob on those paths, e.g. --include 'CONFIG/test-*'."
        )
    return kept


def write_data_conf(root: Path, lock: Lock, trust_loading_script: bool, accept: bool) -> None:
    """conf/data/NAME.yaml: the pinned dataset the suite accepts (commit and lock digest) and its one
    safety switch, over what the file already holds. A re-pin (`accept` False) sets only the switch:
    verify refuses the new data until `verify-data NAME --accept`."""
    name, conf = lock.name, project.load_data_conf(root, lock.name)
    if accept:
        source = lock.source
        conf.update(name=name, repo_id=source.repo_id, revision=source.revision, lock_digest=lock.digest)
        conf["upstream"] = source.upstream
    conf["trust_loading_script"] = trust_loading_script
    header = (
        f"# Written by `evalpin pin-data`: the dataset the suite accepts (its commit and lock digest).\n"
        f"# Files: {project.DATA_DIR}/{name}/ (DVC); sha256s: {project.DATA_DIR}/{name}.lock.json.\n"
        f"# After a re-pin, verify refuses the new data until `evalpin verify-data {name} --accept`.\n"
    )
    write_atomic(project.data_conf_path(root, name), header + yaml.safe_dump(conf, sort_keys=False))


def accept_dataset(root: Path, lock: Lock) -> None:
    """Make conf/data/NAME.yaml accept the dataset as now pinned (after a re-pin was reviewed)."""
    where = str(project.data_conf_path(root, lock.name))
    trusted = switch(project.load_data_conf(root, lock.name), "trust_loading_script", where)
    write_data_conf(root, lock, trusted, accept=True)


def resolve_revision(upstream: Upstream | LocalDirectory, revision: str, resolve: bool) -> str:
    if is_commit(revision):
        return revision
    if not resolve:
        raise EvalpinError(
            f"--revision {revision!r} is a moving ref (a branch or tag), not a commit: what it names can "
            "change under the same name. Pass a full 40-hex commit, or add --resolve to pin the commit "
            "it points at now (the ref is recorded in the lock as `requested`)."
        )
    return upstream.resolve(revision)


def copy_delivery(delivery: Delivery, staged: Path) -> None:
    """Copy a delivery's files, following symlinks only inside its boundary (the cache repo or the dir)."""
    for name in delivery.files:
        entry = delivery.path / name
        target = entry.resolve()
        if not target.is_relative_to(delivery.boundary):
            raise EvalpinError(
                f"{entry}: symlink leaves {delivery.boundary} (it points at {target}). Refusing to copy "
                "it; repair the cache (`hf cache scan`) or fetch the commit again."
            )
        destination = staged / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, destination)


def staging_dir(root: Path, name: str) -> tempfile.TemporaryDirectory:
    base = root / project.STATE_DIR / "staging"
    base.mkdir(parents=True, exist_ok=True)
    # The staged tree is renamed into models/ on success, so cleanup must tolerate it being gone.
    return tempfile.TemporaryDirectory(dir=base, prefix=temp_prefix(name), ignore_cleanup_errors=True)
