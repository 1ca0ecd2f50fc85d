"""The Bronze commit log: which batches are committed, and which files were rejected.

A SQLite database in WAL mode (``_meta/manifest.sqlite``): one writer (the pipeline, under
its lock) and any number of concurrent readers (dbt, ``lakehouse sql``, dashboards)
without blocking. A batch becomes visible to readers in the single transaction that
inserts its row; a Bronze file without a row is an orphan of a crash and is ignored.

With a shared PostgreSQL catalog (``LAKEHOUSE_CATALOG``, ADR 0021) the same tables live in
schema ``lakehouse`` of that database, so every machine sees the same committed batches.
One class serves both backends (``Manifest.open``): the SQL is the same, only the
connection, the placeholders and the catalog queries differ.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from lakecore.errors import CorruptFileError
from lakecore.settings import PG_STATE_SCHEMA, Settings


class SchemaChangeRow(Protocol):
    """What ``record_schema`` stores of a schema change (``ingestion.drift.SchemaChange``)."""

    @property
    def change(self) -> str:
        """``new``, ``missing`` or ``retyped``."""

    @property
    def column(self) -> str:
        """The column's name."""

    @property
    def detail(self) -> str:
        """One sentence on the change."""

SCHEMA = """
create table if not exists batches (
    batch_id          text primary key,   -- SHA-256 of the landing file's bytes
    source            text not null,
    entity            text not null,
    export_date       text not null,      -- YYYY-MM-DD, = Bronze ingestion_date
    landing_file      text not null,      -- relative to the landing zone
    file_bytes        integer not null,
    input_rows        integer not null,   -- non-blank lines/records (header excluded)
    landed_rows       integer not null,
    quarantined_rows  integer not null,
    blank_lines       integer not null,
    bronze_file       text,               -- relative to the root; null when no row landed
    bronze_sha256     text,
    quarantine_file   text,
    quarantine_sha256 text,
    extra_columns     text not null,      -- JSON list of unknown columns kept in _extra
    run_id            text not null,
    ingested_at       text not null,
    check (input_rows = landed_rows + quarantined_rows)
);
create index if not exists batches_entity on batches (source, entity, export_date);
create table if not exists rejected_files (
    batch_id     text primary key,
    source       text,
    entity       text,
    export_date  text,
    landing_file text not null,
    reason       text not null,
    run_id       text not null,
    rejected_at  text not null
);
create table if not exists batch_columns (
    batch_id     text primary key,       -- the columns a batch's file carried (F14)
    source       text not null,
    entity       text not null,
    columns      text not null            -- JSON list, in file order
);
create table if not exists schema_changes (
    batch_id     text not null,
    source       text not null,
    entity       text not null,
    export_date  text not null,
    landing_file text not null,
    change       text not null,          -- new | missing | retyped
    column_name  text not null,
    detail       text not null,
    recorded_at  text not null,
    primary key (batch_id, change, column_name)
);
"""


@dataclass(frozen=True)
class BatchRecord:
    """One committed batch: a landing file loaded into Bronze."""

    batch_id: str
    source: str
    entity: str
    export_date: str
    landing_file: str
    file_bytes: int
    input_rows: int
    landed_rows: int
    quarantined_rows: int
    blank_lines: int
    bronze_file: str | None
    bronze_sha256: str | None
    quarantine_file: str | None
    quarantine_sha256: str | None
    extra_columns: str
    run_id: str
    ingested_at: str


#: The manifest's tables.
TABLES = ("batches", "rejected_files", "schema_changes")


#: SQLite's declared types as the manifest's PostgreSQL columns declare them.
_PG_TYPES = {"bigint": "integer", "integer": "integer", "text": "text",
             "double precision": "real"}


def _pg_schema() -> str:
    """The manifest's DDL for PostgreSQL: 64-bit integers (file sizes), same tables."""
    return re.sub(r"\binteger\b", "bigint", SCHEMA)


