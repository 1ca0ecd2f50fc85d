"""Build the same dbt project on Apache Spark: ``lakehouse build --engine spark`` (ADR 0022).

The models, tests and macros are the DuckDB build's; the few constructs the two engines
spell differently go through ``adapter.dispatch`` macros (``dbt/macros/cross_engine.sql``).
dbt-spark runs in session mode inside this process, in the local session
``lakecore.spark`` configures: Silver and Gold become Parquet tables ``silver.<model>``
and ``gold.<model>`` of the Spark warehouse under ``$LAKEHOUSE_ROOT/spark/``.

Bronze is what the manifest committed, read through ``ingestion.manifest``'s Python API
(wherever the manifest lives) and handed to dbt as a JSON-lines file in the build's
working folder; the on-run-start macro registers one view per entity over it.
"""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ingestion.manifest import Manifest
from ingestion.schemas import write_empty_schemas
from lakecore import ledger
from lakecore.errors import BuildError, EngineUnavailableError
from lakecore.lock import pipeline_lock
from lakecore.settings import DBT_PROJECT_DIR, Settings
from lakecore.spark import spark_available, spark_session
from transform.build import (
    _refuse_damaged_bronze,
    _refuse_empty_bronze,
    project_fingerprint,
    record_unit_tests_passed,
    unit_tests_passed_for,
)
from transform.dbt_runner import DbtOutcome, Progress, collect, dbt_environment, invoke
from transform.warehouse import WarehouseNotBuiltError

#: The dbt target of the Spark engine (dbt/profiles.yml).
TARGET = "spark"
#: The manifest's columns the Bronze views need (the JSON-lines file, one batch a line).
_BATCH_COLUMNS = ("batch_id", "source", "entity", "export_date", "landing_file",
                  "input_rows", "landed_rows", "quarantined_rows", "bronze_file",
                  "ingested_at")
#: The Spark engine's packages: part of the unit tests' fingerprint on Spark.
SPARK_PACKAGES = ("dbt-spark", "pyspark")


@dataclass
class SparkBuildResult:
    """What a Spark build ran: dbt's outcome and the build's wall time."""

    outcome: DbtOutcome = field(default_factory=DbtOutcome)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line of counts, then one block per failure."""
        done = self.outcome
        lines = [f"spark: {done.models} models, {done.tests} data tests, {done.unit_tests} "
                 f"unit tests, {len(done.failures)} failures, {self.seconds:.1f} s"]
        lines += [failure.describe() for failure in done.failures]
        return "\n".join(lines)


def write_bronze_batches(settings: Settings, path: Path) -> int:
    """Write the manifest's committed batches as JSON lines at ``path``; return how many.

    Written to a temporary name and renamed into place, so a reader sees the old file
    or the new one, never a part.
    """
    records = []
    if Manifest.exists(settings):  # the SQLite file or the shared PostgreSQL catalog
        manifest = Manifest.open(settings, read_only=True)
        try:
            records = manifest.batches()
        finally:
            manifest.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    with partial.open("w", encoding="utf-8") as out:
        for record in records:
            row = asdict(record)
            out.write(json.dumps({name: row[name] for name in _BATCH_COLUMNS}) + "\n")
    partial.replace(path)
    return len(records)


def spark_fingerprint() -> str:
    """The unit tests' fingerprint on Spark: the project's, salted with the Spark engine.

    A pass on DuckDB never stands for one on Spark (nor the other way round): the
    engine and its packages' versions are part of what was checked (ADR 0019, 0022).
    """
    salt = ";".join(f"{name}=={metadata.version(name)}" for name in SPARK_PACKAGES)
    return f"spark:{salt}:{project_fingerprint()}"


def _unit_tests_stamp(settings: Settings) -> Path:
    return settings.spark / "unit_tests_passed.json"


def dbt_args(settings: Settings, *, tests: bool, unit_tests: bool,
             select: str | None = None, models: bool = True) -> list[str]:
    """The dbt command line of a Spark build (``build``), or of its tests only (``test``)."""
    work = settings.spark_build_dir
    args = ["build" if models else "test", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--target", TARGET,
            "--target-path", str(work / "dbt_target"),
            "--log-path", str(work / "dbt_logs"),
            "--log-level", "none", "--log-level-file", settings.dbt_log_level]
    if select:
        args += ["--select", select]
    if not tests:
        args += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    elif not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    return args


def build_spark(settings: Settings, *, progress: Progress | None = None, tests: bool = True,
                select: str | None = None, take_lock: bool = True, models: bool = True,
                ) -> SparkBuildResult:
    """Build Silver and Gold on Spark from the committed Bronze.

    Args:
        settings: The lakehouse to build.
        progress: Called with one line per model, test and step.
        tests: False to build the models only (no data or unit tests).
        select: A dbt selection; everything when None.
        take_lock: False when the caller already holds the pipeline lock.
        models: False to run only the tests against the tables already built.

    Returns:
        Counts and timing.

    Raises:
        EngineUnavailableError: The spark extra or Java is missing.
        UserInputError: Bronze is empty.
        BuildError: A model failed or a test found bad rows (the message lists them).
    """
    reason = spark_available()
    if reason is not None:  # before anything else: the one thing the user must fix
        raise EngineUnavailableError(reason)
    say = ledger.progress_logger(progress or (lambda _line: None))
    lock = pipeline_lock(settings, "build-spark") if take_lock else nullcontext()
    with lock, ledger.run(settings, "build_spark"):
        _refuse_empty_bronze(settings)
        _refuse_damaged_bronze(settings, say)
        started = time.perf_counter()
        settings.ensure_dirs()
        write_empty_schemas(settings)
        batches = settings.spark_build_dir / "bronze_batches.jsonl"
        count = write_bronze_batches(settings, batches)
        say(f"spark: {count} committed batches from the manifest")
        spark_session(settings)
        say(f"spark: session ready ({time.perf_counter() - started:.1f} s)")
        if not (tests or models):
            raise ValueError("nothing to do: both models and tests are off")
        fingerprint = spark_fingerprint() if tests and select is None else None
        unit_tests_current = (fingerprint is not None
                              and unit_tests_passed_for(_unit_tests_stamp(settings)) == fingerprint)
        if unit_tests_current:
            say("unit tests skipped: the dbt project is unchanged since they last passed "
                "on Spark")
        args = dbt_args(settings, tests=tests, unit_tests=not unit_tests_current,
                        select=select, models=models)
        with dbt_environment(settings, bronze_batches=batches):
            counted = collect(invoke(args, say))
        result = SparkBuildResult(outcome=counted, seconds=time.perf_counter() - started)
        if counted.failures:
            raise BuildError("spark build failed\n" + result.summary())
        if fingerprint is not None and not unit_tests_current and counted.unit_tests:
            record_unit_tests_passed(_unit_tests_stamp(settings), fingerprint)
        say(result.summary())
        return result


def spark_gold_session(settings: Settings) -> Any:
    """The Spark session with the Spark-built ``silver`` and ``gold`` schemas in its catalog.

    Raises:
        EngineUnavailableError: The spark extra or Java is missing.
        WarehouseNotBuiltError: Gold was never built on Spark for this lakehouse.
    """
    if not settings.spark_metastore.exists():
        raise WarehouseNotBuiltError(
            "Gold has not been built on Spark yet: run `lakehouse build --engine spark`")
    session = spark_session(settings)
    if not session.catalog.databaseExists("gold"):
        raise WarehouseNotBuiltError(
            "Gold has not been built on Spark yet: run `lakehouse build --engine spark`")
    return session
