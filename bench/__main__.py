"""`python -m bench`: measure, then write docs/performance.md. See bench/__init__.py."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from bench import (
    dvc_bench,
    eval_bench,
    gate_bench,
    machine,
    numerics_bench,
    real_bench,
    report,
    slurm_bench,
    suite_bench,
    task_bench,
)
from bench.config import GIB, SCALES, Scale
from bench.report import Section
from bench.verify_bench import VerifyBench

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
    "startup",
    "repro",
    "eval",
    "catalog",
    "suites",
    "tasks",
    "numerics",
    "gate",
    "slurm",
    "real",
    "verify",
    "dvc",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default=os.environ.get("BENCH_SCALE") or "full")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=Path(os.environ.get("BENCH_SCRATCH") or tempfile.gettempdir()),
        help="where the synthetic deliveries go (a fresh subdirectory, deleted at the end)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--merge", action="store_true", help="replace only the measured sections of --out, keep the others"
    )
    return parser.parse_args()


def check_scratch(base: Path, scale: Scale) -> None:
    """Fail before writing anything if the scratch is inside the repository or too small."""
    base.mkdir(parents=True, exist_ok=True)
    if base.resolve().is_relative_to(ROOT):
        raise SystemExit(f"bench: scratch {base} is inside the repository; pass --scratch outside it.")
    need, free = scale.scratch_bytes(), shutil.disk_usage(base).free
    if free < need + 2 * GIB:
        raise SystemExit(
            f"bench: {base} has {free / GIB:.1f} GiB free; scale {scale.name!r} needs "
            f"{need / GIB:.1f} GiB + 2 GiB margin. Use BENCH_SCALE=small or --scratch elsewhere."
        )


def plan(scale: Scale, scratch: Path) -> dict[str, Callable[[], list[Section]]]:
    """Each section's measurement, in the order run: the cheap ones before the page cache fills up."""
    verify: list[VerifyBench] = []

    def verify_sections() -> list[Section]:
        verify.append(VerifyBench(scratch, scale))
        return verify[0].sections()

    def dvc_sections() -> list[Section]:
        bench = verify[0] if verify else VerifyBench(scratch, scale)
        delivery = bench.growth[scale.dvc_shards]
        return [dvc_bench.cache_types(delivery, scratch, scale.repeats)]

    return {
        "startup": lambda: [eval_bench.startup(ROOT, scale.startup_repeats)],
        "repro": lambda: [dvc_bench.noop_repro(ROOT, scale.startup_repeats)],
        "eval": lambda: [eval_bench.evaluation(ROOT, scratch, scale.eval_repeats)],
        "catalog": lambda: [eval_bench.catalog_evaluation(ROOT, scratch, scale.eval_repeats)],
        "suites": lambda: [suite_bench.full_size(ROOT, scratch)],
        "tasks": lambda: [  # at full size a run is minutes: one of each
            task_bench.task_unit(
                ROOT, scratch, scale.name == "small", 1 if scale.name == "full" else scale.eval_repeats
            )
        ],
        "numerics": lambda: numerics_bench.full_size(  # small: 5 (demo) and 1 (SmolLM2) question a subject
            ROOT,
            scratch,
            2 if scale.name == "full" else 1,
            **({} if scale.name == "full" else {"demo_limit": 5, "real_limit": 1}),
        ),
        "gate": lambda: [gate_bench.gate_power(ROOT, scratch, None if scale.name == "full" else 5)],
        "slurm": lambda: [slurm_bench.slurm_vs_local(ROOT, scratch, scale.eval_repeats)],
        "real": lambda: [real_bench.real_model(scratch, scale.eval_repeats)],
        "verify": verify_sections,
        "dvc": dvc_sections,
    }


def preamble(scale: Scale, started: str, elapsed: float) -> str:
    return (
        f"Written by `make bench` (`python -m bench --scale {scale.name}`) on {date.today()}; do not edit by "
        f"hand. Every figure is a ratio to a reference measured in the same run, so it carries over to "
        f"other machines better than the seconds do. Load average at start {started}, at end "
        f"{machine.load_average()} (the machine may be shared: the interleaved runs and the CPU-time "
        f"columns limit, not remove, that noise). The run took {elapsed / 60:.1f} minutes; the synthetic "
        f"deliveries were generated into a scratch directory and deleted."
    )


def main() -> None:
    args = parse_args()
    scale, wanted = SCALES[args.scale], args.only.split(",")
    check_scratch(args.scratch, scale)
    scratch = Path(tempfile.mkdtemp(prefix="evalpin-bench-", dir=args.scratch))
    started, start = machine.load_average(), time.monotonic()
    try:
        described = machine.describe(ROOT, scratch)
        sections = []
        for name, measure in plan(scale, scratch).items():
            if name in wanted:
                print(f"bench: {name} ...", flush=True)
                sections += measure()
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    text = report.render(
        "Performance", preamble(scale, started, time.monotonic() - start), described, sections
    )
    if args.merge and args.out.is_file():
        note = (
            f"Re-measured on {date.today()} with `--only {args.only} --merge` (load average at start "
            f"{started}, at end {machine.load_average()}): {', '.join(s.title for s in sections)}."
        )
        text = report.merge(args.out.read_text(), note, sections)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"bench: wrote {args.out}")


if __name__ == "__main__":
    main()
