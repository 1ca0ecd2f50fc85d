"""Fixtures for the dbt build tests: one lakehouse root reused (wiped) per test.

The dbt project parses once per lakehouse (its partial-parse state lives in
``warehouse/dbt_target`` and depends on the root's path), so every test of this folder
that builds uses the same root path: the ``lake`` fixture wipes everything below it but
that state. The landing-file builders these tests use are in ``tests.helpers.lakehouse``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from ingestion.loader import ingest
from lakecore.settings import Settings
from tests.helpers.lakehouse import daily_exports

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


#: Published lakehouses by number of daily exports, kept by this worker process.
_PUBLISHED: dict[int, tuple[Path, list[date]]] = {}


@pytest.fixture
def published_lake(lake: Settings, tmp_path_factory: pytest.TempPathFactory
                   ) -> Callable[[int], list[date]]:
    """``published_lake(days)`` fills ``lake`` with ``days`` daily exports, ingested and built.

    The first test of a worker to ask for ``days`` ingests and builds them (models only) and
    keeps a copy of the root; later tests get that copy at the same root path, so every
    recorded path and dbt's parse state stay valid: the bytes the same build would write,
    without running it again. Returns the export dates.
    """
    from transform.build import build

    def make(days: int) -> list[date]:
        if days in _PUBLISHED:
            kept, dates = _PUBLISHED[days]
            shutil.copytree(kept, lake.root, symlinks=True, dirs_exist_ok=True)
            return list(dates)
        dates = daily_exports(lake.landing, days)
        report = ingest(lake)
        assert report.quarantined_rows == 0, report.summary()
        build(lake, tests=False)
        kept = tmp_path_factory.mktemp(f"published-{days}-days") / "lakehouse"
        shutil.copytree(lake.root, kept, symlinks=True)
        _PUBLISHED[days] = (kept, dates)
        return list(dates)

    return make
