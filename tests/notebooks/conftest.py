"""Fixtures for the notebook tests.

They read the session's built ``lakehouse`` (tests/conftest.py; ``LAKEHOUSE_TEST_ROOT``
reuses a built root); the helpers they use live in ``tests.helpers.notebooks``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lakecore.settings import Settings
from tests.helpers.notebooks import OUTPUT


@pytest.fixture(scope="session")
def notebook_env(lakehouse: Settings) -> dict[str, str]:
    """The environment a notebook subprocess runs in: the test lakehouse, no network."""
    return {**os.environ, "LAKEHOUSE_ROOT": str(lakehouse.root),
            "LAKEHOUSE_LANDING": str(lakehouse.landing), "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture
def output_dir() -> Path:
    """The folder for screenshots a human may look at (``test-output/``), created."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
