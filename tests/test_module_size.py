"""No module under `apps/` or `config/` grows past about 400 lines, models and migrations aside.

docs/architecture.md: "No module under `apps/` is longer than about 400 lines, models and
migrations aside." A module past the limit is split by concern (tests by topic, with shared
helpers in a `*_support.py` beside them) rather than let grow. Reads files only: no database.
"""

from __future__ import annotations

from pathlib import Path

from config.env import BASE_DIR

MAX_LINES = 420  # "about 400": a little slack before the guard fails
ROOTS = ("apps", "config")


def is_exempt(path: Path) -> bool:
    """Models and migrations may be longer: a model file holds a table's whole definition."""
    return path.name == "models.py" or "migrations" in path.parts


def checked_modules() -> list[Path]:
    root = BASE_DIR
    return sorted(
        path
        for top in ROOTS
        for path in (root / top).rglob("*.py")
        if not is_exempt(path.relative_to(root)) and "__pycache__" not in path.parts
    )


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_guard_sees_the_project_s_modules() -> None:
    modules = [path.relative_to(BASE_DIR).as_posix() for path in checked_modules()]
    assert len(modules) > 50, f"only {len(modules)} modules found under {ROOTS}: is BASE_DIR right?"
    assert "config/urls.py" in modules
    assert "apps/identity/models.py" not in modules
    assert not [module for module in modules if "/migrations/" in module]


def test_no_module_is_longer_than_about_400_lines() -> None:
    too_long = {
        path.relative_to(BASE_DIR).as_posix(): n for path in checked_modules() if (n := line_count(path)) > MAX_LINES
    }
    assert not too_long, (
        f"modules longer than {MAX_LINES} lines (docs/architecture.md: no module under apps/ is longer than about "
        "400 lines, models and migrations aside); split each by concern (tests by topic, shared helpers into a "
        "*_support.py beside them):\n" + "\n".join(f"  {module}: {n} lines" for module, n in sorted(too_long.items()))
    )
