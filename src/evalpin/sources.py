"""Where deliveries come from: a Hugging Face repo at an immutable commit, read through huggingface_hub.

An upstream is either the Hub itself or a huggingface_hub cache directory (the demo's stand-in for the
Hub, or an air-gapped mirror): the same layout, the same library, so the code path is the one users run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from evalpin.errors import EvalpinError

COMMIT = re.compile(r"^[0-9a-f]{40}$")


def is_commit(revision: str) -> bool:
    return bool(COMMIT.match(revision))


def git_blob_sha1(data: bytes) -> str:
    """The id git (and the Hub, for non-LFS files) gives a file's content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Upstream:
    repo_id: str
    cache_dir: Path | None  # None: the Hugging Face Hub (needs HF_HUB_OFFLINE=0 and network)

    def describe(self) -> str:
        return (
            f"{self.repo_id} in {self.cache_dir}"
            if self.cache_dir
            else f"{self.repo_id} on the Hugging Face Hub"
        )

    def refs(self) -> dict[str, str]:
        """Every named ref the upstream knows (branch or tag -> commit)."""
        if self.cache_dir is None:
            from huggingface_hub import HfApi

            api = HfApi()
            found = api.list_repo_refs(self.repo_id)
            return {ref.name: ref.target_commit for ref in (*found.branches, *found.tags)}
        from huggingface_hub import scan_cache_dir

        for repo in scan_cache_dir(self.cache_dir).repos:
            if repo.repo_id == self.repo_id and repo.repo_type == "model":
                return {ref: rev.commit_hash for ref, rev in repo.refs.items()}
        raise EvalpinError(
            f"{self.cache_dir}: no model repo {self.repo_id!r} in this huggingface_hub cache. "
            "Check the model's `repo_id` and `upstream` in conf/model/, or populate the cache."
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
            return Path(snapshot_download(self.repo_id, revision=commit, cache_dir=self.cache_dir))
        except LocalEntryNotFoundError as exc:
            raise EvalpinError(
                f"{self.describe()}: commit {commit} is not available offline. Populate the cache, or run "
                "online with HF_HUB_OFFLINE=0 if this machine may reach the Hub."
            ) from exc


def upstream_of(root: Path, repo_id: str, upstream: str | None) -> Upstream:
    return Upstream(repo_id, None if upstream is None else (root / upstream))
