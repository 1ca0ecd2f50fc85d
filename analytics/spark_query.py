"""Read-only ad-hoc SQL over the Spark-built Silver and Gold (``lakehouse sql --engine spark``).

ADR 0013 promises that no SQL text a user types can change a file. On DuckDB the engine
keeps that promise (a surface with no file access); a Spark session can read and write
any path it can reach, so here the statement itself is checked before Spark sees it
(ADR 0022), parsed with sqlglot's Spark dialect:

* exactly one statement, and it is a query (``select``, ``with ... select``, set
  operations): no DDL, DML, ``cache``, ``set``, ``add jar``, ``refresh``, ...;
* every table it reads is ``silver.<model>`` or ``gold.<model>`` (or a name its own
  ``with`` defines): no path-based read such as parquet.`/x`, no other schema or catalog,
  no table-valued function;
* no function that reaches outside SQL (``reflect``, ``java_method``, ...).

Anything else is refused with one line (``QueryError``, exit 2), before a Spark session
is started.
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from lakecore.errors import QueryError
from lakecore.settings import Settings

#: The schemas a query may read.
READABLE_SCHEMAS = frozenset({"silver", "gold"})
#: Functions that call into the JVM or read files: refused in ad-hoc SQL.
REFUSED_FUNCTIONS = frozenset({"reflect", "java_method", "try_reflect", "read_files",
                               "input_file_name", "input_file_block_start",
                               "input_file_block_length"})


def check_spark_statement(sql: str) -> exp.Query:
    """The parsed query when it is a single read of ``silver.*`` / ``gold.*`` tables.

    Raises:
        QueryError: Anything else, with the reason in one line.
    """
    # sqlglot warns on stderr when it falls back to an opaque command; the refusal below
    # says it in one line instead.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    try:
        statements = [s for s in sqlglot.parse(sql, read="spark") if s is not None]
    except ParseError as exc:
        message = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise QueryError(f"not a valid Spark SQL query: {message}") from None
    if len(statements) != 1:
        raise QueryError(f"one query at a time, got {len(statements)} statements")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        kind = statement.key.upper() if statement.key != "command" else str(
            statement.this).upper()
        raise QueryError(f"only read queries are allowed on Spark (select / with), not {kind}")
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    for table in statement.find_all(exp.Table):
        _check_table(table, ctes)
    for function in statement.find_all(exp.Func):
        name = (function.name if isinstance(function, exp.Anonymous)
                else function.sql_name()).lower()
        if name in REFUSED_FUNCTIONS:
            raise QueryError(f"function {name}() is not allowed in ad-hoc SQL on Spark")
    return statement


def _check_table(table: exp.Table, ctes: set[str]) -> None:
    """Refuse a table reference that is not silver.<name>, gold.<name> or a CTE."""
    shown = table.sql(dialect="spark")
    if not isinstance(table.this, exp.Identifier):
        raise QueryError(f"{shown}: only silver.<table> and gold.<table> can be read")
    if table.catalog:
        raise QueryError(f"{shown}: name tables as silver.<table> or gold.<table>, "
                         "without a catalog")
    schema = table.db.lower()
    if not schema:
        if table.name.lower() in ctes:
            return
        raise QueryError(f"{shown}: name tables as silver.<table> or gold.<table>")
    if schema not in READABLE_SCHEMAS or not table.name.replace("_", "").isalnum():
        raise QueryError(f"{shown}: only silver.<table> and gold.<table> can be read "
                         "(no paths, no other schemas)")


def run_spark_query(settings: Settings, sql: str) -> pa.Table:
    """Run one checked read query on the Spark-built warehouse; the result as Arrow.

    Raises:
        QueryError: The statement is refused, or Spark rejects it (one line).
        EngineUnavailableError: The spark extra or Java is missing.
        WarehouseNotBuiltError: Nothing was built on Spark yet.
    """
    check_spark_statement(sql)
    from transform.spark_build import spark_gold_session  # noqa: PLC0415 - starts a JVM

    session = spark_gold_session(settings)
    try:
        return session.sql(sql).toArrow()
    except Exception as exc:  # noqa: BLE001 - py4j and pyspark raise many kinds
        raise QueryError(f"Spark: {_first_line(exc)}") from None


def _first_line(exc: Any) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
