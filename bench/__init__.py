"""The performance benchmark harness (`make bench`): every figure is a ratio to a reference from the same run.

Run `python -m bench --help`. It writes docs/performance.md; the synthetic deliveries it measures live in a
scratch directory outside the repository and are deleted at the end.
"""

import sys
from pathlib import Path

# The tests' support package (tests/support: scratch template repos, the real upstream) serves the
# benchmarks too; `python -m bench` runs from the repository root, where tests/ is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
