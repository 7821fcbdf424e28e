"""Where deliveries come from: a Hugging Face repo at an immutable commit, read through huggingface_hub.

An upstream is either the Hub itself or a huggingface_hub cache directory (the demo's stand-in for the
Hub, or an air-gapped mirror): the same layout, the same library, so the code path is the one users run.
A plain local directory (`hf download --local-dir`, or files carried across an air gap) is the third
kind: its commit is proven by huggingface_hub's download metadata, or asserted by the user and recorded so.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from evalpin.base.errors import EvalpinError

COMMIT = re.compile(r"^[0-9a-f]{40}$")


def is_commit(revision: str) -> bool:
    return bool(COMMIT.match(revision))


def git_blob_sha1(data: bytes) -> str:
    """The id git (and the Hub, for non-LFS files) gives a file's content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """Files of one commit on disk: `files` relative to `path`; symlinks may not leave `boundary`."""

    path: Path
    boundary: Path
    files: list[str]


@dataclass(frozen=True)
class Upstream:
    repo_id: str
    cache_dir: Path | None  # None: the Hugging Face Hub (needs HF_HUB_OFFLINE=0 and network)
    repo_type: str = "model"  # or "dataset"

    def describe(self) -> str:
        return (
            f"{self.repo_id} in {self.cache_dir}"
            if self.cache_dir
            else f"{self.repo_id} on the Hugging Face Hub"
        )

    @property
    def conf_group(self) -> str:
        return "data" if self.repo_type == "dataset" else "model"

    def refs(self) -> dict[str, str]:
        """Every named ref the upstream knows (branch or tag -> commit)."""
        if self.cache_dir is None:
            from huggingface_hub import HfApi
            from huggingface_hub.errors import OfflineModeIsEnabled

            try:
                found = HfApi().list_repo_refs(self.repo_id, repo_type=self.repo_type)
            except OfflineModeIsEnabled as exc:
                raise EvalpinError(
                    f"{self.describe()}: the Hub is unreachable in offline mode (HF_HUB_OFFLINE=1, evalpin's "
                    "default: nothing leaves this machine unless you say so). To ask the Hub, rerun the same "
                    "command with HF_HUB_OFFLINE=0 in front; on an air-gapped machine, point it at a "
                    "huggingface_hub cache copied from a connected machine with --upstream DIR."
                ) from exc
            return {ref.name: ref.target_commit for ref in (*found.branches, *found.tags)}
        from huggingface_hub import scan_cache_dir

        for repo in scan_cache_dir(self.cache_dir).repos:
            if repo.repo_id == self.repo_id and repo.repo_type == self.repo_type:
                return {ref: rev.commit_hash for ref, rev in repo.refs.items()}
        raise EvalpinError(
            f"{self.cache_dir}: no {self.repo_type} repo {self.repo_id!r} in this huggingface_hub cache. "
            f"Check the `repo_id` and `upstream` in conf/{self.conf_group}/, or populate the cache."
        )

    def resolve(self, ref: str) -> str:
        """The commit a branch or tag points at now."""
        if is_commit(ref):
            return ref
        refs = self.refs()
        if ref not in refs:
            known = ", ".join(sorted(refs)) or "none"
            raise EvalpinError(f"{self.describe()}: no ref named {ref!r} (known refs: {known}).")
        return refs[ref]

    def snapshot(self, commit: str) -> Path:
        """The directory holding the delivery at `commit` (downloaded only when online and on the Hub)."""
        if not is_commit(commit):
            raise EvalpinError(f"refusing to fetch {commit!r}: only a full 40-hex commit is immutable.")
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            return Path(
                snapshot_download(
                    self.repo_id, revision=commit, cache_dir=self.cache_dir, repo_type=self.repo_type
                )
            )
        except LocalEntryNotFoundError as exc:
            raise EvalpinError(
                f"{self.describe()}: commit {commit} is not available offline. Populate the cache, or run "
                "online with HF_HUB_OFFLINE=0 if this machine may reach the Hub."
            ) from exc

    def delivery(self, commit: str) -> Delivery:
        snapshot = self.snapshot(commit)
        files = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if not p.is_dir())
        return Delivery(snapshot, snapshot.parent.parent.resolve(), files)  # models--ORG--NAME


# How a local directory's commit was established; recorded in the lock's source.provenance.
PROVEN, ASSERTED = "download-metadata", "asserted"
ASSERTED_ORIGIN = "commit asserted, not proven (pinned from a local directory with --unverified-origin)"


def asserted_origin(provenance: str | None) -> str | None:
    """What verify, the report, the page and a release say of a pin whose commit nothing proved."""
    return ASSERTED_ORIGIN if provenance == ASSERTED else None


def portable_local_dir(root: Path, local_dir: str | None) -> str | None:
    """--local-dir as a lock records it: relative to the repository when inside it, else only its folder
    name (a lock in git holds no machine's path)."""
    if local_dir is None:
        return None
    path = (root / local_dir).resolve()
    return path.relative_to(root.resolve()).as_posix() if path.is_relative_to(root.resolve()) else path.name


