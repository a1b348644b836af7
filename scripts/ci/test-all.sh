#!/usr/bin/env bash
# `make test`: every check in the order that fails fastest, then: the run left the checkout as it found it.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Each path `git status` reports (untracked files included) with a hash of its content, so a file the
# developer had already edited counts as changed by the run only if the run changed it again.
tree_state() {
  git status --porcelain=v1 -z --untracked-files=all | while IFS= read -r -d '' entry; do
    path=${entry:3}
    # A rename or copy is followed by its source path: record the new path only.
    case ${entry:0:1} in R | C) IFS= read -r -d '' _ ;; esac
    if [ -f "$path" ]; then
      printf '%s %s\n' "$(git hash-object --no-filters -- "$path")" "$path"
    else
      printf 'absent %s\n' "$path"
    fi
  done | LC_ALL=C sort
}

in_git=false
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  in_git=true
  before=$(tree_state)
fi

mkdir -p var  # generated files (the OpenAPI document, dev keys) live here; a fresh clone has none
started=$(date +%s)
scripts/ci/lock-check.sh
scripts/ci/lint.sh
scripts/ci/typecheck.sh
scripts/ci/django-checks.sh
scripts/ci/audit.sh
scripts/ci/pytest.sh

if $in_git; then
  # Lines only in the state after the run: paths it created, changed or deleted.
  left=$(LC_ALL=C comm -13 <(printf '%s\n' "$before") <(tree_state) | cut -d' ' -f2-)
  if [ -n "$left" ]; then
    echo "==> make test left files in the checkout (a test or tool must write under a temporary directory or var/):" >&2
    printf '%s\n' "$left" | sed 's/^/    /' >&2
    exit 1
  fi
fi
echo "==> make test passed in $(( $(date +%s) - started ))s"
