"""`--engine spark` where Spark cannot start: one line naming the fix, exit 2 (ADR 0022)."""

from __future__ import annotations

import os
import subprocess
import sys

from lakecore.settings import Settings
from tests.helpers import PROJECT


def test_engine_spark_without_java_or_extra_is_one_line(settings: Settings) -> None:
    """Given no Java on PATH (and, in `make test`'s environment, no spark extra), when
    `lakehouse build --engine spark` runs, then it exits 2 with one line saying what to
    install, before it touches the lakehouse."""
    env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    result = subprocess.run(
        [sys.executable, "-m", "saaslake.cli", "build", "--engine", "spark"], cwd=PROJECT,
        env={**env, "PATH": "/nonexistent", "LAKEHOUSE_ROOT": str(settings.root)},
        capture_output=True, text=True, check=False)

    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert line in {"lakehouse: error: Spark is not installed; install the spark extra: "
                    "uv sync --extra spark",
                    "lakehouse: error: Spark needs Java (17 or newer) on PATH; install a "
                    "JDK, e.g. openjdk-17-jre"}
    assert not (settings.root / "spark").exists()
