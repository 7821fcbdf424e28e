"""Run in a subprocess by the benchmark: verify one delivery against its lock, print one JSON line.

A separate process so that its peak RSS (read by the parent with wait4) is the verify's alone. `seconds` is
the time inside `verify_delivery`, without interpreter start-up and imports.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from evalpin.base.runtime import current_runtime
from evalpin.delivery.inventory import list_delivery
from evalpin.delivery.lock import load_lock
from evalpin.delivery.verify import verify_delivery


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("delivery", type=Path)
    parser.add_argument("lock", type=Path)
    parser.add_argument("state", type=Path)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--breakdown", action="store_true", help="also time the fast path's parts")
    args = parser.parse_args()
    lock = load_lock(args.lock)
    start = time.perf_counter()
    report = verify_delivery(args.delivery, lock, args.state, full=args.full)
    seconds = time.perf_counter() - start
    result = {"seconds": seconds, "ok": report.ok, "checked": report.files_checked}
    result["rehashed"] = report.files_rehashed
    if args.breakdown:
        result["parts"] = breakdown(args.delivery)
    print(json.dumps(result))


def breakdown(directory: Path) -> dict[str, float]:
    """Seconds for each step the stat-record fast path takes when nothing is re-hashed."""
    parts, start = {}, time.perf_counter()
    paths = list_delivery(directory)
    parts["list"], start = time.perf_counter() - start, time.perf_counter()
    for path in paths:
        os.stat(directory / path)
    parts["stat"], start = time.perf_counter() - start, time.perf_counter()
    current_runtime()
    parts["runtime check"] = time.perf_counter() - start
    return parts


if __name__ == "__main__":
    main()
