"""Read-only ad-hoc SQL over the lakehouse (``lakehouse sql``, notebooks' explorer).

The connection is an in-memory DuckDB whose schemas are views over committed data only:
``bronze.<entity>`` (committed batches from the manifest), ``quarantine.<entity>``,
``meta.batches`` / ``meta.rejected_files`` (the manifest), and ``silver.<model>`` /
``gold.<model>`` once a build exists. Only SELECT-like statements run; file access is
limited to the lakehouse root and the configuration is locked, so a query cannot write.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pyarrow as pa

from ingestion.contract import ENTITIES
from ingestion.manifest import Manifest
from lakecore.duck import connect_duckdb
from lakecore.errors import QueryError
from lakecore.settings import Settings, sql_literal
from transform.warehouse import attach_readonly

ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}
FORMATS = ("table", "csv", "json")


def _parquet_scan(paths: Sequence[str]) -> str:
    files = ", ".join(sql_literal(p) for p in paths)
    return f"read_parquet([{files}], hive_partitioning = true, union_by_name = true)"


def open_readonly(settings: Settings, *, with_warehouse: bool = True) -> duckdb.DuckDBPyConnection:
    """Open an in-memory, read-only view of the lakehouse.

    Args:
        settings: The lakehouse to look at.
        with_warehouse: Also attach Silver and Gold when a build exists.
    """
    con = connect_duckdb(settings)
    manifest = Manifest(settings.manifest_path)
    con.execute("create schema bronze; create schema quarantine; create schema meta")
    for ent in ENTITIES.values():
        files = [str(settings.root / p) for p in manifest.bronze_files(ent.source, ent.name)]
        empty = settings.empty_schema_path(ent.source, ent.name)
        if files:
            scan = _parquet_scan(files)
        elif empty.exists():
            scan = f"read_parquet({sql_literal(str(empty))})"
        else:
            continue
        con.execute(f"create view bronze.{ent.name} as select * from {scan}")
    batches = manifest.batches()
    q_files = [str(settings.root / b.quarantine_file) for b in batches if b.quarantine_file]
    for ent in ENTITIES.values():
        files = [str(settings.root / b.quarantine_file) for b in batches
                 if b.quarantine_file and b.source == ent.source and b.entity == ent.name]
        if files:
            con.execute(f"create view quarantine.{ent.name} as select * from "
                        f"{_parquet_scan(files)}")
    if q_files:
        con.execute(f"create view quarantine.all_rows as select * from {_parquet_scan(q_files)}")
    _create_table(con, "meta.batches", [asdict(b) for b in batches])
    _create_table(con, "meta.rejected_files", manifest.rejected())
    if with_warehouse:
        attach_readonly(con, settings)
    con.execute(f"set allowed_directories = [{sql_literal(str(settings.root) + '/')}]")
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")
    return con


def _create_table(con: duckdb.DuckDBPyConnection, name: str, rows: list[dict[str, object]]
                  ) -> None:
    """A small in-memory table of text/integer columns (without importing pandas)."""
    if not rows:
        return
    columns = list(rows[0])
    types = ["BIGINT" if isinstance(rows[0][c], int) else "VARCHAR" for c in columns]
    spec = ", ".join(f"{c} {t}" for c, t in zip(columns, types, strict=True))
    con.execute(f"create table {name} ({spec})")
    marks = ", ".join("?" for _ in columns)
    con.executemany(f"insert into {name} values ({marks})", [list(r.values()) for r in rows])


def check_statement(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but one read-only statement, with a clear message."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise QueryError(f"expected exactly one statement, found {len(statements)}")
    kind = statements[0].type.name
    if kind not in ALLOWED_STATEMENTS:
        raise QueryError(f"read-only: {kind} statements are not allowed here; use SELECT")


def run_query(settings: Settings, sql: str, params: Sequence[object] | None = None) -> pa.Table:
    """Run one read-only statement and return its result as Arrow."""
    con = open_readonly(settings)
    try:
        check_statement(con, sql)
        try:
            return con.execute(sql, list(params or [])).to_arrow_table()
        except duckdb.Error as exc:
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
    cells = [[("NULL" if v is None else str(_plain(v))) for v in r.values()] for r in shown]
    header = list(table.column_names)
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    more = len(rows) - len(shown)
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''}"
                 + (f", {more} not shown; use --format csv for all" if more else "") + ")")
    return "\n".join(lines)
