"""Shared pytest settings and fixtures for the book's tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Never open a plotting window in tests (notebooks under nbval inherit this too).
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where _config.yml and _toc.yml live)."""
    return REPO_ROOT


# ------------------------------------------------------------------ no silent skips in CI
#: the stages whose checks need an outside tool (a built book, Chromium, chromedriver, selenium,
#: voila); on a reader's machine they skip with the reason, under ``CI=true`` a skip is a failure:
#: a CI run that skipped the browser checks would report green without having checked the pages
STRICT_IN_CI = ("test_book_browser.py", "test_demo_browser.py", "test_book_html.py",
                "test_executed_notebooks.py")


def _strict(path) -> bool:
    return os.environ.get("CI", "").lower() == "true" and Path(str(path)).name in STRICT_IN_CI


def _fail_instead_of_skip(report, where: str) -> None:
    reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"{where} skipped under CI=true, which fails instead: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _strict(item.path):
        _fail_instead_of_skip(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _strict(getattr(collector, "path", "")):
        _fail_instead_of_skip(report, str(collector.nodeid))
