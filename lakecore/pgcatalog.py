"""The shared catalog on PostgreSQL (``LAKEHOUSE_CATALOG=postgresql://...``, ADR 0021).

With a catalog URL, what several machines must agree on lives in one PostgreSQL database:
both DuckLake catalogs (schemas ``silver`` and ``gold``, written by DuckDB's postgres
extension), and in schema ``lakehouse`` the Bronze manifest (``ingestion.manifest``), the
publication record (``transform.warehouse``) and the holder of the pipeline lock
(``lakecore.lock``). This module opens those connections: every failure to connect is one
line naming the host, port and database (never the password).

The pipeline lock is a session-level advisory lock held on a dedicated connection for the
whole run: PostgreSQL releases it when that session ends, however the run ends (a SIGKILL
or a lost machine included, once the server notices the dead connection).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lakecore.errors import LakehouseError, PipelineLockedError
from lakecore.settings import PG_STATE_SCHEMA, CatalogURL, Settings

if TYPE_CHECKING:
    import psycopg

#: The advisory lock's key: one lakehouse per database, so one constant key.
LOCK_KEY = 7_360_110_051
#: Seconds to wait for the server before saying it cannot be reached.
CONNECT_TIMEOUT = 10

STATE_DDL = f"""
create schema if not exists {PG_STATE_SCHEMA};
create table if not exists {PG_STATE_SCHEMA}.publications (
    id              bigserial primary key,
    silver_snapshot bigint not null,
    gold_snapshot   bigint not null,
    as_of_date      text,
    built_at        text not null
);
create table if not exists {PG_STATE_SCHEMA}.lock_holder (
    id          integer primary key check (id = 1),
    pid         integer not null,
    host        text not null,
    command     text not null,
    argv        text not null,
    started_at  text not null
);
"""


class CatalogUnavailableError(LakehouseError):
    """The PostgreSQL catalog cannot be reached or refused the connection (exit 2)."""

    exit_code = 2


def _psycopg() -> Any:
    """The psycopg module, or one clear line when the ``postgres`` extra is missing."""
    try:
        import psycopg  # noqa: PLC0415 - optional: only with LAKEHOUSE_CATALOG
    except ImportError:
        raise CatalogUnavailableError(
            "LAKEHOUSE_CATALOG names a PostgreSQL catalog but psycopg is not installed: "
            "install the `postgres` extra (uv sync --extra postgres)") from None
    return psycopg


def _catalog(settings: Settings | CatalogURL) -> CatalogURL:
    url = settings if isinstance(settings, CatalogURL) else settings.catalog_url
    if url is None:
        raise ValueError("this lakehouse has no PostgreSQL catalog (LAKEHOUSE_CATALOG unset)")
    return url


def connection_problem(url: CatalogURL, exc: BaseException) -> CatalogUnavailableError:
    """One line for a failed connection: where, and why, without the password."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if "failed:" in reason:  # connection failed: connection to server at ... failed: WHY
        reason = reason.rsplit("failed:", 1)[1].strip()
    reason = reason.removeprefix("FATAL:").strip()
    if url.password:
        reason = reason.replace(url.password, "***")
    return CatalogUnavailableError(
        f"cannot connect to the PostgreSQL catalog ({url.describe()}): {reason}; check "
        "LAKEHOUSE_CATALOG and that the server is running")


def connect(settings: Settings | CatalogURL, *, read_only: bool = False,
            autocommit: bool = True) -> psycopg.Connection[Any]:
    """A psycopg connection to the catalog database, ``search_path`` = ``lakehouse``.

    Raises:
        CatalogUnavailableError: Server down, wrong password, missing database (one line).
    """
    psycopg = _psycopg()
    url = _catalog(settings)
    options = f"-c search_path={PG_STATE_SCHEMA}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    try:
        con = psycopg.connect(host=url.host, port=url.port, dbname=url.database,
                              user=url.user, password=url.password,
                              connect_timeout=CONNECT_TIMEOUT, autocommit=autocommit,
                              options=options, application_name="lakehouse")
    except psycopg.Error as exc:
        raise connection_problem(url, exc) from None
    return con


