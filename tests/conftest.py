"""Fixtures shared by every folder of the suite.

``settings`` and ``write_landing``: an isolated, empty lakehouse per test and a writer of
its landing files. ``lakehouse``: one small built lakehouse per session, read by the
metric-layer tests (tests/analytics) and the notebook tests (tests/notebooks).
``kitchen_sink_lake``: the hand-made metrics fixture, ingested and built with every test
once per session (the reference-metric and row-lineage tests read it). ``pg_cluster``: a
throwaway PostgreSQL cluster per session for the shared-catalog tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakecore.settings import Settings
from tests.helpers.landing import WriteLanding
from tests.helpers.postgres import Cluster, start_cluster

#: Reuse an already built lakehouse root instead of building one (local iteration only;
#: CI always builds afresh).
REUSE_LAKEHOUSE_ENV = "LAKEHOUSE_TEST_ROOT"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A fresh lakehouse root with its landing zone inside."""
    return Settings.from_env(root=tmp_path / "lakehouse")


@pytest.fixture
def write_landing(settings: Settings) -> WriteLanding:
    """Write ``content`` at ``relative`` inside the landing zone; return the path."""

    def write(relative: str, content: bytes | str) -> Path:
        path = settings.landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    return write


@pytest.fixture(scope="session")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A built lakehouse: Bronze with a few quarantined rows, Silver and Gold published.

    Made the way a user makes one (simulate at scale 0.02 with a little dirty data, then
    ``saaslake.pipeline.run``: ingest + dbt build under one lock), so the metric layer,
    the notebooks and the browser test all read a real published Gold build.
    ``LAKEHOUSE_TEST_ROOT=<dir>`` reuses an already built root instead.
    """
    reuse = os.environ.get(REUSE_LAKEHOUSE_ENV)
    if reuse:
        return Settings.from_env(root=reuse)
    from ingestion.simulator import simulate
    from saaslake.pipeline import run

    settings = Settings.from_env(root=tmp_path_factory.mktemp("notebooks") / "lakehouse")
    simulate(settings.landing, scale=0.02, daily_days=3, dirty_share=0.02)
    run(settings, tests=False)
    return settings


@pytest.fixture(scope="session")
def kitchen_sink_lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The kitchen-sink landing zone (tests/fixtures/metrics) run through the real pipeline:
    ingested, built with all data and unit tests, published."""
    import shutil

    from saaslake.pipeline import run
    from tests.helpers import KITCHEN_SINK

    settings = Settings.from_env(root=tmp_path_factory.mktemp("kitchen_sink") / "lakehouse")
    shutil.copytree(KITCHEN_SINK, settings.landing)
    run(settings, tests=True)
    return settings


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for the session (shared catalogs), stopped by PID."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
