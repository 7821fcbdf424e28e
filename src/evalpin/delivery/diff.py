"""What changed between two deliveries, in the words of their roles, and the version bump that implies.

Bump policy (semantic versioning of a delivery):
  major  the base model (repo id; for an adapter, also the base it is certified on) or the architecture
         (architectures, model_type) changed
  minor  weights, tokenizer, quantization or remote code changed: the model computes something else
  patch  only chat template, generation defaults, model config details, other files or runtime changed
A dataset's lock (kind: dataset): changed data or loading script is major (scores on it are not
comparable), and so is a card whose header changed what loads (configs, data_files, features: card.py);
a card edited elsewhere (prose, license, tags) is patch, and so are data files no suite task reads (a
config the suite does not evaluate, a file no config's data_files match).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from evalpin.base import project
from evalpin.base.errors import EvalpinError
from evalpin.base.hashing import sha256_files
from evalpin.base.table import columns
from evalpin.delivery.card import CARD, INFOS, Loading, loading_of
from evalpin.delivery.gguf_file import InsideChange, InsideDiff, diff_inside, is_gguf, read_info
from evalpin.delivery.lock import Lock, LockedFile, load_lock, parse_lock
from evalpin.delivery.roles import DATA_ROLES, DATASET, role_of
from evalpin.delivery.sources import git_blob_sha1, upstream_of
from evalpin.delivery.verify import ROLE_WORDS, SAME_WEIGHTS

MINOR_ROLES = {"weights", "tokenizer", "quantization", "remote_code"}
LOADING = "what the card loads (configs, data_files, features)"
UNREAD = "data no suite task reads"
MAJOR_DATA_ROLES = {"data", "loading_script"}
BUMPS = ("none", "patch", "minor", "major")


@dataclass(frozen=True)
class FileChange:
    path: str
    role: str
    status: str  # added, removed, changed
    before: str | None
    after: str | None


@dataclass(frozen=True)
class LockDiff:
    files: tuple[FileChange, ...]
    base_model_changed: bool
    architecture_changed: bool
    numerics_changed: bool  # quantization_config or dtype in config.json
    runtime_changed: dict[str, tuple[str, str]]
    inside: tuple[InsideDiff, ...] = ()  # changed GGUF files: what changed in their header and tensors
    loading_changed: bool = False  # a dataset's card changed what loads (configs, data_files, features)
    unread: frozenset[str] = frozenset()  # a dataset's changed data files that no suite task reads

    def _by_role(self) -> list[FileChange]:
        """File changes classified by their role: all but GGUF files whose inside says what changed and
        data files no suite task reads."""
        explained = {d.path for d in self.inside if d.changes} | self.unread
        return [c for c in self.files if c.path not in explained]

    def _inside(self) -> list[InsideChange]:
        return [c for d in self.inside for c in d.changes]

    @property
    def weights_identical(self) -> bool:
        tensors = {"weights", "quantization", "architecture"}
        roles = {c.role for c in self._by_role()}
        return (
            "weights" not in roles
            and not roles.intersection(DATA_ROLES)
            and not any(c.category in tensors for c in self._inside())
        )

    @property
    def categories(self) -> list[str]:
        roles = sorted({c.role for c in self._by_role()}, key=list(ROLE_WORDS).index)
        found = [ROLE_WORDS[r] for r in roles if r not in ("model_config", "other")]
        for change in self._inside():
            if change.category not in found and change.category != "metadata only":
                found.append(change.category)
        if self.unread:
            found.append(UNREAD)
        if self.loading_changed:
            found.insert(0, LOADING)
        if self.base_model_changed:
            found.insert(0, "base model")
        if self.architecture_changed:
            found.insert(0, "architecture")
        if self.numerics_changed and "quantization" not in found:
            found.append("quantization")
        if self.runtime_changed:
            found.append("runtime")
        if not found and self.files:
            found.append("metadata only")
        return found

    @property
    def bump(self) -> str:
        inside = {c.bump for c in self._inside()}
        data_changed = self.loading_changed or any(c.role in MAJOR_DATA_ROLES for c in self._by_role())
        if self.base_model_changed or self.architecture_changed or "major" in inside or data_changed:
            return "major"
        if self.numerics_changed or "minor" in inside or any(c.role in MINOR_ROLES for c in self._by_role()):
            return "minor"
        return "patch" if self.files or self.runtime_changed else "none"


def diff_files(before: dict[str, LockedFile], after: dict[str, LockedFile]) -> tuple[FileChange, ...]:
    changes = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old is None:
            changes.append(FileChange(path, new.role, "added", None, new.sha256))
        elif new is None:
            changes.append(FileChange(path, old.role, "removed", old.sha256, None))
        elif old.sha256 != new.sha256:
            changes.append(FileChange(path, new.role, "changed", old.sha256, new.sha256))
    return tuple(changes)


def gguf_inside(changes: tuple[FileChange, ...], before: Lock, after: dict) -> tuple[InsideDiff, ...]:
    """For each changed GGUF file with a summary on both sides: what changed inside it."""
    locked = before.gguf or {}
    return tuple(
        diff_inside(c.path, locked[c.path], after[c.path])
        for c in changes
        if c.status == "changed" and c.path in locked and c.path in after
    )


def diff_locks(a: Lock, b: Lock, reads: set[str] | None = None) -> LockDiff:
    """`reads`: for datasets, the configs the suite's catalog tasks read (None: unknown, all count)."""
    arch = ("architectures", "model_type")
    numerics = ("quantization_config", "dtype")  # inside config.json: the model computes something else
    files = diff_files(a.by_path(), b.by_path())
    dataset = a.kind == DATASET and b.kind == DATASET
    return LockDiff(
        files=files,
        base_model_changed=a.source.repo_id != b.source.repo_id or a.base != b.base,
        architecture_changed=any(a.model_config.get(k) != b.model_config.get(k) for k in arch),
        numerics_changed=any(a.model_config.get(k) != b.model_config.get(k) for k in numerics),
        runtime_changed={
            k: (a.runtime.get(k, "absent"), b.runtime.get(k, "absent"))
            for k in sorted(a.runtime.keys() | b.runtime.keys())
            if a.runtime.get(k) != b.runtime.get(k)
        },
        inside=gguf_inside(files, a, b.gguf or {}),
        loading_changed=dataset and loading_changed(files, a, b),
        unread=unread_files(files, a, b, reads) if dataset else frozenset(),
    )