class _PgConnection:
    """A psycopg connection that speaks the manifest's SQL (``?`` placeholders)."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def execute(self, sql: str, params: Sequence[object] = ()) -> Any:
        if sql == "begin immediate":
            sql = "begin"
        return self._con.execute(sql.replace("?", "%s"), list(params) if params else None)

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> Any:
        cur = self._con.cursor()
        cur.executemany(sql.replace("?", "%s"), rows)
        return cur

    def close(self) -> None:
        self._con.close()


class Manifest:
    """Access to the commit log; every write is one short transaction."""

    def __init__(self, path: Path, *, read_only: bool = False,
                 settings: Settings | None = None) -> None:
        """Open the manifest at ``path``, creating its folder and tables if missing (WAL).

        With ``read_only`` the manifest must exist; it is opened by SQLite in read-only
        mode, so a reader never changes a byte of it (nor of its ``-wal`` file).
        ``settings`` with a PostgreSQL catalog opens the manifest in that database
        instead (``path`` is then only named in messages); ``Manifest.open`` chooses.
        """
        self.path = path
        self.read_only = read_only
        self._settings = settings if settings is not None and settings.shared_catalog else None
        self._con: Any = None
        if read_only:
            return
        if self._settings is not None:
            from lakecore import pgcatalog  # noqa: PLC0415 - optional backend

            with pgcatalog.connect(self._settings) as pg, pg.transaction():
                pg.execute("select pg_advisory_xact_lock(%s)", [pgcatalog.LOCK_KEY + 1])
                pg.execute(f"create schema if not exists {PG_STATE_SCHEMA}")
                pg.execute(_pg_schema())
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("pragma journal_mode=wal")
            con.executescript(SCHEMA)

    @classmethod
    def open(cls, settings: Settings, *, read_only: bool = False) -> Manifest:
        """The manifest of a lakehouse: its SQLite file, or its PostgreSQL catalog."""
        return cls(settings.manifest_path, read_only=read_only, settings=settings)

    @staticmethod
    def exists(settings: Settings) -> bool:
        """Whether the lakehouse has a manifest yet (a reader must not create one)."""
        if not settings.shared_catalog:
            return settings.manifest_path.exists()
        from lakecore import pgcatalog  # noqa: PLC0415 - optional backend

        with pgcatalog.connect(settings, read_only=True) as pg:
            row = pg.execute("select to_regclass('batches')").fetchone()
        return row is not None and row[0] is not None

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """The manifest's connection, opened once and kept for the object's life.

        Raises:
            CorruptFileError: The file is not a readable SQLite database (F13); a busy
                or locked database is not damage and is raised as it is.
            CatalogUnavailableError: The PostgreSQL catalog cannot be reached.
        """
        if self._settings is not None:
            if self._con is None:
                from lakecore import pgcatalog  # noqa: PLC0415 - optional backend

                self._con = _PgConnection(pgcatalog.connect(self._settings,
                                                            read_only=self.read_only))
            yield self._con
            return
        try:
            if self._con is None:
                target = f"file:{self.path}?mode=ro" if self.read_only else str(self.path)
                self._con = sqlite3.connect(target, timeout=30, isolation_level=None,
                                            check_same_thread=False, uri=self.read_only)
                self._con.execute("pragma busy_timeout=30000")
            yield self._con
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            self.close()
            raise CorruptFileError(
                "the manifest", self.path, str(exc),
                "`lakehouse rebuild --manifest` re-creates it from the lineage columns of "
                "Bronze and quarantine (which it does not change)") from None

    def _columns(self, table: str) -> list[tuple[str, str]]:
        """A table's (column, SQLite declared type) pairs; empty when it does not exist."""
        with self._connect() as con:
            if self._settings is not None:
                return [(str(name), _PG_TYPES.get(str(kind), "text")) for name, kind in
                        con.execute("select column_name, data_type from "
                                    "information_schema.columns where table_schema = ? "
                                    "and table_name = ? order by ordinal_position",
                                    (PG_STATE_SCHEMA, table)).fetchall()]
            return [(str(name), str(decl)) for _cid, name, decl, *_ in
                    con.execute(f"pragma table_info({table})").fetchall()]

    def table_dump(self, table: str) -> tuple[list[tuple[str, str]], list[tuple[object, ...]]]:
        """A manifest table as it is stored: its (column, declared type) pairs and every row.

        Raises:
            ValueError: ``table`` is not one of the manifest's tables.
        """
        if table not in TABLES:
            raise ValueError(f"unknown manifest table {table!r}")
        columns = self._columns(table)
        if not columns:  # a manifest written before the table existed, opened read-only
            with closing(sqlite3.connect(":memory:")) as empty:
                empty.executescript(SCHEMA)
                return [(str(name), str(decl)) for _cid, name, decl, *_ in
                        empty.execute(f"pragma table_info({table})").fetchall()], []
        with self._connect() as con:
            rows = [tuple(row) for row in con.execute(f"select * from {table}").fetchall()]
        return columns, rows

    def close(self) -> None:
        """Close the connection; the next call opens a new one."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __del__(self) -> None:
        """Close the connection when the object goes away."""
        self.close()

    def committed(self, batch_id: str) -> BatchRecord | None:
        """The committed batch with this id, or None if it was never committed."""
        with self._connect() as con, closing(con.execute(
            "select * from batches where batch_id = ?", (batch_id,)
        )) as cur:
            row = cur.fetchone()
            if row is None:
                return None
            names = [d[0] for d in cur.description]
            return BatchRecord(**dict(zip(names, row, strict=True)))

    def rejection(self, batch_id: str) -> str | None:
        """Why the file of this batch id was rejected, or None if it never was."""
        with self._connect() as con:
            row = con.execute(
                "select reason from rejected_files where batch_id = ?", (batch_id,)
            ).fetchone()
        return None if row is None else row[0]

    def commit(self, records: list[BatchRecord]) -> None:
        """Make batches visible: one transaction, one row each; all or none."""
        if not records:
            return
        names = list(asdict(records[0]))
        cols = ", ".join(names)
        marks = ", ".join("?" for _ in names)
        with self._connect() as con:
            con.execute("begin immediate")
            try:
                con.executemany(f"insert into batches ({cols}) values ({marks})",
                                [list(asdict(r).values()) for r in records])
            except BaseException:
                con.execute("rollback")
                raise
            con.execute("commit")

    def move_aside(self, stamp: str) -> str:
        """Rename the PostgreSQL manifest's tables to ``<table>_damaged_<stamp>``, empty anew.

        The PostgreSQL meaning of moving a damaged manifest file aside
        (``lakehouse rebuild --manifest``); returns the line to show.

        Raises:
            ValueError: This manifest is a SQLite file (its caller moves the file).
        """
        if self._settings is None:
            raise ValueError("move_aside is for a manifest in a PostgreSQL catalog")
        suffix = re.sub(r"\W", "", stamp).lower()
        tables = ("batches", "rejected_files", "batch_columns", "schema_changes")
        with self._connect() as con:
            con.execute("begin")
            try:
                for table in tables:
                    con.execute(f"alter table if exists {table} rename to "
                                f"{table}_damaged_{suffix}")
                con.execute(f"alter index if exists batches_entity rename to "
                            f"batches_entity_damaged_{suffix}")
                con.execute(_pg_schema())
            except BaseException:
                con.execute("rollback")
                raise
            con.execute("commit")
        return (f"moved aside: the manifest tables of {PG_STATE_SCHEMA} -> "
                f"<table>_damaged_{suffix}")

    def forget(self, batch_id: str) -> None:
        """Remove a committed batch (recovery only: ``ingestion.integrity.reingest``)."""
        with self._connect() as con:
            for table in ("batches", "batch_columns", "schema_changes"):
                con.execute(f"delete from {table} where batch_id = ?", (batch_id,))

    def batch_columns(self, batch_id: str) -> tuple[tuple[str, ...] | None,
                                                    tuple[str, ...] | None]:
        """The columns recorded for a batch and for its entity's previous batch (load order).

        Either is None when nothing was recorded (a batch committed before F14's record).
        """
        with self._connect() as con:
            row = con.execute(
                "select b.source, b.entity, b.export_date, b.landing_file, c.columns "
                "from batches b left join batch_columns c using (batch_id) "
                "where b.batch_id = ?", (batch_id,)).fetchone()
            if row is None:
                return None, None
            source, entity, export_date, landing_file, columns = row
            before = con.execute(
                "select c.columns from batches b join batch_columns c using (batch_id) "
                "where b.source = ? and b.entity = ? and (b.export_date < ? or "
                "(b.export_date = ? and b.landing_file < ?)) "
                "order by b.export_date desc, b.landing_file desc limit 1",
                (source, entity, export_date, export_date, landing_file)).fetchone()
        return (None if columns is None else tuple(json.loads(columns)),
                None if before is None else tuple(json.loads(before[0])))

    def record_schema(self, record: BatchRecord, columns: Sequence[str],
                      changes: Sequence[SchemaChangeRow], at: str) -> None:
        """Record a committed batch's columns and its schema changes (one transaction)."""
        with self._connect() as con:
            con.execute("begin immediate")
            con.execute("insert into batch_columns values (?, ?, ?, ?) on conflict (batch_id) "
                        "do update set source = excluded.source, entity = excluded.entity, "
                        "columns = excluded.columns",
                        (record.batch_id, record.source, record.entity,
                         json.dumps(list(columns))))
            con.executemany(
                "insert into schema_changes values (?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict "
                "(batch_id, change, column_name) do update set source = excluded.source, "
                "entity = excluded.entity, export_date = excluded.export_date, landing_file "
                "= excluded.landing_file, detail = excluded.detail, "
                "recorded_at = excluded.recorded_at",
                [(record.batch_id, record.source, record.entity, record.export_date,
                  record.landing_file, c.change, c.column, c.detail, at) for c in changes])
            con.execute("commit")

    def schema_changes(self, limit: int = 20) -> list[dict[str, str]]:
        """The most recent schema changes, newest first."""
        with self._connect() as con, closing(con.execute(
            "select * from schema_changes order by recorded_at desc, export_date desc, "
            "landing_file desc, column_name limit ?", (limit,))) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def reject(self, *, batch_id: str, source: str | None, entity: str | None,
               export_date: str | None, landing_file: str, reason: str, run_id: str,
               at: str) -> None:
        """Record a rejected landing file; a later rejection of the same batch replaces it."""
        with self._connect() as con:
            con.execute(
                "insert into rejected_files values (?, ?, ?, ?, ?, ?, ?, ?) on conflict "
                "(batch_id) do update set source = excluded.source, entity = excluded.entity, "
                "export_date = excluded.export_date, landing_file = excluded.landing_file, "
                "reason = excluded.reason, run_id = excluded.run_id, "
                "rejected_at = excluded.rejected_at",
                (batch_id, source, entity, export_date, landing_file, reason, run_id, at),
            )

    def referenced_files(self) -> set[str]:
        """Every Bronze and quarantine file a committed batch owns (relative paths)."""
        with self._connect() as con:
            rows = con.execute(
                "select bronze_file from batches where bronze_file is not null "
                "union all select quarantine_file from batches where quarantine_file is not null"
            ).fetchall()
        return {r[0] for r in rows}

    def batches(self) -> list[BatchRecord]:
        """Every committed batch, by export date, source, entity and landing file."""
        with self._connect() as con, closing(con.execute(
            "select * from batches order by export_date, source, entity, landing_file"
        )) as cur:
            names = [d[0] for d in cur.description]
            return [BatchRecord(**dict(zip(names, r, strict=True))) for r in cur.fetchall()]

    def rejected(self) -> list[dict[str, str | None]]:
        """Every rejected file as a column-name -> value row, oldest rejection first."""
        with self._connect() as con, closing(con.execute(
            "select * from rejected_files order by rejected_at, landing_file"
        )) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def bronze_files(self, source: str, entity: str) -> list[str]:
        """Committed Bronze files of an entity, oldest export first (relative paths)."""
        with self._connect() as con:
            rows = con.execute(
                "select bronze_file from batches where source = ? and entity = ? "
                "and bronze_file is not null order by export_date, landing_file",
                (source, entity),
            ).fetchall()
        return [r[0] for r in rows]

    def entity_summary(self) -> list[dict[str, object]]:
        """Batches, rows and quarantined rows per entity, with the latest export date."""
        with self._connect() as con, closing(con.execute(
            "select source, entity, count(*) as batches, sum(input_rows) as input_rows, "
            "sum(landed_rows) as landed_rows, sum(quarantined_rows) as quarantined_rows, "
            "min(export_date) as first_export, max(export_date) as latest_export "
            "from batches group by source, entity order by source, entity"
        )) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def as_of_date(self) -> str | None:
        """The latest export date of any committed batch: Gold's as-of date."""
        with self._connect() as con:
            row = con.execute("select max(export_date) from batches").fetchone()
        return row[0] if row else None
