#!/usr/bin/env bash
# Mutation testing of the identity core with mutmut: `make mutation`. Not part of CI (it takes minutes).
#
#   scripts/ci/mutation.sh                                   fresh run over every module in setup.cfg [mutmut]
#   scripts/ci/mutation.sh 'apps.identity.revocation.*'      (re)test only the mutants matching these names
#                                                            (mutmut globs), keeping earlier results
#
# mutmut changes the code it tests, so it never runs in the checkout: the code, settings and tests
# are copied to $MUTATION_DIR (default var/mutation/, ignored by git) and mutmut runs there, writing
# its mutants/ tree and caches inside that copy. The checkout is only read.
#
# Two things happen to the staged copy before mutmut sees it:
#   - mutmut skips decorated functions (`@transaction.atomic`, `@contextmanager`, `@tenant_job`),
#     which in the identity core are exactly the sign-in, invitation-accept and tenant-context code.
#     In the staged copies of the mutated modules each top-level decorator line is commented out and
#     the decorator re-applied by an assignment at the end of the module (`f = transaction.atomic(f)`):
#     same behaviour, same line numbers, and mutmut mutates the body.
#   - the run uses the embedded SQLite default and in-process jobs (no DATABASE_URL, REDIS_URL, CI),
#     so it needs nothing running.
#
# At the end it prints the score per module and every surviving mutant with its diff.
# docs/testing.md records the last reviewed run and why each survivor is accepted.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=${VENV:-.venv}
PY="$ROOT/$VENV/bin/python"
MUTMUT="$ROOT/$VENV/bin/mutmut"
STAGE=${MUTATION_DIR:-$ROOT/var/mutation}
# mutmut runs one forked pytest per CPU by default; MUTATION_JOBS overrides.
JOBS=${MUTATION_JOBS:-}

[[ -x $MUTMUT ]] || { echo "mutmut is not installed in $VENV (make install)" >&2; exit 1; }
[[ -f setup.cfg ]] || { echo "setup.cfg with a [mutmut] section is missing" >&2; exit 1; }

# Self-contained: the embedded database and in-process jobs, whatever the shell exported.
unset DATABASE_URL REDIS_URL CI PROMETHEUS_MULTIPROC_DIR prometheus_multiproc_dir ATRIUM_VAR_DIR
export PYTHONDONTWRITEBYTECODE=1

mkdir -p "$STAGE"
if (($# == 0)); then
    # mutmut keeps a survivor's verdict until its function changes: a fresh run retests everything.
    echo "==> fresh run: clearing $STAGE/mutants"
    rm -rf "$STAGE/mutants"
fi

echo "==> staging the code in $STAGE"
rsync -a --delete --exclude '__pycache__' --exclude '*.pyc' apps config templates static "$STAGE/"
cp -p conftest.py manage.py pyproject.toml setup.cfg "$STAGE/"

echo "==> re-applying decorators of the mutated modules at module end (so mutmut mutates those functions)"
"$PY" - "$STAGE" <<'PYTHON'
import ast
import configparser
import sys
from pathlib import Path

stage = Path(sys.argv[1])
parser = configparser.ConfigParser()
parser.read(stage / "setup.cfg")
modules = [line.strip() for line in parser.get("mutmut", "only_mutate").splitlines() if line.strip()]
for relative in modules:
    path = stage / relative
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    rewraps = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.decorator_list:
            continue
        wrapped = node.name
        for decorator in reversed(node.decorator_list):
            wrapped = f"({ast.get_source_segment(source, decorator)})({wrapped})"
            for index in range(decorator.lineno - 1, decorator.end_lineno):
                lines[index] = "# mutation: re-applied at module end: " + lines[index].lstrip()
        rewraps.append(f"{node.name} = {wrapped}\n")
    if rewraps:
        lines += ["\n", "\n", "# mutation: the decorators lifted above, re-applied in their original order\n", *rewraps]
        lifted = "".join(lines)
        ast.parse(lifted)
        path.write_text(lifted, encoding="utf-8")
        print(f"    {relative}: {', '.join(line.split(' = ')[0] for line in rewraps)}")
PYTHON

echo "==> mutmut run (progress: tried/total  killed  no-tests  timeout  suspicious  survived  skipped)"
cd "$STAGE"
started=$(date +%s)
status=0
"$MUTMUT" run ${JOBS:+--max-children "$JOBS"} "$@" || status=$?
echo "==> mutmut finished in $(( ($(date +%s) - started) / 60 )) min (exit $status)"

"$PY" - <<'PYTHON'
import configparser
import json
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

parser = configparser.ConfigParser()
parser.read("setup.cfg")
modules = [line.strip() for line in parser.get("mutmut", "only_mutate").splitlines() if line.strip()]
survivors = []
print()
print(
    f"{'module':40} {'mutants':>8} {'killed':>7} {'survived':>9} {'no tests':>9} {'timeout':>8} {'other':>6}"
    f" {'unrun':>6} {'score':>7}"
)
for module in modules:
    meta = Path("mutants") / (module + ".meta")
    if not meta.exists():
        print(f"{module:40} (not run)")
        continue
    results = json.loads(meta.read_text())["exit_code_by_key"]
    counts = Counter(status_by_exit_code[code] for code in results.values())
    decided = sum(n for status, n in counts.items() if status != "not checked")
    # Score: killed (a timeout also means the tests noticed) over every mutant that was checked.
    caught = counts["killed"] + counts["timeout"]
    other = decided - caught - counts["survived"] - counts["no tests"]
    unrun = counts["not checked"]
    score = f"{100 * caught / decided:.1f}%" if decided else "-"
    print(
        f"{module:40} {len(results):>8} {counts['killed']:>7} {counts['survived']:>9} {counts['no tests']:>9}"
        f" {counts['timeout']:>8} {other:>6} {unrun:>6} {score:>7}"
    )
    survivors += sorted(name for name, code in results.items() if status_by_exit_code[code] in ("survived", "no tests"))
Path("mutants/survivors.txt").write_text("".join(name + "\n" for name in survivors))
print()
print(f"{len(survivors)} surviving mutants (survived, or reached by no selected test): see below,")
print("`cd var/mutation && ../../.venv/bin/mutmut show <name>` for one, docs/testing.md for the review.")
PYTHON

while read -r name; do
    echo
    "$MUTMUT" show "$name" || true
done <mutants/survivors.txt

exit "$status"
