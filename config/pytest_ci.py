"""Under `CI=true` a skipped test fails the run (pytest plugin, loaded with `-p config.pytest_ci`).

A skip hides a test that did not run: locally it says which service or tool is
missing, but a CI run that passes with skips has not checked what it claims.
So with `CI=true` every skip — a `skip`/`skipif` mark, `pytest.skip()` in a
test or fixture, `importorskip`, a module skipped at collection — is reported
as a failure with its reason. Expected failures (`xfail`) are not skips and
are left alone.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest


def _in_ci() -> bool:
    # Read when a test reports, after config.pytest_env has filled in the test environment.
    from config.env import CI

    return CI


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (file, line, "Skipped: reason")
        return str(longrepr[2])
    return str(longrepr)


def _refuse(report: pytest.TestReport | pytest.CollectReport) -> None:
    report.longrepr = f"CI=true: a skipped test fails the run ({_reason(report)})"
    report.outcome = "failed"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and _in_ci():
        _refuse(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped and _in_ci():
        _refuse(report)
    return report
