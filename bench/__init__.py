"""The performance benchmark harness (`make bench`): every figure is a ratio to a reference from the same run.

Run `python -m bench --help`. It writes docs/performance.md; the synthetic deliveries it measures live in a
scratch directory outside the repository and are deleted at the end.
"""

# The tests' support package (tests/support: scratch template repos, the real upstream) serves the
# benchmarks too: `make setup` installs it as a development package (tests/pyproject.toml).
