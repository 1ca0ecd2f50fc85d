"""The one local Spark session of a process, configured from ``Settings`` (ADR 0022).

Spark is an optional engine (``uv sync --extra spark``): nothing here imports pyspark
until a session is asked for, and a missing extra or a missing Java is a one-line
``EngineUnavailableError``, never a traceback. The session runs in local mode with its
warehouse, embedded Derby metastore and scratch space under the data root, and with the
SQL semantics the dbt project relies on (``SQL_CONF``): UTC session time zone, exact
decimal arithmetic and Bronze read across files of different columns.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakecore.errors import EngineUnavailableError

if TYPE_CHECKING:
    from lakecore.settings import Settings

#: How to get the engine when it is missing.
INSTALL_HINT = "install the spark extra: uv sync --extra spark"

#: SQL semantics every Spark that builds or reads the lakehouse needs: these are also
#: the profile's server_side_parameters (dbt/profiles.yml), for a Thrift server or a
#: Databricks cluster. dbt-spark itself forces spark.sql.ansi.enabled = false.
SQL_CONF = {
    # Instants are shown and truncated in UTC, as DuckDB's TimeZone = UTC.
    "spark.sql.session.timeZone": "UTC",
    # Decimal products keep their full scale (DuckDB's exact DECIMAL arithmetic): with
    # the default (true) Spark cuts a product's scale to 6 digits to fit 38.
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    # Bronze files of one entity may carry different columns (schema evolution, F14):
    # read the union of their columns, as DuckDB's union_by_name.
    "spark.sql.parquet.mergeSchema": "true",
}


def spark_available() -> str | None:
    """Why a Spark session cannot start here (the one-line reason), or None when it can."""
    if importlib.util.find_spec("pyspark") is None:
        return f"Spark is not installed; {INSTALL_HINT}"
    if shutil.which("java") is None:
        return "Spark needs Java (17 or newer) on PATH; install a JDK, e.g. openjdk-17-jre"
    return None


def session_conf(settings: Settings) -> dict[str, str]:
    """Every setting of the local session: ``SQL_CONF`` and the locations under the root."""
    metastore = settings.spark_metastore
    return {
        "spark.master": f"local[{settings.threads}]",
        "spark.app.name": "lakehouse",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(settings.spark_warehouse),
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={metastore};create=true",
        "spark.driver.extraJavaOptions": (f"-Dderby.system.home={settings.spark} "
                                          f"-Dlog4j2.configurationFile=file:{_log_config(settings)}"),
        "spark.local.dir": str(settings.spark_local_dir),
        "spark.driver.memory": f"{settings.memory_limit_mib}m",
        "spark.sql.shuffle.partitions": str(max(2, settings.threads * 2)),
        **SQL_CONF,
    }


#: Spark's own log: errors only, on stderr (its default prints a WARN line per start).
_LOG4J2 = """rootLogger.level = error
rootLogger.appenderRef.console.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""


def _log_config(settings: Settings) -> Path:
    """The log4j2 configuration of the session's JVM (written once under ``spark/``)."""
    path = settings.spark / "log4j2.properties"
    if not path.exists() or path.read_text() != _LOG4J2:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_LOG4J2)
    return path


def spark_session(settings: Settings) -> Any:
    """The process's Spark session for this lakehouse, started on first use (~10 s).

    Raises:
        EngineUnavailableError: pyspark is not installed, Java is missing, or the data root
            is object storage (ADR 0022).
    """
    reason = spark_available()
    if reason is None and settings.is_remote:
        reason = (f"--engine spark reads Bronze as files of the data root, and "
                  f"{settings.data_root} is object storage: Spark would need the hadoop-aws "
                  "connector, which the spark extra does not ship; build this lakehouse "
                  "on DuckDB (the default engine)")
    if reason is not None:
        raise EngineUnavailableError(reason)
    from pyspark.sql import SparkSession  # noqa: PLC0415 - optional extra, ~1 s import

    for path in (settings.spark, settings.spark_warehouse, settings.spark_local_dir):
        path.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in session_conf(settings).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    # pyspark logs every failed statement with its JVM stack trace; the caller reports
    # the error itself, in one line.
    logging.getLogger("SQLQueryContextLogger").disabled = True
    return session
