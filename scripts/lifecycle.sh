#!/usr/bin/env bash
# The life of a pinned model, end to end and offline, in a scratch clone of this repository:
#   pin r1 -> release v1.0.0 -> prod; upstream main moves to r2 (template-only drift) -> check-upstream
#   flags it -> re-pin -> compare -> v1.0.1 (patch); r3 fine-tune -> v1.1.0 (minor); roll back to v1.0.0
#   and reproduce it exactly.
#
#   scripts/lifecycle.sh [SCRATCH_DIR]     (default: a new temporary directory; run `make setup` first)
set -euo pipefail

template=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mkdir -p "${1:-$(mktemp -d)}" && cd "${1:-$_}" && pwd)
export PATH="$template/.venv/bin:$PATH"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DVC_NO_ANALYTICS=1
export HF_HOME="$template/.cache/huggingface"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
expect_exit() {  # expect_exit CODE CMD...: run CMD, fail unless it exits with CODE
  local want=$1 got=0; shift
  "$@" || got=$?
  [ "$got" -eq "$want" ] || { echo "expected exit $want from '$*', got $got" >&2; exit 1; }
}
move_upstream_main() {  # the publisher moves `main` to another commit: same name, new delivery
  local hub=$scratch/hub/models--evalpin--demo-tiny
  cp "$hub/refs/$1" "$hub/refs/main"
}
repin_and_evaluate() {
  evalpin pin evalpin/demo-tiny --revision main --resolve --upstream "$scratch/hub"
  evalpin compose
  dvc repro
}

step "Scratch clone of the template in $scratch, with its own upstream copy and DVC remote"
git clone --quiet "$template" "$scratch/repo"
cp -a "$template/demo/hub" "$scratch/hub"
cd "$scratch/repo"
git config user.email walkthrough@evalpin.invalid
git config user.name "evalpin walkthrough"
evalpin remote init-local "$scratch/remote"
evalpin restore demo-tiny

step "1. The upstream publishes r1; pin what its main serves today, evaluate, release v1.0.0, promote"
move_upstream_main r1
repin_and_evaluate
git add -A && git commit --quiet -m "Pin demo-tiny r1 and its baseline"
evalpin release demo-tiny --bump major -m "baseline on r1"
evalpin promote demo-tiny v1.0.0 --stage prod

step "2. The upstream's main moves to r2 (new chat template and generation defaults, same weights)"
move_upstream_main r2
expect_exit 1 evalpin check-upstream demo-tiny

step "3. Re-pin r2: the golden prompt renderings catch the template change; look, then accept"
repin_and_evaluate || true  # verify stops the pipeline: the prompts now render differently
expect_exit 1 evalpin verify demo-tiny
evalpin golden demo-tiny --accept
dvc repro
evalpin diff demo-tiny@v1.0.0 models/demo-tiny.lock.json
compare_exit=0
evalpin compare --baseline demo-tiny@v1.0.0 || compare_exit=$?
[ "$compare_exit" -ne 2 ] || { echo "compare: usage error" >&2; exit 1; }
evalpin outputs-diff demo-tiny@v1.0.0 workspace | tail -n 5
git add -A && git commit --quiet -m "Re-pin demo-tiny r2 (template-only drift)"
evalpin release demo-tiny -m "r2: new chat template and generation defaults"

step "4. r3, a fine-tune with new weights"
move_upstream_main r3
repin_and_evaluate
git add -A && git commit --quiet -m "Re-pin demo-tiny r3 (fine-tune)"
evalpin release demo-tiny -m "r3: fine-tune"
gto show demo-tiny

step "5. Roll back: restore v1.0.0 exactly, then reproduce its scores from scratch"
git checkout --quiet demo-tiny@v1.0.0
dvc checkout --force
evalpin verify demo-tiny --full
evalpin reproduce demo-tiny@v1.0.0

step "Done: v1.0.0 (prod), v1.0.1 (patch), v1.1.0 (minor); v1.0.0 restored and reproduced"
git tag --list 'demo-tiny*'
