"""DVC experiments by the names `dvc exp show` prints (`ovoid-lush`), and keeping one in conf/.

An experiment is a git commit DVC keeps under refs/exps/<2 hex>/<38 hex of its baseline>/<name>, not a
branch or tag, so `git show ovoid-lush:...` fails. `resolve` turns such a name into its ref wherever
a git revision is read (compare, outputs-diff); a real revision of that name wins.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from evalpin.base import project
from evalpin.base.errors import EvalpinError

EXPS_REFS = "refs/exps"
WORKSPACE = "workspace"  # not a revision: the files on disk (compare, outputs-diff)


def is_git_revision(root: Path, rev: str) -> bool:
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def experiment_refs(root: Path) -> dict[str, list[str]]:
    """name -> its full refs under refs/exps (DVC's own bookkeeping, refs/exps/exec/..., left out)."""
    listed = project.git(root, "for-each-ref", "--format=%(refname)", EXPS_REFS)
    found: dict[str, list[str]] = {}
    for ref in listed.split():
        parts = ref.split("/")
        if len(parts) == 5 and parts[2] != "exec":  # refs exps XX YYYY... NAME
            found.setdefault(parts[-1], []).append(ref)
    return found


def resolve(root: Path, rev: str) -> str:
    """`rev` itself when git knows it; else the ref of the DVC experiment of that name; else `rev`
    unchanged (the caller's own error then names it)."""
    if rev == WORKSPACE or is_git_revision(root, rev):
        return rev
    refs = experiment_refs(root).get(rev, [])
    if len(refs) > 1:
        raise EvalpinError(
            f"{rev}: {len(refs)} DVC experiments have this name (on different baselines): "
            + ", ".join(refs)
            + ". Give one of these refs instead."
        )
    return refs[0] if refs else rev


def apply(root: Path, name: str) -> None:
    """`dvc exp apply NAME`: the experiment's params.yaml, dvc.lock and outputs into the workspace."""
    if not experiment_refs(root).get(name) and not is_git_revision(root, name):
        known = ", ".join(sorted(experiment_refs(root))) or "none"
        raise EvalpinError(
            f"{name}: no DVC experiment of that name (experiments here: {known}); `dvc exp show` lists them."
        )
    project.run_dvc(root, "exp", "apply", name)
