"""Build Silver and Gold from Bronze: ``dbt build`` in-process.

``build(settings)`` runs the dbt project in ``dbt/`` through ``dbtRunner`` (no
subprocess), streams one progress line per model and test, and returns a summary. When a
model errors or a data test finds rows, it raises ``BuildError`` naming every failure and
showing the offending rows; Gold stays what the last successful build published (see
``saaslake.warehouse``). On success it publishes the new catalog snapshots atomically.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ingestion.contract import ENTITIES, bronze_schema_sql
from saaslake import warehouse
from saaslake.config import DBT_PROJECT_DIR, Settings, connect_duckdb, sql_literal
from saaslake.errors import BuildError
from saaslake.lock import pipeline_lock

Progress = Callable[[str], None]

#: dbt events turned into progress lines.
_PROGRESS_EVENTS = {"LogModelResult", "LogTestResult", "LogNodeResult", "LogHookEndLine",
                    "LogSnapshotResult", "LogStartLine"}
#: How many offending rows a failure shows.
FAILURE_ROWS = 10
#: Publications (and their DuckLake snapshots) kept for time travel; older are expired.
KEEP_PUBLICATIONS = 30
#: Files of expired snapshots are deleted once scheduled this long (readers may lag).
CLEANUP_AFTER = "1 day"


@dataclass(frozen=True)
class Failure:
    """One model or test that did not pass."""

    name: str
    resource_type: str
    status: str
    message: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"{self.resource_type} {self.name}: {self.status}: {self.message}"]
        lines += [f"    {row}" for row in self.rows]
        return "\n".join(lines)


@dataclass
class BuildResult:
    """What a build did."""

    models: int = 0
    tests: int = 0
    unit_tests: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    full_refresh: bool = False
    publication: warehouse.Publication | None = None
    command: str = "build"

    @property
    def success(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        head = (f"dbt {self.command}: {self.models} models, {self.tests} data tests, "
                f"{self.unit_tests} unit tests, {len(self.failures)} failures, "
                f"{len(self.warnings)} warnings, {self.skipped} skipped "
                f"in {self.seconds:.1f}s")
        lines = [head]
        if self.publication is not None:
            lines.append(f"published Gold as of {self.publication.as_of_date} "
                         f"(silver snapshot {self.publication.silver_snapshot}, "
                         f"gold snapshot {self.publication.gold_snapshot})")
        lines += [f.describe() for f in self.failures + self.warnings]
        return "\n".join(lines)


def build(
    settings: Settings,
    *,
    select: str | None = None,
    full_refresh: bool = False,
    progress: Progress | None = None,
    take_lock: bool = True,
    tests: bool = True,
    models: bool = True,
) -> BuildResult:
    """Run ``dbt build`` for Silver and Gold and publish the result.

    Args:
        settings: The lakehouse to build.
        select: A dbt selection (``--select``); everything when None. A selective build
            publishes too: the models it did not select keep their previous data.
        full_refresh: Rebuild incremental models from all of Bronze.
        progress: Called with one line per model, test and step.
        take_lock: False when the caller already holds the pipeline lock.
        tests: False to build the models only (no data or unit tests): faster, for
            benchmarks and pipeline tests that check the tests elsewhere.
        models: False to run only the data and unit tests against the models already
            built (nothing is written or published).

    Returns:
        Counts, timing and the publication.

    Raises:
        BuildError: A model failed or a test found bad rows (the message lists them).
        PipelineLockedError: Another pipeline run holds the lock.
    """
    say = progress or (lambda _line: None)
    lock = pipeline_lock(settings, "build") if take_lock else nullcontext()
    with lock:
        return _build(settings, select=select, full_refresh=full_refresh, say=say,
                      tests=tests, models=models)


def _build(settings: Settings, *, select: str | None, full_refresh: bool,
           say: Progress, tests: bool, models: bool) -> BuildResult:
    if not (tests or models):
        raise ValueError("nothing to do: both models and tests are off")
    started = time.perf_counter()
    settings.ensure_dirs()
    for path in (settings.warehouse, settings.silver, settings.gold, settings.duckdb_temp):
        path.mkdir(parents=True, exist_ok=True)
    warehouse.install_extensions(settings)
    write_bronze_schemas(settings)
    if recover_catalogs(settings, say):
        full_refresh = True
    prepare_catalogs(settings)

    # Tests only: `dbt test` (in `dbt build`, unit tests run only with their model).
    args = ["build" if models else "test", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(settings.warehouse / "dbt_target"),
            "--log-path", str(settings.warehouse / "dbt_logs"),
            "--log-level", "none",
            "--log-level-file", os.environ.get("LAKEHOUSE_DBT_LOG_LEVEL", "info")]
    if select:
        args += ["--select", select]
    if full_refresh and models:
        args.append("--full-refresh")
    if not tests:
        args += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]

    result = BuildResult(full_refresh=full_refresh and models, command=args[0])
    say(f"dbt {args[0]}{' --full-refresh' if full_refresh else ''}"
        f"{f' --select {select}' if select else ''}")
    with _dbt_environment(settings):
        try:
            outcome = _invoke(args, say)
            _collect(outcome, result)
        finally:
            _release_dbt_connection()
    result.seconds = time.perf_counter() - started
    if result.failures:
        raise BuildError(
            "build failed; Gold still shows the last successful build\n" + result.summary()
        )
    if models:
        result.publication = _publish(settings)
        expire_old_builds(settings, keep=KEEP_PUBLICATIONS, say=say)
    result.seconds = time.perf_counter() - started
    say(result.summary())
    return result


def generate_docs(settings: Settings, *, progress: Progress | None = None) -> Path:
    """Generate the dbt documentation as one offline HTML file and return its path.

    Uses the catalogs of the last build (run ``build`` first for column types).
    """
    say = progress or (lambda _line: None)
    for path in (settings.warehouse, settings.duckdb_temp):
        path.mkdir(parents=True, exist_ok=True)
    warehouse.install_extensions(settings)
    write_bronze_schemas(settings)
    prepare_catalogs(settings)
    target = settings.warehouse / "dbt_target"
    args = ["docs", "generate", "--static", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
            "--log-path", str(settings.warehouse / "dbt_logs"), "--log-level", "none"]
    with _dbt_environment(settings):
        try:
            outcome = _invoke(args, say)
        finally:
            _release_dbt_connection()
    if not outcome.success:
        raise BuildError(f"dbt docs generate failed: {outcome.exception}")
    page = target / "static_index.html"
    say(f"dbt docs: {page}")
    return page


# dbt ---------------------------------------------------------------------------------------
@contextmanager
def _dbt_environment(settings: Settings) -> Iterator[None]:
    """Set the environment the profile reads (paths from Settings), restore it after."""
    values = {
        "LAKEHOUSE_ROOT": str(settings.root),
        "LAKEHOUSE_MEMORY_LIMIT": settings.memory_limit,
        "LAKEHOUSE_THREADS": str(settings.threads),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _invoke(args: list[str], say: Progress) -> Any:
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - importing dbt costs ~1 s; only here

    def on_event(event: Any) -> None:
        name = event.info.name
        if name in _PROGRESS_EVENTS and event.info.msg:
            say(str(event.info.msg).strip())

    outcome = dbtRunner(callbacks=[on_event]).invoke(args)
    if outcome.exception is not None and outcome.result is None:
        raise BuildError(f"dbt could not run: {outcome.exception}")
    return outcome


def _collect(outcome: Any, result: BuildResult) -> None:
    run = outcome.result
    if outcome.exception is not None and not getattr(run, "results", None):
        result.failures.append(Failure("dbt", "project", "error", str(outcome.exception)))
        return
    for item in getattr(run, "results", []) or []:
        node = item.node
        kind = node.resource_type.value if hasattr(node.resource_type, "value") else str(
            node.resource_type)
        status = str(getattr(item.status, "value", item.status))
        if kind == "model":
            result.models += 1
        elif kind == "test":
            result.tests += 1
        elif kind == "unit_test":
            result.unit_tests += 1
        if status == "skipped":
            result.skipped += 1
        elif status in ("error", "fail", "warn"):
            rows = _failing_rows(node) if kind == "test" else []
            failure = Failure(node.name, kind, status, (item.message or "").strip(), rows)
            (result.warnings if status == "warn" else result.failures).append(failure)
    if not outcome.success and not result.failures:
        message = str(outcome.exception or "dbt reported failure without a failing node")
        result.failures.append(Failure("dbt", "project", "error", message))


def _dbt_cursor() -> duckdb.DuckDBPyConnection | None:
    """A cursor on dbt-duckdb's still-open database (Bronze views included)."""
    from dbt.adapters.duckdb.connections import (  # noqa: PLC0415 - loaded with dbt
        DuckDBConnectionManager,
    )

    # dbt-duckdb keeps one process-wide environment (the in-memory DuckDB) in _ENV.
    env = DuckDBConnectionManager._ENV
    conn = getattr(env, "conn", None)
    return conn.cursor() if conn is not None else None


