"""Fixtures for the dbt build tests: one lakehouse root reused (wiped) per test.

The dbt project parses once per lakehouse (its partial-parse state lives in
``warehouse/dbt_target`` and depends on the root's path), so every test of this folder
that builds uses the same root path: the ``lake`` fixture wipes everything below it but
that state. The landing-file builders these tests use are in ``tests.helpers.lakehouse``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lakecore.settings import Settings

KEEP = "warehouse/dbt_target"


@pytest.fixture(scope="session")
def dbt_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's one lakehouse root for dbt builds (not created yet)."""
    return tmp_path_factory.mktemp("dbt") / "lakehouse"


@pytest.fixture
def lake(dbt_root: Path) -> Settings:
    """A fresh, empty lakehouse at the session's dbt root (parse state kept)."""
    if dbt_root.exists():
        kept = dbt_root / KEEP
        for child in dbt_root.iterdir():
            if child.name != "warehouse":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        for child in (dbt_root / "warehouse").iterdir():
            if child != kept:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    return Settings.from_env(root=dbt_root)
