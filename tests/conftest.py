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
