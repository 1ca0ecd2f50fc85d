"""The Spark engine's tests (``make test-spark``, marker ``spark``; ADR 0022).

``spark_lake``: the kitchen-sink lakehouse (built on DuckDB by ``kitchen_sink_lake``)
built once more on Spark from the same Bronze, once per test session: a Spark session
starts in about 10 s and a build takes a few minutes on two shared cores.
"""

from __future__ import annotations

import pytest

from lakecore.settings import Settings
from lakecore.spark import spark_available


@pytest.fixture(scope="session")
def spark_lake(kitchen_sink_lake: Settings) -> Settings:
    """The kitchen sink's Silver and Gold built on Spark too (models only)."""
    from transform.spark_build import build_spark

    reason = spark_available()
    if reason is not None:  # fail, never skip: `make test-spark` installs the extra
        pytest.fail(f"make test-spark: {reason}")

    build_spark(kitchen_sink_lake, tests=False)
    return kitchen_sink_lake
