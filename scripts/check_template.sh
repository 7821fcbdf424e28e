#!/usr/bin/env bash
# The full proof that this repository works as a copier template, on a bare machine: build evalpin's
# wheel from this checkout (`make dist`), `copier copy` this checkout's working tree (uncommitted changes
# included) into a scratch directory with every answer given, commit the project as a user would, then
# run what its README says: `make setup` into a new, empty .venv (evalpin from the wheel through
# PIP_FIND_LINKS, every other package from the package index at constraints.txt's versions), `make demo`
# (which must reproduce the committed baseline), `make check`, and a clean worktree after all of it.
# tests/test_template.py checks the rest (answers, refused answers, `copier update`) in about a minute, and
# tests/test_copied_project.py a project's whole life on the wheel (`make walkthrough`).
#
#   scripts/check_template.sh [SCRATCH_DIR [COPIER_ARGS...]]
#       SCRATCH_DIR: default a new temporary directory; COPIER_ARGS replace the default --data answers,
#       e.g. --data remote_url=s3://ml-artifacts/evalpin
# It prints how long `make setup` took (the figure docs/getting-started.md quotes for a bare machine).
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

step "evalpin's wheel from $template (make dist)"
make -C "$template" --no-print-directory dist
# Added to the wheel sources this machine's pip already knows (PIP_FIND_LINKS replaces pip.conf's
# find-links, where torch's CPU wheel may come from), not substituted for them.
known=$( { printf '%s\n' "${PIP_FIND_LINKS:-}"; "$template/.venv/bin/python" -m pip config get global.find-links 2>/dev/null || true; } | tr ' ' '\n' | grep -v '^$' | sort -u | tr '\n' ' ')
export PIP_FIND_LINKS="$known$template/dist"
echo "PIP_FIND_LINKS=$PIP_FIND_LINKS"

step "copier copy $template -> $project"
"$copier" copy --defaults --vcs-ref HEAD "${answers[@]}" "$template" "$project"
leftovers=$(cd "$project" && find . -name '*.tmpl' -o -name copier.yml -o -name src -o -name tests)
[ -z "$leftovers" ] || { echo "template or tool files in the project: $leftovers" >&2; exit 1; }

step "Commit the project, as the message after copy says"
cd "$project"
export GIT_CONFIG_GLOBAL="$scratch/gitconfig"  # a git identity for the scratch project only
git config --global user.email template-check@evalpin.invalid
git config --global user.name "evalpin template check"
git init -q -b main
git add -A && git commit -q -m "Start my-eval from the evalpin template"
echo "$(git ls-files | wc -l) files tracked"

step "make setup: a new .venv, evalpin by version"
SECONDS=0
make setup
echo "make setup: ${SECONDS}s"

step "make demo (the committed baseline, reproduced), make check"
export EVALPIN_REMOTE="$scratch/remote"  # the demo's local remote, outside ~/.cache
make demo
make check
test -z "$(git status --porcelain)" || { echo "the project's worktree changed:"; git status --porcelain; exit 1; }
step "Done: $project installs evalpin $(.venv/bin/evalpin --version | cut -d' ' -f2) by version and reproduces its baseline"
