#!/usr/bin/env bash
# The life of a pinned model, end to end and offline, in a scratch clone of this repository:
#   pin r1 -> release v1.0.0 -> prod; a LoRA adapter on it -> demo-tiny-lora v1.0.0; upstream main moves
#   to r2 (template-only drift) -> check-upstream flags it -> re-pin -> compare -> v1.0.1 (patch);
#   r3 (new weights) -> v2.0.0, a major bump; the benchmark data upstream fixes answer keys in ai2_arc ->
#   check-upstream --dataset flags it -> re-pin -> verify refuses until accepted -> not comparable -> v2.0.1;
#   the adapter is refused until re-certified on the new base -> demo-tiny-lora v2.0.0; roll back to
#   v1.0.0 and reproduce both v1.0.0 releases exactly, each with the data it was measured on.
#   v1.0.0 is signed (a key made in SCRATCH_DIR/keys): model_signing's own CLI accepts it, and a clone
#   re-pinned behind its back is refused by `evalpin verify --signatures`.
#
#   scripts/lifecycle.sh [SCRATCH_DIR]     (default: a new temporary directory; run `make setup` first)
set -euo pipefail

template=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mkdir -p "${1:-$(mktemp -d)}" && cd "${1:-$_}" && pwd)
export PATH="$template/.venv/bin:$PATH"
set -a; source "$template/src/evalpin/base/offline.env"; set +a  # evalpin's offline environment
export HF_HOME="$template/$HF_HOME"  # offline.env's HF_HOME is relative to the project root

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
expect_exit() {  # expect_exit CODE CMD...: run CMD, fail unless it exits with CODE
  local want=$1 got=0; shift
  "$@" || got=$?
  [ "$got" -eq "$want" ] || { echo "expected exit $want from '$*', got $got" >&2; exit 1; }
}
move_upstream_main() {  # the publisher moves `main` to another commit: same name, new delivery
  local hub=$scratch/hub/${2:-models--evalpin--demo-tiny}
  cp "$hub/refs/$1" "$hub/refs/main"
}
repin_and_evaluate() {
  evalpin pin evalpin/demo-tiny --revision main --resolve --upstream "$scratch/hub"
  evalpin compose
  dvc repro
}
select_model() {  # select_model NAME: make NAME the model conf/ evaluates
  evalpin use "$1"
}
evaluate_model() {  # evaluate_model NAME: select it, then run the pipeline
  select_model "$1"
  dvc repro  # reruns: DVC keeps no run cache for stages with uncached outputs (eval/*.json)
}
pin_adapter() {  # pin_adapter REF: the demo LoRA at the upstream's REF, certified on demo-tiny as pinned now
  local commit
  commit=$(cat "$scratch/hub/models--evalpin--demo-tiny-lora/refs/$1")
  evalpin pin evalpin/demo-tiny-lora --revision "$commit" --upstream "$scratch/hub" --base demo-tiny
}

step "Scratch clone of the template in $scratch, with its own upstream copy and DVC remote"
git clone --quiet "$template" "$scratch/repo"
cp -a "$template/demo/hub" "$scratch/hub"
cd "$scratch/repo"
move_upstream_main d1 datasets--evalpin-demo--ai2_arc  # the benchmark data as pinned in the template
git config user.email walkthrough@evalpin.invalid
git config user.name "evalpin walkthrough"
evalpin remote init-local "$scratch/remote"
select_model demo-tiny  # a project made from the template may evaluate its own model
evalpin restore demo-tiny

step "1. The upstream publishes r1; pin what its main serves today, evaluate, release v1.0.0, promote"
move_upstream_main r1
repin_and_evaluate
git add -A && git commit --quiet -m "Pin demo-tiny r1 and its baseline"
# Signed: the release key lives outside the repository. The release writes models/demo-tiny.sig (OpenSSF
# model-signing format, committed) and a signed statement of the release into the tag's message.
python -c 'import sys; from pathlib import Path; from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import ec; k = ec.generate_private_key(ec.SECP256R1())
d = Path(sys.argv[1]); d.mkdir(mode=0o700, parents=True, exist_ok=True)
(d / "release.pem").write_bytes(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
(d / "release.pub").write_bytes(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))' \
  "$scratch/keys"
evalpin release demo-tiny --bump major -m "baseline on r1" --sign-key "$scratch/keys/release.pem"
model_signing verify key models/demo-tiny --signature models/demo-tiny.sig --public_key "$scratch/keys/release.pub"
evalpin promote demo-tiny v1.0.0 --stage prod

