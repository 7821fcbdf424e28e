"""Reproduce a revision from scratch in a scratch clone, and say whether it gives the recorded results.

The clone shares this repository's DVC cache (read-mostly, content-addressed), restores the delivery
(cache, remote or upstream, always verified), reruns the whole pipeline with `dvc repro -f`, and says
which level of reproduction (levels.py) the rerun reached against what the revision recorded: exact (exit
0), equivalent (exit 4) or differs (exit 1).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evalpin import signing
from evalpin.base import project
from evalpin.base.atomic import temp_prefix
from evalpin.base.errors import EvalpinError
from evalpin.base.leftovers import clean_and_say
from evalpin.config.compose import load_params
from evalpin.registry.tool_env import tool_for
from evalpin.results.levels import Level
from evalpin.results.sample_changes import outputs_at, outputs_in, reproduction_level
from evalpin.signing import load_policy
from evalpin.signing.release_tags import check_release_tag


@dataclass(frozen=True)
class Reproduction:
    rev: str
    commit: str
    level: Level  # results/levels.py: exact, equivalent or differs, and why
    signatures: tuple[str, ...] = ()  # what was checked before the pipeline ran
    tool: str = ""  # which evalpin ran it (registry/tool_env.py): the version the revision pinned


STEPS = 5


def step(number: int, text: str) -> None:
    """Progress on stderr, one line a step: a reproduction runs as long as the suite does."""
    print(f"reproduce [{number}/{STEPS}] {text}", file=sys.stderr, flush=True)


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, stream: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `cmd`; `stream`: echo its output as it comes (indented, on stderr), for the long steps."""
    if not stream:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    else:
        proc = streamed(cmd, cwd, env)
    if proc.returncode != 0:
        raise EvalpinError(
            f"`{' '.join(cmd)}` failed in {cwd}:\n{(proc.stdout + proc.stderr).strip()[-3000:]}"
        )
    return proc


def streamed(cmd: list[str], cwd: Path, env: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
    lines = []
    with subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        for line in proc.stdout or ():
            lines.append(line)
            print(f"    {line.rstrip()}", file=sys.stderr, flush=True)
    return subprocess.CompletedProcess(cmd, proc.returncode, "".join(lines), "")


def reproduce(root: Path, rev: str, public_keys: list[Path] | tuple[Path, ...] = ()) -> Reproduction:
    """A signed release (its tag's statement) is checked before anything runs: the statement and the
    files it covers in the clone, then the restored delivery against models/NAME.sig. The rerun is
    judged against the revision's record with results/levels.py (its samples from the DVC cache or remote)."""

    check_release_tag(root, rev)
    clean_and_say(root, state_only=True)  # a killed reproduction's scratch clone
    commit = run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], root).stdout.strip()
    recorded = outputs_at(root, commit)
    scratch_base = root / project.STATE_DIR / "reproduce"
    scratch_base.mkdir(parents=True, exist_ok=True)
    # named for this process: a killed reproduction's clone is removed by the next run (base/leftovers.py)
    with tempfile.TemporaryDirectory(dir=scratch_base, prefix=temp_prefix("clone")) as scratch:
        clone = Path(scratch) / "repo"
        step(1, f"cloning {rev} ({commit[:12]}) into a scratch clone")
        run(["git", "clone", "--quiet", "--no-checkout", str(root), str(clone)], root)
        run(["git", "checkout", "--quiet", "--detach", commit], clone)
        share_dvc_setup(root, clone)
        checked, statements = check_release_signatures(root, clone, rev, commit, list(public_keys))
        tool = tool_for(root, clone)  # the evalpin the revision pinned, not necessarily this one
        name = load_params(clone)["model"]["name"]
        step(2, f"restoring {name} and the pinned datasets (verified file by file) with {tool.says}")
        run([tool.python, "-m", "evalpin", "restore", name], clone, tool.env)
        for statement in statements:  # the restored delivery is what the release key signed
            checked.append(signing.verify_release_delivery(clone, statement, keys_for(root, public_keys)))
        step(3, "running the pipeline from scratch: dvc repro --force (verify, then every task)")
        run([tool.python, "-m", "dvc", "repro", "--force"], clone, tool.env, stream=True)
        step(4, "comparing with the recorded outputs (levels: exact, equivalent, differs)")
        level = reproduction_level(recorded, outputs_in(clone, "the rerun"))
    step(5, "done")
    return Reproduction(rev, commit, level, tuple(checked), tool.says)


def keys_for(root: Path, public_keys: list[Path] | tuple[Path, ...]) -> list[Path]:

    return list(public_keys) or list(load_policy(root).release_keys)


def check_release_signatures(
    root: Path, clone: Path, rev: str, commit: str, public_keys: list[Path]
) -> tuple[list[str], list[dict]]:
    """The signed releases at `commit` (REV itself when it is a release tag), verified in the clone."""

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