DOWNLOAD_METADATA = Path(".cache") / "huggingface"  # huggingface_hub's bookkeeping inside a --local-dir


@dataclass(frozen=True)
class LocalDirectory:
    repo_id: str
    path: Path

    def describe(self) -> str:
        return f"{self.repo_id} in the local directory {self.path}"

    def refs(self) -> dict[str, str]:
        raise EvalpinError(
            f"{self.describe()}: a plain directory has no branches or tags to resolve. Pass the full "
            "40-hex commit its files came from, or check the hub (or a hub cache) with --upstream."
        )

    def resolve(self, ref: str) -> str:
        return ref if is_commit(ref) else self.refs()[ref]

    def files(self) -> list[str]:
        """Relative POSIX paths of the delivery, without huggingface_hub's own bookkeeping."""
        skip = self.path / DOWNLOAD_METADATA
        return sorted(
            p.relative_to(self.path).as_posix()
            for p in self.path.rglob("*")
            if not p.is_dir() and not p.is_relative_to(skip)
        )

    def delivery(self, commit: str) -> Delivery:
        if not is_commit(commit):
            raise EvalpinError(f"refusing {commit!r}: only a full 40-hex commit is immutable.")
        if not self.path.is_dir():
            raise EvalpinError(f"{self.path}: local directory not found (pin --local-dir PATH).")
        return Delivery(self.path, self.path.resolve(), self.files())

    def provenance(self, commit: str, staged: Path, locked: dict[str, str], allow_unproven: bool) -> str:
        """PROVEN when huggingface_hub recorded every file as downloaded from `commit`, and the staged
        copy (`locked`: path -> its sha256, already hashed for the lock) has the bytes the hub served.
        ASSERTED, with `allow_unproven`, for a directory without any such record."""
        from huggingface_hub._local_folder import read_download_metadata

        folder = self.path / DOWNLOAD_METADATA / "download"
        recorded = [name for name in locked if (folder / f"{name}.metadata").is_file()]
        # reading a record takes a lock file beside it: look only where one exists, leave no .lock behind
        found = {
            name: read_download_metadata(self.path, name) if name in recorded else None for name in locked
        }
        if not any(found.values()):
            if allow_unproven:
                return ASSERTED
            raise EvalpinError(
                f"{self.path}: {missing_metadata(self.path)}, so "
                f"nothing here proves these files are {self.repo_id}@{commit}. Download with `hf download "
                f"{self.repo_id} --revision {commit} --local-dir DIR` (it records the commit and each file's "
                "hash), or, if you know where the files came from, pass --unverified-origin: the lock will "
                "say the commit was asserted, not proven."
            )
        for name, meta in found.items():
            if meta is None:
                raise EvalpinError(
                    f"{self.path / name}: no download metadata, or the file changed after it was "
                    f"downloaded (mtime later than the record). Download it again with `hf download "
                    f"{self.repo_id} {name} --revision {commit} --local-dir {self.path}`, or remove it."
                )
            if meta.commit_hash != commit:
                raise EvalpinError(
                    f"{self.path / name}: downloaded from commit {meta.commit_hash}, not {commit}. A local "
                    "directory must hold one commit; download it again with that --revision."
                )
            if hub_etag(staged / name, locked[name], meta.etag) != meta.etag:
                raise EvalpinError(
                    f"{self.path / name}: its bytes do not match the hash the hub served for it "
                    f"({meta.etag}); the file was altered after download. Download it again."
                )
        return PROVEN


def hub_etag(path: Path, sha256: str, etag: str) -> str:
    """The hub's etag for a file whose sha256 is known: the git blob id for plain files (40-hex etags),
    the sha256 itself for LFS files."""
    return git_blob_sha1(path.read_bytes()) if len(etag) == 40 else sha256


def upstream_of(
    root: Path, repo_id: str, upstream: str | None, local_dir: str | None = None, repo_type: str = "model"
) -> Upstream | LocalDirectory:
    if local_dir is not None:
        return LocalDirectory(repo_id, root / local_dir)
    return Upstream(repo_id, None if upstream is None else (root / upstream), repo_type)


def missing_metadata(path: Path) -> str:
    """Why a --local-dir has no download record: no bookkeeping folder, or one holding only the .lock files
    huggingface_hub takes before it downloads or reads a record (an interrupted download, or an earlier
    evalpin's check, left them) and no .metadata record."""
    folder = path / DOWNLOAD_METADATA / "download"
    files = [f for f in folder.rglob("*") if f.is_file()] if folder.is_dir() else []
    if not files:
        return f"no huggingface_hub download metadata ({DOWNLOAD_METADATA}/download/ is absent or empty)"
    if all(f.suffix == ".lock" for f in files):
        return (
            f"no huggingface_hub download metadata: {DOWNLOAD_METADATA}/download/ holds only {len(files)} "
            ".lock file(s), no .metadata (locks are taken before a download or a read; the record is written "
            "after a finished download)"
        )
    return f"no .metadata file in {DOWNLOAD_METADATA}/download/ names a file of this delivery"