step "1b. A LoRA adapter trained on r1: its own lock, bound to demo-tiny v1.0.0's lock digest; release it"
pin_adapter a1
evaluate_model demo-tiny-lora
git add -A && git commit --quiet -m "Pin the demo LoRA a1 on demo-tiny r1, and its baseline"
evalpin release demo-tiny-lora --bump major -m "LoRA a1 on demo-tiny v1.0.0"
select_model demo-tiny  # back to the base; step 3 evaluates it on r2 and commits the switch with it

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

step "4. r3, a fine-tune with new weights: released as a major version, since adapters trained on 1.x break"
move_upstream_main r3
repin_and_evaluate
git add -A && git commit --quiet -m "Re-pin demo-tiny r3 (fine-tune)"
evalpin release demo-tiny --bump major -m "r3: new weights; adapters trained on 1.x must be re-certified"
gto show demo-tiny

step "4a. The benchmark data moves: evalpin-demo/ai2_arc's main fixes three answer keys (same dataset name)"
move_upstream_main d2 datasets--evalpin-demo--ai2_arc
expect_exit 1 evalpin check-upstream --dataset arc --upstream "$scratch/hub"
evalpin pin-data evalpin-demo/ai2_arc --revision main --resolve --name arc --upstream "$scratch/hub" \
  --include 'ARC-Easy/*'
if dvc repro; then echo "dvc repro evaluated on a re-pinned dataset nobody accepted" >&2; exit 1; fi
evalpin diff --dataset arc HEAD eval/data/arc.lock.json
evalpin verify-data arc --accept  # looked at the diff: three answer keys, fixed upstream
dvc repro
expect_exit 3 evalpin compare --baseline demo-tiny@v2.0.0  # arc_easy: another dataset, not a regression
git add -A && git commit --quiet -m "Re-pin ai2_arc: three answer keys fixed upstream"
evalpin release demo-tiny -m "new baseline: ai2_arc with fixed answer keys (same delivery)"

step "4b. The adapter certified on v1 is refused on the new base until it is re-certified"
select_model demo-tiny-lora
expect_exit 1 evalpin verify demo-tiny-lora
if dvc repro; then echo "dvc repro evaluated an adapter on a base it was not certified on" >&2; exit 1; fi
expect_exit 2 pin_adapter a1  # a1's adapter_config.json names r1's commit: refused on r3
pin_adapter a2  # re-certify: the adapter revision trained on r3
evalpin compose
dvc repro
compare_exit=0
evalpin compare --baseline demo-tiny-lora@v1.0.0 || compare_exit=$?
[ "$compare_exit" -ne 2 ] || { echo "compare: usage error" >&2; exit 1; }
git add -A && git commit --quiet -m "Re-certify the demo LoRA on demo-tiny v2: a2"
evalpin release demo-tiny-lora -m "LoRA a2, re-certified on demo-tiny v2.0.0"

step "5. Roll back: restore v1.0.0 exactly, then reproduce its scores from scratch"
git checkout --quiet demo-tiny@v1.0.0
dvc checkout --force
evalpin verify demo-tiny --full --signatures --public-key "$scratch/keys/release.pub"
evalpin verify-data arc  # ai2_arc d1, the data v1.0.0 was measured on, is back too
# Someone with push rights re-pins r2 over v1.0.0 in a clone, rewriting the lock with the files: the lock
# alone is fooled, the release signature is not (it names the files that differ from what was signed).
git clone --quiet "$scratch/repo" "$scratch/tampered"
(
  cd "$scratch/tampered" && git checkout --quiet demo-tiny@v1.0.0
  dvc cache dir --local "$scratch/repo/.dvc/cache" && dvc checkout --quiet
  evalpin pin evalpin/demo-tiny --revision "$(cat "$scratch/hub/models--evalpin--demo-tiny/refs/r2")" \
    --upstream "$scratch/hub"
  evalpin verify demo-tiny --files-only
  expect_exit 1 evalpin verify demo-tiny --signatures --public-key "$scratch/keys/release.pub"
)
evalpin reproduce demo-tiny@v1.0.0 --public-key "$scratch/keys/release.pub"  # checked before it runs
evalpin reproduce demo-tiny-lora@v1.0.0  # base r1 + adapter a1, restored and rerun from scratch

step "Done: demo-tiny v1.0.0 (prod), v1.0.1, v2.0.0, v2.0.1 (new data); demo-tiny-lora v1.0.0, v2.0.0"
git tag --list 'demo-tiny*'
