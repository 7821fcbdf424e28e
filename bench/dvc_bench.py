"""DVC costs: pinning (`dvc add`) and restoring (`dvc checkout`) a delivery with each cache.type, and a
no-op `dvc repro` of the demo pipeline. Real dvc, in throwaway git+dvc repositories under the scratch dir.

reflink is not measured: ext4 cannot do it (DVC's default `reflink,copy` falls back to copy there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench import report
from bench.eval_bench import offline_env
from bench.measure import CommandFailed, Run, interleaved, median_wall, run
from bench.report import Section, Verdict
from bench.verify_bench import Delivery, verify

CACHE_TYPES = ("copy", "hardlink", "symlink")
REPRO_LIMIT_S = 1.0  # issue 35: a no-op `dvc repro` (verify re-checks every file) under 1 s


def dvc(repo: Path, *args: str) -> Run:
    return run([sys.executable, "-m", "dvc", *args], cwd=repo, env=offline_env(repo))


def unique_bytes(directory: Path) -> int:
    """Disk blocks under `directory`, each inode counted once (hard links share their blocks)."""
    seen, total = set(), 0
    for parent, _, names in os.walk(directory):
        for name in names:
            st = os.lstat(os.path.join(parent, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def new_repo(path: Path, cache_type: str) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    dvc(path, "init", "-q")
    dvc(path, "config", "core.site_cache_dir", str(path / ".site-cache"))
    dvc(path, "config", "cache.type", cache_type)
    return path


def pin_and_restore(delivery: Delivery, repo: Path) -> dict[str, float | str]:
    """Copy the delivery in (the reference), `dvc add` it, delete it, `dvc checkout` it, verify it."""
    model = repo / "model"
    copy = run(["cp", "-r", "--reflink=never", delivery.path, model])
    base = unique_bytes(repo)
    add = dvc(repo, "add", "-q", "model")
    after_add = unique_bytes(repo) - base
    shutil.rmtree(model)
    checkout = dvc(repo, "checkout", "-q")
    after_checkout = unique_bytes(repo) - base
    try:
        verify(Delivery(model, delivery.lock, repo / "state.json", 0, 0, 0))
        verdict = "verified"
    except CommandFailed as exc:
        verdict = "refused: symlinks" if "symlink" in str(exc) else "failed"
    return {
        "copy": copy.wall,
        "add": add.wall,
        "checkout": checkout.wall,
        "add_disk": after_add,
        "checkout_disk": after_checkout,
        "verify": verdict,
    }


def cache_types(delivery: Delivery, scratch: Path, repeats: int) -> Section:
    md5 = median_wall(
        interleaved({"md5": lambda: run(["md5sum", *sorted(delivery.path.iterdir())])}, repeats)["md5"]
    )
    rows = []
    for cache_type in CACHE_TYPES:
        results = []
        for i in range(repeats):
            repo = new_repo(scratch / f"dvc-{cache_type}-{i}", cache_type)
            results.append(pin_and_restore(delivery, repo))
            shutil.rmtree(repo)
        rows.append(_cache_row(cache_type, results, delivery.nbytes, md5))
    return Section(
        "Pin and restore with each DVC cache.type",
        f"`dvc add` then (after deleting the workspace copy) `dvc checkout` of a {delivery.nbytes / 1e9:.2f} "
        f"GB delivery ({delivery.files} files) in a fresh git+dvc repository per run; medians of {repeats}. "
        f"References from the same run: `cp -r` of the delivery and `md5sum` of its files "
        f"({report.seconds(md5)}; DVC hashes with md5). 'extra disk' is the disk used beyond one copy of "
        "the delivery, each inode counted once. 'evalpin verify': does the restored workspace verify.",
        [
            "cache.type",
            "cp -r (ref)",
            "dvc add",
            "add / cp",
            "extra disk after add",
            "dvc checkout",
            "checkout / cp",
            "extra disk after checkout",
            "evalpin verify",
        ],
        rows,
        notes=[
            "hardlink and symlink leave the workspace read-only and cost no second copy; copy doubles the "
            "disk. evalpin refuses symlinks in a model directory (they can point outside it), so with "
            "`cache.type symlink` the delivery must be restored with `dvc checkout --relink` under "
            "copy or hardlink before it can be verified. Recommended for large deliveries: hardlink.",
        ],
    )


def _cache_row(cache_type: str, results: list[dict], nbytes: int, md5: float) -> list[str]:
    def med(key: str) -> float:
        values = sorted(float(r[key]) for r in results)
        return values[len(values) // 2]

    return [
        cache_type,
        report.seconds(med("copy")),
        report.seconds(med("add")),
        report.ratio(med("add") / med("copy")),
        _disk(med("add_disk"), nbytes),
        report.seconds(med("checkout")),
        report.ratio(med("checkout") / med("copy")),
        _disk(med("checkout_disk"), nbytes),
        str(results[-1]["verify"]),
    ]


def _disk(extra: float, nbytes: int) -> str:
    return f"{extra / 1e9:.2f} GB ({extra / nbytes:.2f}x)"


def noop_repro(root: Path, repeats: int) -> Section:
    """`dvc repro` of the demo, which must already be up to date: it must not run (and rewrite) anything."""
    status = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    always = ["always changed"]  # the verify stage's, on every `dvc repro`
    if status.returncode != 0 or any(v != always for v in json.loads(status.stdout or "{}").values()):
        return Section(
            "No-op `dvc repro` of the demo",
            "Skipped: `dvc status` reports changes in this checkout, so `dvc repro` would run the pipeline "
            "and rewrite its outputs. Run `make demo` (or commit the change) first.",
            [],
        )
    runs = interleaved(
        {
            "version": lambda: dvc(root, "--version"),
            "status": lambda: dvc(root, "status"),
            "repro": lambda: dvc(root, "repro"),
        },
        repeats,
    )
    ref, status, repro = (median_wall(runs[name]) for name in ("version", "status", "repro"))
    return Section(
        "No-op `dvc repro` of the demo",
        f"`dvc repro` in this repository with everything up to date; references: `dvc --version` (DVC's own "
        f"start-up) and `dvc status` (DVC's check of the pipeline, without running the verify stage's "
        f"`evalpin verify`). Medians of {repeats} interleaved runs.",
        ["command", "wall", "vs dvc --version"],
        [
            ["`dvc --version` (ref)", report.seconds(ref), "1.00x"],
            ["`dvc status`", report.seconds(status), report.ratio(status / ref)],
            ["`dvc repro` (no-op)", report.seconds(repro), report.ratio(repro / ref)],
        ],
        [
            Verdict(
                f"no-op `dvc repro` < {REPRO_LIMIT_S:.0f} s",
                report.seconds(repro),
                repro < REPRO_LIMIT_S,
                "Most of it is DVC's own (the `dvc status` row); the rest is the verify stage.",
            )
        ],
    )