def _failing_rows(node: Any) -> list[dict[str, Any]]:
    """The first rows a failed data test returned, run again on dbt's connection."""
    sql = getattr(node, "compiled_code", None)
    if not sql:
        return []
    try:
        cursor = _dbt_cursor()
        if cursor is None:
            return []
        with cursor:
            relation = cursor.sql(f"select * from ({sql}) as failing limit {FAILURE_ROWS}")
            names = relation.columns
            return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]
    except duckdb.Error as exc:
        return [{"could_not_fetch_rows": str(exc).splitlines()[0]}]


def _release_dbt_connection() -> None:
    """Close dbt-duckdb's process-wide database so other processes can use the files."""
    from dbt.adapters.duckdb.connections import (  # noqa: PLC0415 - loaded with dbt
        DuckDBConnectionManager,
    )

    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            try:
                env.close()
            finally:
                DuckDBConnectionManager.close_all_connections()


# Bronze schemas, recovery, publication -----------------------------------------------------
def write_bronze_schemas(settings: Settings) -> None:
    """Write a typed empty Parquet file per entity from the landing contract.

    The dbt sources fall back to these (``warehouse/bronze_schemas``) when the loader's
    own ``_meta/schemas`` file is missing, so a build works before any ingest.
    """
    folder = settings.warehouse / "bronze_schemas"
    missing = [ent for ent in ENTITIES.values()
               if not (folder / ent.source / f"{ent.name}.parquet").exists()]
    if not missing:
        return
    with connect_duckdb(settings) as con:
        for ent in missing:
            target = folder / ent.source / f"{ent.name}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".parquet.tmp")
            con.execute(f"create or replace temp table empty_schema ({bronze_schema_sql(ent)})")
            con.execute(f"copy empty_schema to {sql_literal(str(tmp))} "
                        "(format parquet)")
            tmp.replace(target)


