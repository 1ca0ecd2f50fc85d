"""Fixtures for the notebook and metric-layer tests: one small lakehouse per session.

The lakehouse is made the way a user makes one (simulate at scale 0.02 with a little
dirty data, then ``saaslake.pipeline.run``: ingest + dbt build under one lock), so the
notebooks, the metric layer and the browser test all read a real published Gold build.
``SAASLAKE_TEST_LAKEHOUSE=<dir>`` reuses an already built root instead (local iteration
only; CI always builds afresh).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lakecore.settings import Settings

PROJECT = Path(__file__).resolve().parents[2]
NOTEBOOKS = PROJECT / "notebooks"
VENV_BIN = Path(sys.executable).parent
OUTPUT = PROJECT / "test-output"


@pytest.fixture(scope="session")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A built lakehouse: Bronze with a few quarantined rows, Silver and Gold published."""
    reuse = os.environ.get("SAASLAKE_TEST_LAKEHOUSE")
    if reuse:
        return Settings.from_env(root=reuse)
    from ingestion.simulator import simulate
    from saaslake.pipeline import run

    settings = Settings.from_env(root=tmp_path_factory.mktemp("notebooks") / "lakehouse")
    simulate(settings.landing, scale=0.02, daily_days=3, dirty_share=0.02)
    run(settings, tests=False)
    return settings


@pytest.fixture(scope="session")
def notebook_env(lakehouse: Settings) -> dict[str, str]:
    """The environment a notebook subprocess runs in: the test lakehouse, no network."""
    return {**os.environ, "LAKEHOUSE_ROOT": str(lakehouse.root),
            "LAKEHOUSE_LANDING": str(lakehouse.landing), "PYTHONDONTWRITEBYTECODE": "1"}


def notebooks() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


def run_python(args: list[str], env: dict[str, str], timeout: float = 240
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
