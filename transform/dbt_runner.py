"""Run the dbt project in ``dbt/`` in-process and read what it did.

``dbt_environment`` hands the profile and the macros every path they need, taken from
``Settings`` (the profile derives nothing itself); ``invoke`` runs a dbt command through
``dbtRunner`` and streams one progress line per model and test; ``collect`` turns dbt's
results into counts and failures (with the first offending rows of a failing test);
``release_connection`` closes dbt-duckdb's process-wide database afterwards.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from lakecore.errors import BuildError
from lakecore.settings import ENV_AWS, LAYERS, Settings

Progress = Callable[[str], None]

#: dbt events turned into progress lines.
_PROGRESS_EVENTS = {"LogModelResult", "LogTestResult", "LogNodeResult", "LogHookEndLine",
                    "LogSnapshotResult", "LogStartLine"}
#: How many offending rows a failure shows.
FAILURE_ROWS = 10


@dataclass(frozen=True)
class Failure:
    """One model or test that did not pass."""

    name: str
    resource_type: str
    status: str
    message: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """The failure and its offending rows, one per line."""
        lines = [f"{self.resource_type} {self.name}: {self.status}: {self.message}"]
        lines += [f"    {row}" for row in self.rows]
        return "\n".join(lines)


@dataclass(frozen=True)
class NodeResult:
    """One model's or test's result, as the run ledger keeps it (``meta.dbt_results``)."""

    unique_id: str
    name: str
    resource_type: str
    layer: str | None
    status: str
    seconds: float
    rows_affected: int | None
    failures: int | None
    message: str


@dataclass
class DbtOutcome:
    """What one dbt invocation ran and which nodes did not pass."""

    models: int = 0
    tests: int = 0
    unit_tests: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    nodes: list[NodeResult] = field(default_factory=list)


def profile_target(settings: Settings) -> str:
    """The profile's output: ``lake``, or ``lake_s3`` when the data is in object storage."""
    return "lake_s3" if settings.is_remote else "lake"


