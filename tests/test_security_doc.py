"""docs/security.md is a traceability table: every test and every file it names exists.

Each attack, fault or bad input in docs/security.md names the code that holds it and the tests
that try it, as `path::test_name` (a bare `::test_name` continues the last file named, and
`file.py::test_name` without a folder continues the last folder). A renamed or deleted test, or a
moved module, fails here instead of leaving the page claiming a defence nobody checks.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from config.env import BASE_DIR

DOC = Path(BASE_DIR) / "docs" / "security.md"
# `apps/x/tests/test_y.py::test_z`, `test_y.py::test_z`, `::test_z`, `::TestClass::test_z`, each in backticks.
REFERENCE = re.compile(r"`((?:[\w./-]+/)?(?:test_\w+\.py))?((?:::\w+)+)`")
# A project path in backticks: `apps/files/uploads.py`, `apps/identity/rbac/`, `scripts/db/create-app-role.sh`.
PROJECT_PATH = re.compile(r"`((?:apps|config|scripts|tests|infra|benchmarks|docs)/[\w./-]*)`")


@cache
def _defined(path: Path) -> frozenset[str]:
    """Every `Class::method` and top-level function name a test module defines."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return frozenset(names)


def test_references() -> list[tuple[str, str]]:
    """(file, test) for every test the page names, resolved as a reader would."""
    found: list[tuple[str, str]] = []
    folder, current = "", ""
    for match in REFERENCE.finditer(DOC.read_text()):
        path, names = match.group(1), match.group(2).removeprefix("::")
        if path:
            if "/" in path:
                folder, current = path.rsplit("/", 1)[0], path
            else:
                current = f"{folder}/{path}"
        found.append((current, names))
    return found


test_references.__test__ = False  # type: ignore[attr-defined]


def test_the_page_names_tests_for_every_section():
    references = test_references()
    assert len(references) > 300, "docs/security.md should name the tests that try each line"


def test_every_test_the_page_names_exists():
    missing = []
    for file, name in test_references():
        path = Path(BASE_DIR) / file
        if not file or not path.is_file():
            missing.append(f"{file}::{name} (no such file)")
        elif name not in _defined(path):
            missing.append(f"{file}::{name}")
    assert not missing, "docs/security.md names tests that do not exist:\n" + "\n".join(sorted(set(missing)))


def test_every_project_path_the_page_names_exists():
    missing = sorted(
        {path for path in PROJECT_PATH.findall(DOC.read_text()) if not (Path(BASE_DIR) / path.rstrip("/")).exists()}
    )
    assert not missing, "docs/security.md names files that do not exist:\n" + "\n".join(missing)


def test_every_table_row_names_a_test():
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    untested = [
        row[:100]
        for row in rows
        if not row.lower().startswith(("| attack", "| fault", "| line"))
        and not REFERENCE.search(row.rsplit("|", 2)[-2])
        and "see [trap" not in row
    ]
    assert not untested, "rows of docs/security.md without a test:\n" + "\n".join(untested)