def prepare_catalogs(settings: Settings) -> None:
    """Put both SQLite catalogs in WAL mode (created empty when missing).

    WAL lets readers keep reading while dbt commits, and makes each DuckLake commit
    cheaper (one fsync of the log instead of the rollback journal dance). The mode is a
    property of the file, so this runs once per catalog.
    """
    for layer in warehouse.LAYERS:
        path = warehouse.catalog_path(settings, layer)
        with closing(sqlite3.connect(path)) as db:
            if db.execute("pragma journal_mode").fetchone()[0] != "wal":
                db.execute("pragma journal_mode = wal")


def _catalog_problem(path: Path) -> str | None:
    """Why a DuckLake SQLite catalog cannot be used, or None when it looks sound."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            check = db.execute("pragma quick_check").fetchone()[0]
            if check != "ok":
                return f"integrity check failed: {check}"
            if db.execute("select count(*) from sqlite_master").fetchone()[0] == 0:
                return None  # created empty by prepare_catalogs, DuckLake fills it
            db.execute("select max(snapshot_id) from ducklake_snapshot").fetchone()
    except sqlite3.Error as exc:
        return str(exc)
    return None


def recover_catalogs(settings: Settings, say: Progress) -> bool:
    """Move a corrupt catalog (and its layer's data) aside so the build starts afresh.

    Returns:
        True when something was moved aside: the build must then be a full refresh.
        Bronze is never touched.
    """
    moved = False
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for layer in warehouse.LAYERS:
        catalog = warehouse.catalog_path(settings, layer)
        if not catalog.exists():
            continue
        problem = _catalog_problem(catalog)
        if problem is None:
            continue
        aside = settings.warehouse / f"corrupt-{stamp}"
        aside.mkdir(parents=True, exist_ok=True)
        for path in (catalog, *catalog.parent.glob(catalog.name + "-*"),
                     warehouse.data_path(settings, layer)):
            if path.exists():
                shutil.move(str(path), str(aside / path.name))
        warehouse.data_path(settings, layer).mkdir(parents=True, exist_ok=True)
        say(f"{layer} catalog {catalog} is unusable ({problem}); moved it and its data to "
            f"{aside} and rebuilding from Bronze")
        moved = True
    if moved:
        warehouse.reset_publications(settings)
    return moved


def expire_old_builds(settings: Settings, *, keep: int, say: Progress) -> None:
    """Forget publications beyond the newest ``keep`` and expire their snapshots.

    Snapshots older than the oldest kept publication are expired; their data files are
    deleted once they were scheduled for deletion ``CLEANUP_AFTER`` ago (a reader may
    still scan them). Call under the pipeline lock.
    """
    if len(warehouse.read_publications(settings)) <= keep:
        return
    kept = warehouse.trim_publications(settings, keep)
    with connect_duckdb(settings) as con:
        warehouse.load_extensions(con, settings)
        for layer in warehouse.LAYERS:
            path = warehouse.catalog_path(settings, layer)
            con.execute(
                f"attach {sql_literal('ducklake:sqlite:' + str(path))} as {layer} "
                f"(data_path "
                f"{sql_literal(str(warehouse.data_path(settings, layer)) + '/')}, "
                "override_data_path true)"
            )
            oldest = int(getattr(kept[0], f"{layer}_snapshot"))
            (since,) = con.execute(f"select snapshot_time from {layer}.snapshots() "
                                   "where snapshot_id = ?", [oldest]).fetchone()
            expired = con.execute(
                f"call ducklake_expire_snapshots('{layer}', older_than => ?::timestamptz)",
                [since]).fetchall()
            removed = con.execute(
                f"call ducklake_cleanup_old_files('{layer}', "
                f"older_than => now() - interval '{CLEANUP_AFTER}')").fetchall()
            say(f"{layer}: expired {len(expired)} snapshots older than build "
                f"{kept[0].built_at}, deleted {len(removed)} old files")


def _publish(settings: Settings) -> warehouse.Publication:
    with connect_duckdb(settings) as con:
        warehouse.load_extensions(con, settings)
        snapshots = {}
        for layer in warehouse.LAYERS:
            path = warehouse.catalog_path(settings, layer)
            con.execute(
                f"attach {sql_literal('ducklake:sqlite:' + str(path))} as {layer} "
                f"(read_only, data_path "
                f"{sql_literal(str(warehouse.data_path(settings, layer)) + '/')}, "
                "override_data_path true)"
            )
            snapshots[layer] = con.execute(
                f"select max(snapshot_id) from {layer}.snapshots()").fetchone()[0]
        as_of = None
        if con.execute("select count(*) from duckdb_tables() where database_name = 'silver' "
                       "and table_name = 'int_as_of_date'").fetchone()[0]:
            value = con.execute("select max(as_of_date) from silver.int_as_of_date").fetchone()[0]
            as_of = value.isoformat() if value is not None else None
    return warehouse.publish(settings, silver_snapshot=int(snapshots["silver"]),
                             gold_snapshot=int(snapshots["gold"]), as_of_date=as_of)
