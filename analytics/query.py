"""Read-only ad-hoc SQL over the lakehouse (``lakehouse sql``, notebooks' explorer).

Queries run on the read-only surface (``transform.readonly.open_surface``): an in-memory
DuckDB with no file access whose schemas are views over committed data only:
``bronze.<entity>`` (committed batches from the manifest), ``quarantine.<entity>`` and
``quarantine.all_rows``, ``meta.batches`` / ``meta.rejected_files`` (the manifest), and
``silver.<model>`` / ``gold.<model>`` of the last published build. What cannot write is
decided by the engine (no file access, locked configuration); the statement check below
is only a first line that turns the common mistakes into a clear message.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pyarrow as pa

from lakecore.errors import QueryError
from lakecore.settings import Settings
from transform.readonly import open_surface
from transform.warehouse import Publication, WarehouseNotBuiltError, current_publication

FORMATS = ("table", "csv", "json")
#: ``EXPLAIN`` / ``EXPLAIN ANALYZE`` in front of a query (explained queries are checked too).
_EXPLAIN = re.compile(r"^\s*explain(\s+analyze)?\s+", re.IGNORECASE)
#: A query naming a Silver or Gold table.
_NAMES_WAREHOUSE = re.compile(r"\b(silver|gold)\s*\.", re.IGNORECASE)
#: Functions refused in ad-hoc SQL. File access is already impossible on the surface; these
#: change the connection's logging or run SQL text assembled at run time, and pointing the log
#: at a file makes DuckDB 1.5.5 abort the whole process when the connection closes (it cannot
#: write there), which would take a notebook kernel down with it.
REFUSED_FUNCTIONS = frozenset({"enable_logging", "disable_logging", "truncate_duckdb_logs",
                               "query", "query_table"})


def open_readonly(settings: Settings, *, with_warehouse: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the read-only surface of the lakehouse for ad-hoc SQL.

    Args:
        settings: The lakehouse to look at.
        with_warehouse: Also show Silver and Gold of the last published build, if any.
    """
    publication = _publication(settings) if with_warehouse else None
    return open_surface(settings, publication=publication).connection


def _publication(settings: Settings) -> Publication | None:
    try:
        return current_publication(settings)
    except WarehouseNotBuiltError:
        return None


def check_statement(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but one query (``SELECT``, optionally explained), with a clear message.

    This is a courtesy, not the security boundary: the surface itself cannot touch a file
    whatever the statement. It turns the common mistakes into one line, and refuses the few
    functions (``REFUSED_FUNCTIONS``) that could disturb the process running the query.
    """
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise QueryError(f"expected exactly one statement, found {len(statements)}")
    kind = statements[0].type.name
    if kind not in {"SELECT", "EXPLAIN"}:
        raise QueryError(f"read-only: {kind} statements are not allowed here; use SELECT")
    inner = _EXPLAIN.sub("", sql, count=1) if kind == "EXPLAIN" else sql
    row = con.execute("select json_serialize_sql(?)", [inner]).fetchone()
    tree = json.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        raise QueryError("read-only: only a query (SELECT, optionally under EXPLAIN) is "
                         "allowed here")
    refused = sorted(_function_names(tree) & REFUSED_FUNCTIONS)
    if refused:
        raise QueryError(f"read-only: {', '.join(refused)}() is not allowed in ad-hoc SQL")


def _function_names(node: object) -> set[str]:
    """Every function name in a serialized statement (scalar, aggregate and table)."""
    if isinstance(node, dict):
        names = {str(node["function_name"]).lower()} if "function_name" in node else set()
        for value in node.values():
            names |= _function_names(value)
        return names
    if isinstance(node, list):
        return set().union(*(_function_names(v) for v in node)) if node else set()
    return set()


def run_query(settings: Settings, sql: str, params: Sequence[object] | None = None) -> pa.Table:
    """Run one read-only statement and return its result as Arrow.

    Raises:
        QueryError: The statement is not one query, fails, or names Silver or Gold before
            any build was published (the message says how to build).
    """
    publication = _publication(settings)
    con = open_surface(settings, publication=publication).connection
    try:
        check_statement(con, sql)
        try:
            return con.execute(sql, list(params or [])).to_arrow_table()
        except duckdb.Error as exc:
            if (publication is None and isinstance(exc, duckdb.CatalogException)
                    and _NAMES_WAREHOUSE.search(sql)):
                raise QueryError("Silver and Gold have not been built yet (no build was "
                                 "published): run `lakehouse run` (ingest and build) or "
                                 "`lakehouse build` first") from None
            if isinstance(exc, duckdb.OutOfMemoryException):
                raise QueryError(
                    f"out of memory at LAKEHOUSE_MEMORY_LIMIT={settings.memory_limit}: raise "
                    f"it or narrow the query ({str(exc).splitlines()[0]})") from None
            raise QueryError(f"SQL error: {_first_line(exc)}") from None
    finally:
        con.close()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[:3])


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _cell(value: object) -> str:
    """A value as the text table shows it: floats to 6 significant digits, never ``1e+07``."""
    if value is None:
        return "NULL"
    if isinstance(value, float):
        text = f"{value:.6g}"
        return f"{value:.2f}" if "e+" in text else text
    return str(_plain(value))


def format_table(table: pa.Table, fmt: str, max_rows: int = 50) -> str:
    """Render a result as an aligned text table, CSV or JSON (an array of objects)."""
    if fmt not in FORMATS:
        raise QueryError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    rows = table.to_pylist()
    if fmt == "json":
        return json.dumps([{k: _plain(v) for k, v in r.items()} for r in rows], indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(table.column_names)
        for r in rows:
            writer.writerow(["" if v is None else _plain(v) for v in r.values()])
        return buf.getvalue().rstrip("\n")
    shown = rows[:max_rows]
    cells = [[_cell(v) for v in r.values()] for r in shown]
    header = list(table.column_names)
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    more = len(rows) - len(shown)
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''}"
                 + (f", {more} not shown; use --format csv for all" if more else "") + ")")
    return "\n".join(lines)