def profile_environment(settings: Settings, *, bronze_batches: Path | None = None
                        ) -> dict[str, str]:
    """The variables ``dbt/profiles.yml`` and ``dbt/macros`` read, all from ``Settings``.

    ``bronze_batches``: the committed batches as JSON lines, for the Spark engine's
    Bronze views (``transform.spark_build``); DuckDB reads the manifest itself.

    With an object-storage root, the ``lake_s3`` output's secret too: the key and secret
    go in ``DBT_ENV_SECRET_*`` variables, which dbt scrubs from its logs, and DuckDB keeps
    the secret in memory only. With a PostgreSQL catalog the connection strings carry no
    password: libpq reads it from ``PGPASSWORD``, a name the logs' redaction knows.
    """
    url = settings.catalog_url
    if url is None:
        catalog = {layer: f"ducklake:sqlite:{settings.catalog_path(layer)}" for layer in LAYERS}
        shared: dict[str, str] = {"LAKEHOUSE_DBT_MANIFEST_PG": "",
                                  "LAKEHOUSE_DBT_CATALOG_EXTENSION": "sqlite"}
    else:
        catalog = {layer: f"ducklake:postgres:{url.libpq(password=False)}" for layer in LAYERS}
        shared = {"LAKEHOUSE_DBT_MANIFEST_PG": url.libpq(password=False),
                  "LAKEHOUSE_DBT_CATALOG_EXTENSION": "postgres"}
        if url.password:
            shared["PGPASSWORD"] = url.password
    extra = {"LAKEHOUSE_DBT_BRONZE_BATCHES": str(bronze_batches)} if bronze_batches else {}
    return {
        **extra,
        **_storage_environment(settings),
        **shared,
        "LAKEHOUSE_DBT_TARGET": profile_target(settings),
        "LAKEHOUSE_DBT_MODEL_THREADS": str(settings.dbt_threads),
        "LAKEHOUSE_DBT_SILVER_SCHEMA": settings.metadata_schema("silver"),
        "LAKEHOUSE_DBT_GOLD_SCHEMA": settings.metadata_schema("gold"),
        "LAKEHOUSE_DBT_ROOT": settings.data_root,
        "LAKEHOUSE_DBT_MANIFEST": str(settings.manifest_path),
        "LAKEHOUSE_DBT_EMPTY_SCHEMAS": str(settings.empty_schemas),
        "LAKEHOUSE_DBT_EXTENSIONS": str(settings.extensions_dir),
        "LAKEHOUSE_DBT_TEMP": str(settings.duckdb_temp),
        "LAKEHOUSE_DBT_MEMORY_LIMIT": settings.memory_limit,
        "LAKEHOUSE_DBT_THREADS": str(settings.threads),
        "LAKEHOUSE_DBT_SILVER_CATALOG": catalog["silver"],
        "LAKEHOUSE_DBT_SILVER_DATA": settings.layer_data_uri("silver"),
        "LAKEHOUSE_DBT_GOLD_CATALOG": catalog["gold"],
        "LAKEHOUSE_DBT_GOLD_DATA": settings.layer_data_uri("gold"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


#: The profile's secret variables and the standard variable each one is copied from.
SECRET_SOURCES = {
    "DBT_ENV_SECRET_LAKEHOUSE_S3_KEY_ID": ENV_AWS["key_id"],
    "DBT_ENV_SECRET_LAKEHOUSE_S3_SECRET": ENV_AWS["secret"],
    "DBT_ENV_SECRET_LAKEHOUSE_S3_SESSION_TOKEN": ENV_AWS["session_token"],
}


def _storage_environment(settings: Settings) -> dict[str, str]:
    """The ``lake_s3`` output's secret settings (nothing for a local root)."""
    store = settings.store
    if store is None:
        return {}
    creds = store.credentials
    return {
        "DBT_ENV_SECRET_LAKEHOUSE_S3_KEY_ID": creds.key_id or "",
        "DBT_ENV_SECRET_LAKEHOUSE_S3_SECRET": creds.secret or "",
        "DBT_ENV_SECRET_LAKEHOUSE_S3_SESSION_TOKEN": creds.session_token or "",
        "LAKEHOUSE_DBT_S3_REGION": creds.region,
        "LAKEHOUSE_DBT_S3_ENDPOINT": creds.endpoint_host or f"s3.{creds.region}.amazonaws.com",
        "LAKEHOUSE_DBT_S3_URL_STYLE": "path" if creds.endpoint_host else "vhost",
        "LAKEHOUSE_DBT_S3_USE_SSL": "true" if creds.use_ssl else "false",
        "LAKEHOUSE_DBT_S3_SCOPE": f"s3://{store.location.bucket}",
    }


@contextmanager
def dbt_environment(settings: Settings, *, bronze_batches: Path | None = None,
                    written_since: str | None = None) -> Iterator[None]:
    """Set the environment the profile reads (``profile_environment``), restore it after.

    ``written_since``: in a daily build, the newest commit time the previous build read;
    tests configured with ``__written_since__`` then check only newer rows
    (``dbt/macros/written_rows.sql``). Empty otherwise: every row.
    """
    values = {**profile_environment(settings, bronze_batches=bronze_batches),
              "LAKEHOUSE_DBT_WRITTEN_SINCE": written_since or ""}
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


def invoke(args: list[str], say: Progress) -> Any:
    """Run one dbt command in-process, streaming progress lines to ``say``.

    Raises:
        BuildError: dbt could not run at all (a broken project or profile).
    """
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - importing dbt costs ~1 s; only here

    def on_event(event: Any) -> None:
        name = event.info.name
        if name in _PROGRESS_EVENTS and event.info.msg:
            say(str(event.info.msg).strip())

    # A full disk makes every write of dbt's log file fail; Python's logging would print a
    # traceback for each one. The failure itself still reaches the caller.
    raise_exceptions, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        outcome = dbtRunner(callbacks=[on_event]).invoke(args)
    finally:
        logging.raiseExceptions = raise_exceptions
    if outcome.exception is not None and outcome.result is None:
        raise BuildError(f"dbt could not run: {outcome.exception}")
    return outcome


def collect(outcome: Any) -> DbtOutcome:
    """Count models and tests of a dbt result and gather every failure and warning."""
    result = DbtOutcome()
    run = outcome.result
    if outcome.exception is not None and not getattr(run, "results", None):
        result.failures.append(Failure("dbt", "project", "error", str(outcome.exception)))
        return result
    for item in getattr(run, "results", []) or []:
        node = item.node
        kind = node.resource_type.value if hasattr(node.resource_type, "value") else str(
            node.resource_type)
        status = str(getattr(item.status, "value", item.status))
        result.nodes.append(_node_result(item, kind, status))
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
    return result


def node_layer(node: Any) -> str | None:
    """The Medallion layer a dbt model belongs to: ``gold`` for marts, else ``silver``."""
    fqn = list(getattr(node, "fqn", []) or [])
    if getattr(node, "resource_type", None) is None or "model" not in str(node.resource_type):
        return None
    return "gold" if "marts" in fqn else "silver"


def _node_result(item: Any, kind: str, status: str) -> NodeResult:
    response = getattr(item, "adapter_response", None) or {}
    rows = response.get("rows_affected") if isinstance(response, dict) else None
    failures = getattr(item, "failures", None)
    return NodeResult(
        unique_id=item.node.unique_id, name=item.node.name, resource_type=kind,
        layer=node_layer(item.node), status=status,
        seconds=round(float(getattr(item, "execution_time", 0.0) or 0.0), 3),
        rows_affected=rows if isinstance(rows, int) and rows >= 0 else None,
        failures=failures if isinstance(failures, int) else None,
        message=(item.message or "").strip()[:500])


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


def release_connection() -> None:
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
