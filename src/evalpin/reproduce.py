"""Reproduce a revision from scratch in a scratch clone, and say whether it gives the recorded results.

The clone shares this repository's DVC cache (read-mostly, content-addressed), restores the delivery
(cache, remote or upstream, always verified), reruns the whole pipeline with `dvc repro -f`, and compares
eval/metrics.json and the output fingerprint with what the revision recorded in git.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evalpin import project
from evalpin.compose import load_params
from evalpin.errors import EvalpinError
from evalpin.gate import read_at
from evalpin.paths import FINGERPRINT_FILE, METRICS_FILE


@dataclass(frozen=True)
class Reproduction:
    rev: str
    commit: str
    differences: tuple[str, ...]
    signatures: tuple[str, ...] = ()  # what was checked before the pipeline ran

    @property
    def identical(self) -> bool:
        return not self.differences


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise EvalpinError(
            f"`{' '.join(cmd)}` failed in {cwd}:\n{(proc.stdout + proc.stderr).strip()[-3000:]}"
        )
    return proc


def reproduce(root: Path, rev: str, public_keys: list[Path] | tuple[Path, ...] = ()) -> Reproduction:
    """A signed release (its tag's statement) is checked before anything runs: the statement and the
    files it covers in the clone, then the restored delivery against models/NAME.sig."""
    from evalpin import signing

    commit = run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], root).stdout.strip()
    recorded_metrics = read_at(root, commit, METRICS_FILE)
    recorded_fingerprint = read_at(root, commit, FINGERPRINT_FILE)
    scratch_base = root / project.STATE_DIR / "reproduce"
    scratch_base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_base) as scratch:
        clone = Path(scratch) / "repo"
        run(["git", "clone", "--quiet", "--no-checkout", str(root), str(clone)], root)
        run(["git", "checkout", "--quiet", "--detach", commit], clone)
        share_dvc_setup(root, clone)
        checked, statements = check_release_signatures(root, clone, rev, commit, list(public_keys))
        # the revision's own evalpin (its src/ first on the path), not the one installed in .venv
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(clone / "src"), os.environ.get("PYTHONPATH", "")]),
        }
        run([sys.executable, "-m", "evalpin", "restore", load_params(clone)["model"]["name"]], clone, env)
        for statement in statements:  # the restored delivery is what the release key signed
            checked.append(signing.verify_release_delivery(clone, statement, keys_for(root, public_keys)))
        run([sys.executable, "-m", "dvc", "repro", "--force"], clone, env)
        metrics = json.loads((clone / METRICS_FILE).read_text())
        fingerprint = json.loads((clone / FINGERPRINT_FILE).read_text())
    return Reproduction(
        rev,
        commit,
        tuple(differences(recorded_metrics, recorded_fingerprint, metrics, fingerprint)),
        tuple(checked),
    )


def keys_for(root: Path, public_keys: list[Path] | tuple[Path, ...]) -> list[Path]:
    from evalpin.signing import load_policy

    return list(public_keys) or list(load_policy(root).release_keys)


def check_release_signatures(
    root: Path, clone: Path, rev: str, commit: str, public_keys: list[Path]
) -> tuple[list[str], list[dict]]:
    """The signed releases at `commit` (REV itself when it is a release tag), verified in the clone."""
    from evalpin import signing

    tags = [rev] if rev in signing.release_tags_at(root, commit) else signing.release_tags_at(root, commit)
    signed = [
        t for t in tags if signing.envelope_from_message(signing.read_tag_message(root, t), t) is not None
    ]
    if not signed:
        if public_keys:
            raise EvalpinError(
                f"reproduce {rev} --public-key: no signed release tag points at {commit[:12]}; "
                "nothing to check."
            )
        return [], []
    keys = keys_for(root, public_keys)
    checked, statements = [], []
    for tag in signed:
        statements.append(signing.verify_release(clone, tag, keys, workspace=True))
        checked.append(f"{tag}: signed release statement verified before the run")
    return checked, statements


def share_dvc_setup(root: Path, clone: Path) -> None:
    """The clone uses this repository's DVC cache and its local remote settings (.dvc/config.local)."""
    dvc = [sys.executable, "-m", "dvc"]
    run([*dvc, "cache", "dir", "--local", str(root / ".dvc" / "cache")], clone)
    local_config = root / ".dvc" / "config.local"
    if local_config.is_file():
        (clone / ".dvc" / "config.local").write_text(local_config.read_text())


def differences(metrics_a: dict, fingerprint_a: dict, metrics_b: dict, fingerprint_b: dict) -> list[str]:
    found = []
    for task in sorted(metrics_a["tasks"].keys() | metrics_b["tasks"].keys()):
        a, b = metrics_a["tasks"].get(task), metrics_b["tasks"].get(task)
        if a != b:
            found.append(f"{task}: recorded {a}, reproduced {b}")
    if fingerprint_a.get("output_fingerprint") != fingerprint_b.get("output_fingerprint"):
        changed = [
            t
            for t, row in fingerprint_a["suite"]["tasks"].items()
            if row.get("outputs_sha256") != fingerprint_b["suite"]["tasks"].get(t, {}).get("outputs_sha256")
        ]
        found.append(f"output fingerprint differs (greedy outputs changed in: {', '.join(changed) or '?'})")
    return found