def loading_changed(files: tuple[FileChange, ...], a: Lock, b: Lock) -> bool:
    """A card file changed, and what it loads is not proven the same (a lock pinned before locks
    recorded it, `loading`, cannot prove it: counted as changed)."""
    if not any(c.path in (CARD, INFOS) for c in files):
        return False
    return a.loading is None or b.loading is None or a.loading.header_sha256 != b.loading.header_sha256


def unread_files(files: tuple[FileChange, ...], a: Lock, b: Lock, reads: set[str] | None) -> frozenset[str]:
    """The changed data files that no suite task reads: no config of the card matches them on either
    side (the datasets library never loads them), or they are added to configs only that the suite does
    not evaluate (`reads` known). A changed or removed file of a config stays a data change: the lock's
    version says what its configs hold, whichever the suite reads today."""

    def unread(loading: Loading | None, path: str, added: bool) -> bool:
        configs = loading.configs_of(path) if loading is not None else None
        others = added and reads is not None and not set(configs or ()) & reads
        return configs is not None and (not configs or others)

    sides = {"added": (b,), "removed": (a,), "changed": (a, b)}
    return frozenset(
        c.path
        for c in files
        if c.role == "data" and all(unread(s.loading, c.path, c.status == "added") for s in sides[c.status])
    )


def load_lock_at(root: Path, spec: str, name: str, dataset: bool = False) -> Lock:
    """A lock from a file path, or models/NAME.lock.json (eval/data/NAME.lock.json for a dataset) at a
    git revision (tag, branch, commit)."""
    candidate = Path(spec)
    if candidate.suffix == ".json" and (root / candidate).is_file():
        return load_lock(root / candidate)
    rel = f"{project.DATA_DIR if dataset else project.MODELS_DIR}/{name}.lock.json"
    blob, reason = project.git_show(root, spec, rel)
    if blob is None:
        raise EvalpinError(
            f"{spec}: neither a lock file nor a git revision holding {rel} ({reason}). "
            "Give a path to a .lock.json, or a tag/commit where the model was pinned (see `git tag`)."
        )
    try:
        data = json.loads(blob)
    except ValueError as exc:  # not JSON, or not UTF-8
        raise EvalpinError(f"{spec}:{rel}: not valid JSON ({exc}).") from exc
    return parse_lock(data, f"{spec}:{rel}")


def name_from_spec(spec: str) -> str | None:
    """gto tags are NAME@vX.Y.Z (and NAME#stage#N): the model name is the part before '@' or '#'."""
    for sep in ("@", "#"):
        if sep in spec:
            return spec.split(sep, 1)[0]
    return None


def format_diff(diff: LockDiff) -> str:
    rows = [("file", "role", "change", "before", "after")]
    rows += [(c.path, c.role, c.status, (c.before or "-")[:12], (c.after or "-")[:12]) for c in diff.files]
    rows += [(f"runtime:{k}", "runtime", "changed", v[0], v[1]) for k, v in diff.runtime_changed.items()]
    table = columns(rows)
    what = ", ".join(diff.categories) or "nothing"
    if diff.files and diff.weights_identical and not diff.base_model_changed:
        what += SAME_WEIGHTS
    inside = "".join(f"\n  {d}" for d in diff.inside)
    return f"{table}\nchanged: {what}{inside}\nsuggested bump: {diff.bump}"


