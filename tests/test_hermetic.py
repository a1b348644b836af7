"""Test runs leave the checkout as they found it, and CI runs every test.

- An empty `PROMETHEUS_MULTIPROC_DIR` (as an exported env file has it) is
  "not set": prometheus_client would otherwise switch to multiprocess mode and
  write `counter_<pid>.db` into the current directory — the checkout, for a
  test run — and `/metrics` would fail.
- `make test` (scripts/ci/test-all.sh) fails when the run created or changed
  a path `git status` reports, naming it; a developer's own uncommitted edits
  do not fail it.
- With `CI=true` a skipped test fails the run (config/pytest_ci.py).
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from config import env as E
from config.env import BASE_DIR

METRICS_SCRIPT = """
import json
import django
django.setup()
from django.test import Client
from prometheus_client import values
client = Client(HTTP_HOST="127.0.0.1")
client.get("/healthz")
metrics = client.get("/metrics")
print(json.dumps({"value_class": values.ValueClass.__name__, "metrics": metrics.status_code}))
"""


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_prometheus_multiproc_dir_writes_nothing_and_metrics_work(tmp_path, child_env, blank):
    env = child_env(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_DEBUG="true", PROMETHEUS_MULTIPROC_DIR=blank)
    result = subprocess.run(
        [sys.executable, "-c", METRICS_SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    # In-process values (multiprocess mode would be MmapedValue, backed by files in the current directory).
    assert outcome == {"value_class": "MutexValue", "metrics": 200}
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_gunicorn_config_treats_an_empty_multiproc_dir_as_unset(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.setattr(E, "PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.setattr(E, "VAR_DIR", tmp_path / "var")
    conf = runpy.run_path(str(BASE_DIR / "config" / "gunicorn.conf.py"))
    default = (tmp_path / "var" / "prometheus").resolve()
    assert conf["MULTIPROC_DIR"] == default
    # Exported for the workers, which prometheus_client reads when they first import it.
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(default)
    default.mkdir(parents=True)
    (default / "counter_4242.db").write_bytes(b"")
    (default / "notes.txt").write_text("an operator's file")
    conf["on_starting"](None)
    assert sorted(path.name for path in default.iterdir()) == ["notes.txt"]
    conf["child_exit"](None, SimpleNamespace(pid=4242))


# --------------------------------------------------------------------------- make test leaves no files

STEPS = ("lock-check.sh", "lint.sh", "typecheck.sh", "django-checks.sh", "audit.sh")


def _git(repo: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, timeout=60)


@pytest.fixture
def checkout(tmp_path, child_env):
    """A throw-away git checkout with test-all.sh and stub steps; the stub pytest step runs $RUN_DOES."""
    repo = tmp_path / "checkout"
    ci = repo / "scripts" / "ci"
    ci.mkdir(parents=True)
    shutil.copy(BASE_DIR / "scripts" / "ci" / "test-all.sh", ci / "test-all.sh")
    for step in STEPS:
        (ci / step).write_text("#!/usr/bin/env bash\ntrue\n")
    (ci / "pytest.sh").write_text('#!/usr/bin/env bash\nset -e\neval "${RUN_DOES:-true}"\n')
    for script in ci.iterdir():
        script.chmod(0o755)
    (repo / ".gitignore").write_text("var/\n")
    (repo / "tracked.txt").write_text("committed\n")
    (repo / "edited.txt").write_text("committed\n")
    env = child_env(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.test",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.test",
    )
    _git(repo, env, "init", "-q")
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "-m", "start")
    # The developer's own work in progress, present before `make test`.
    (repo / "edited.txt").write_text("my uncommitted edit\n")
    (repo / "notes-wip.txt").write_text("untracked, mine\n")

    def run(does: str = "true") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(ci / "test-all.sh")],
            cwd=repo,
            env={**env, "RUN_DOES": does},
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def test_make_test_passes_when_the_run_leaves_only_the_developers_own_edits(checkout):
    result = checkout("mkdir -p var && echo generated > var/openapi.yaml")  # git-ignored output is fine
    assert result.returncode == 0, result.stderr
    assert "make test passed" in result.stdout


@pytest.mark.parametrize(
    ("does", "left"),
    [
        ("echo samples > counter_27533.db", "counter_27533.db"),
        ("mkdir -p deep/dir && echo x > deep/dir/out.json", "deep/dir/out.json"),
        ("echo changed-by-the-run >> edited.txt", "edited.txt"),  # already dirty, changed again
        ("echo changed > tracked.txt", "tracked.txt"),
        ("rm tracked.txt", "tracked.txt"),
    ],
)
def test_make_test_fails_naming_what_the_run_left_behind(checkout, does, left):
    result = checkout(does)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "make test left files in the checkout" in result.stderr
    named = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert named == [left]
    assert "make test passed" not in result.stdout


# --------------------------------------------------------------------------- CI refuses skips

SKIPPING_TESTS = {
    "test_marks.py": """
        import pytest

        def test_runs():
            assert True

        @pytest.mark.skip(reason="not today")
        def test_skip_mark():
            pass

        @pytest.mark.skipif(True, reason="tool missing")
        def test_skipif_mark():
            pass

        def test_skip_call():
            pytest.skip("skipped inside")

        @pytest.mark.xfail(strict=True, reason="known bug")
        def test_expected_failure():
            assert False
    """,
    "test_module_skip.py": """
        import pytest

        pytest.importorskip("no_such_module_for_atrium_tests")

        def test_never_collected():
            pass
    """,
}


def _pytest(tmp_path: Path, child_env, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    suite = tmp_path / "suite"
    suite.mkdir(exist_ok=True)
    for name, source in SKIPPING_TESTS.items():
        (suite / name).write_text(textwrap.dedent(source))
    (suite / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "config.pytest_ci",
            "-p",
            "no:cacheprovider",
            "-rfEsx",
            *args,
            str(suite),
        ],
        cwd=suite,
        env=child_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_outside_ci_skips_are_reported_as_skips(tmp_path, child_env):
    result = _pytest(tmp_path, child_env)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 4 skipped, 1 xfailed" in result.stdout


def test_under_ci_every_kind_of_skip_fails_the_run_with_its_reason(tmp_path, child_env):
    result = _pytest(tmp_path, child_env, "--continue-on-collection-errors", CI="true")
    assert result.returncode == 1, result.stdout
    # A skip at setup (marks) is an error, one in the test body a failure; the expected failure stays one.
    assert " 1 failed, 1 passed, 1 xfailed, 3 errors in " in result.stdout.splitlines()[-1], result.stdout
    summary = [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    for reason in ("not today", "tool missing", "skipped inside", "no_such_module_for_atrium_tests"):
        assert [line for line in summary if reason in line and "CI=true: a skipped test fails the run" in line]