def check(settings: Settings) -> None:
    """Connect once and disconnect: one clear line when the catalog is unreachable."""
    connect(settings).close()


def ensure_state(settings: Settings) -> None:
    """Create schema ``lakehouse`` and its publication and lock tables (idempotent)."""
    with connect(settings) as con:
        _ensure_state(con)


def _ensure_state(con: psycopg.Connection[Any]) -> None:
    with con.transaction():
        # Serialise concurrent first-time creation (two machines starting at once).
        con.execute("select pg_advisory_xact_lock(%s)", [LOCK_KEY + 1])
        con.execute(STATE_DDL)


# The pipeline lock --------------------------------------------------------------------
@contextmanager
def advisory_lock(settings: Settings, command: str) -> Iterator[None]:
    """Hold the pipeline lock (a session advisory lock) for the duration of the block.

    The winner records itself in ``lakehouse.lock_holder`` so the loser can name it.

    Raises:
        PipelineLockedError: Another run, on any machine, holds the lock.
        CatalogUnavailableError: The catalog cannot be reached.
    """
    con = connect(settings)
    import psycopg  # noqa: PLC0415 - optional; installed, since connect() succeeded

    try:
        _ensure_state(con)
        row = con.execute("select pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
        if not (row and row[0]):
            raise PipelineLockedError(_holder(con))
        con.execute(
            "insert into lock_holder values (1, %s, %s, %s, %s, %s) on conflict (id) do "
            "update set pid = excluded.pid, host = excluded.host, command = excluded.command, "
            "argv = excluded.argv, started_at = excluded.started_at",
            [os.getpid(), socket.gethostname(), command, " ".join(sys.argv[:4]),
             datetime.now(UTC).isoformat(timespec="seconds")])
        try:
            yield
        finally:  # also after an error: a later loser must not name a finished run
            with suppress(psycopg.Error):
                con.execute("delete from lock_holder where pid = %s and host = %s",
                            [os.getpid(), socket.gethostname()])
                con.execute("select pg_advisory_unlock(%s)", [LOCK_KEY])
    finally:
        con.close()  # ending the session releases the lock in any case


def _holder(con: psycopg.Connection[Any]) -> str:
    row = con.execute("select pid, host, command, started_at from lock_holder").fetchone()
    if row is None:
        return "holder unknown"
    pid, host, command, since = row
    return f"pid {pid} on {host} running {command!r} since {since}"


# The publication record ---------------------------------------------------------------
def read_publications(settings: Settings) -> list[tuple[int, int, str | None, str]]:
    """Every publication as (silver, gold, as-of date, built at), oldest first."""
    with connect(settings, read_only=True) as con:
        exists = con.execute("select to_regclass('publications')").fetchone()
        if exists is None or exists[0] is None:
            return []
        return [tuple(row) for row in con.execute(
            "select silver_snapshot, gold_snapshot, as_of_date, built_at "
            "from publications order by id").fetchall()]


def write_publications(settings: Settings,
                       rows: list[tuple[int, int, str | None, str]], *,
                       append: bool) -> None:
    """Append one publication, or replace the record with ``rows`` (one transaction)."""
    with connect(settings) as con:
        _ensure_state(con)
        with con.transaction():
            if not append:
                con.execute("delete from publications")
            with con.cursor() as cur:
                cur.executemany("insert into publications (silver_snapshot, gold_snapshot, "
                                "as_of_date, built_at) values (%s, %s, %s, %s)", rows)


def table_record_counts(settings: Settings, layer: str) -> dict[str, int]:
    """Rows per current table of a layer, from its DuckLake statistics (empty if none)."""
    schema = settings.metadata_schema(layer)
    with connect(settings, read_only=True) as con:
        found = con.execute("select to_regclass(%s)", [f"{schema}.ducklake_table"]).fetchone()
        if found is None or found[0] is None:
            return {}
        return {str(name): int(records or 0) for name, records in con.execute(
            f"select t.table_name, s.record_count from {schema}.ducklake_table t "
            f"join {schema}.ducklake_table_stats s using (table_id) "
            "where t.end_snapshot is null").fetchall()}