def snapshot_entries(snapshot: Path, kind: str | None = None) -> dict[str, LockedFile]:
    """Lock entries for an upstream snapshot (hashed in place, through its cache symlinks)."""

    paths = sorted(p for p in snapshot.rglob("*") if p.is_file())
    digests = sha256_files(paths)
    return {
        p.relative_to(snapshot).as_posix(): LockedFile(
            p.relative_to(snapshot).as_posix(), p.stat().st_size, digests[p], role_of(p.name, kind)
        )
        for p in paths
    }


def hub_entries(
    repo_id: str, commit: str, pinned: dict[str, LockedFile], model_dir: Path
) -> dict[str, LockedFile]:
    """Lock entries for a Hub commit without downloading it: LFS files carry their sha256; small files
    carry a git blob id, compared with the pinned file's own git blob id."""
    from huggingface_hub import HfApi

    info = HfApi().model_info(repo_id, revision=commit, files_metadata=True)
    entries = {}
    for sibling in info.siblings:
        path = sibling.rfilename
        if sibling.lfs is not None:
            sha = sibling.lfs.sha256
        elif path in pinned and git_blob_sha1((model_dir / path).read_bytes()) == sibling.blob_id:
            sha = pinned[path].sha256
        else:
            sha = f"git-blob:{sibling.blob_id}"
        entries[path] = LockedFile(path, sibling.size or 0, sha, role_of(path))
    return entries


def check_upstream(
    root: Path,
    name: str,
    ref: str,
    upstream_dir: str | None = None,
    dataset: bool = False,
    reads: set[str] | None = None,
) -> tuple[Lock, str, LockDiff]:
    """Compare the pinned delivery with what the upstream's `ref` serves today: the upstream it was
    pinned from, or another huggingface_hub cache (`upstream_dir`, e.g. copied from a connected machine).
    `dataset`: NAME is a pinned dataset (eval/data/NAME); only the files it pinned are compared, and
    `reads` (the configs the suite reads) tells which of them count."""

    if dataset:
        return check_dataset_upstream(root, name, ref, upstream_dir, reads)
    lock = load_lock(project.lock_path(root, name))
    upstream = upstream_of(root, lock.source.repo_id, upstream_dir or lock.source.upstream)
    commit = upstream.resolve(ref)
    inside: tuple[InsideDiff, ...] = ()
    if upstream.cache_dir is None:  # the Hub: GGUF headers would need a download; files compare by sha256
        entries = hub_entries(lock.source.repo_id, commit, lock.by_path(), project.model_dir(root, name))
        changes = diff_files(lock.by_path(), pinned_only(entries, lock))
    else:
        snapshot = upstream.snapshot(commit)
        changes = diff_files(lock.by_path(), pinned_only(snapshot_entries(snapshot), lock))
        inside = gguf_inside(changes, lock, upstream_gguf(snapshot, changes, lock))
    return lock, commit, LockDiff(changes, False, False, False, {}, inside)


def check_dataset_upstream(
    root: Path, name: str, ref: str, upstream_dir: str | None, reads: set[str] | None = None
) -> tuple[Lock, str, LockDiff]:
    """A pinned dataset against a hub cache's `ref` (a Hub check would need each file's sha256: later)."""

    lock = load_lock(project.data_lock_path(root, name))
    upstream = upstream_of(root, lock.source.repo_id, upstream_dir or lock.source.upstream, None, DATASET)
    if upstream.cache_dir is None:
        raise EvalpinError(
            f"{lock.what}.lock.json: check-upstream --dataset reads a huggingface_hub cache; pass "
            "--upstream DIR (on a connected machine, `hf download --repo-type dataset` into one first)."
        )
    commit = upstream.resolve(ref)
    snapshot = upstream.snapshot(commit)
    served = snapshot_entries(snapshot, DATASET)
    locked = lock.by_path()  # an --include pin took some files: the others are not what it evaluates
    kept = tuple(e for p, e in sorted(served.items()) if p in locked)
    return lock, commit, diff_locks(lock, replace(lock, files=kept, loading=loading_of(snapshot)), reads)


def pinned_only(entries: dict[str, LockedFile], lock: Lock) -> dict[str, LockedFile]:
    """A GGUF pin chose one file of the repo: the other GGUF files (other quantizations) are not drift."""
    if not lock.gguf:
        return entries
    return {p: e for p, e in entries.items() if not is_gguf(p) or p in lock.gguf}


def upstream_gguf(snapshot: Path, changes: tuple[FileChange, ...], lock: Lock) -> dict:
    """Summaries of the upstream's changed GGUF files that the lock summarized (read in the snapshot)."""

    locked = lock.gguf or {}
    return {
        c.path: read_info(snapshot / c.path) for c in changes if c.status == "changed" and c.path in locked
    }
