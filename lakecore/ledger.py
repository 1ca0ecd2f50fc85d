"""The run ledger: what every run and every step did, kept across runs.

``_meta/ledger.sqlite`` holds four tables, shown read-only as ``meta.*`` by ``lakehouse
sql`` and the health notebook:

- ``runs``: one row per command that does work (``run``, ``ingest``, ``build``, ...):
  start, end, status (``running``, ``success``, ``failed``, ``interrupted``), error, peak RSS.
- ``run_steps``: one row per step of a run (``ingest``, ``verify``, ``dbt``, ``publish``,
  ``health``, ...) with its layer, rows, files and bytes read and written, quarantined
  rows and the step's own peak RSS.
- ``dbt_results``: every model and test of every build (status, seconds, rows, failures).
- ``health_checks``: every data-health check of every build (``transform.health``).

``run(settings, command)`` opens a run, ``step(settings, name, layer)`` a step inside the
current run (or a run of its own when none is open), so the library records itself
whichever face calls it: the CLI, the Makefile or a notebook. Both bind the run id, step
and layer into the structured logs (``lakecore.logs``) and emit OpenLineage START and
COMPLETE/FAIL events (``lakecore.openlineage``).

The ledger is a record, not data: a write that fails (a full disk, a read-only root) is
logged and skipped, and never fails the run it describes. A run killed without a chance to
say so stays ``running`` until the next run on the root marks it ``interrupted``.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from lakecore import logs
from lakecore import openlineage as ol
from lakecore.settings import Settings

SCHEMA = """
create table if not exists runs (
    run_id text primary key,
    command text not null,
    started_at text not null,
    ended_at text,
    status text not null,
    error text,
    seconds real,
    peak_rss_mb real,
    pid integer,
    host text,
    argv text
);
create table if not exists run_steps (
    run_id text not null,
    step_id integer not null,
    step text not null,
    layer text not null,
    started_at text not null,
    ended_at text,
    status text not null,
    error text,
    seconds real,
    rows_read integer,
    rows_written integer,
    files_read integer,
    files_written integer,
    bytes_read integer,
    bytes_written integer,
    quarantined_rows integer,
    peak_rss_mb real,
    detail text,
    primary key (run_id, step_id)
);
create table if not exists dbt_results (
    run_id text not null,
    unique_id text not null,
    name text not null,
    resource_type text not null,
    layer text,
    status text not null,
    seconds real,
    rows_affected integer,
    failures integer,
    message text,
    primary key (run_id, unique_id)
);
create table if not exists health_checks (
    run_id text not null,
    checked_at text not null,
    check_name text not null,
    subject text not null,
    status text not null,
    observed real,
    expected text,
    detail text
);
create index if not exists health_checks_by_time on health_checks (checked_at);
"""
TABLES = ("runs", "run_steps", "dbt_results", "health_checks")
_log = logs.get_logger("ledger")


def ledger_path(settings: Settings) -> Path:
    """Where the ledger of ``settings``'s lakehouse lives."""
    return settings.meta / "ledger.sqlite"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _peak_rss_mb() -> float:
    """The process's peak resident memory since the last reset, in MB (Linux ``VmHWM``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_rss() -> None:
    """Start measuring the peak resident memory afresh (Linux; elsewhere a no-op)."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def connect(settings: Settings, *, read_only: bool = False) -> sqlite3.Connection | None:
    """A connection to the ledger, created on first use (None: read-only and no ledger)."""
    path = ledger_path(settings)
    if read_only:
        if not path.exists():
            return None
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    # A rollback journal, not WAL: a read-only reader of a WAL database creates its -wal
    # file, and readers (`lakehouse sql`) must not change a byte under the root.
    con.execute("pragma journal_mode=delete")
    con.executescript(SCHEMA)
    return con


def table_dump(settings: Settings, table: str) -> tuple[list[tuple[str, str]],
                                                         list[tuple[object, ...]]]:
    """A ledger table's declared columns and rows (empty when there is no ledger yet)."""
    if table not in TABLES:
        raise ValueError(f"not a ledger table: {table}")
    con = connect(settings, read_only=True)
    if con is None:
        con = sqlite3.connect(":memory:")
        con.executescript(SCHEMA)
    with closing(con):
        columns = [(r[1], r[2]) for r in con.execute(f"pragma table_info({table})")]
        rows = con.execute(f"select * from {table}").fetchall()
    return columns, rows


def rows(settings: Settings, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    """Rows of a query over the ledger as dicts (none when there is no ledger yet)."""
    con = connect(settings, read_only=True)
    if con is None:
        return []
    with closing(con):
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, params)]


@dataclass
class Step:
    """One step of a run; the step's code fills in what it read and wrote."""

    run: Run
    step_id: int
    name: str
    layer: str
    started: float = field(default_factory=time.perf_counter)
    started_at: str = field(default_factory=_now)
    rows_read: int | None = None
    rows_written: int | None = None
    files_read: int | None = None
    files_written: int | None = None
    bytes_read: int | None = None
    bytes_written: int | None = None
    quarantined_rows: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    #: Datasets read and written, for the OpenLineage events.
    inputs: list[ol.DatasetRef] = field(default_factory=list)
    outputs: list[ol.DatasetRef] = field(default_factory=list)
    ol_run_id: str = field(default_factory=ol.new_run_id)


@dataclass
class Run:
    """One command's run: its id, its steps, and where it is recorded."""

    settings: Settings
    run_id: str
    command: str
    started: float = field(default_factory=time.perf_counter)
    started_at: str = field(default_factory=_now)
    steps: list[Step] = field(default_factory=list)
    _warned: bool = False

    def write(self, sql: str, params: Sequence[object]) -> None:
        """Execute one write on the ledger; a failure is logged once and skipped."""
        self.write_many(sql, [params])

    def write_many(self, sql: str, params: Sequence[Sequence[object]]) -> None:
        """Execute one write per parameter row in one transaction.

        A failure is logged once per run and skipped: the ledger never fails the run it
        records.
        """
        try:
            con = connect(self.settings)
            assert con is not None
            with closing(con):
                con.execute("begin")
                con.executemany(sql, params)
                con.execute("commit")
        except (sqlite3.Error, OSError) as exc:
            if not self._warned:
                self._warned = True
                _log.warning("ledger_write_failed", error=str(exc).splitlines()[0],
                             ledger=str(ledger_path(self.settings)), file_only=True)


_current: ContextVar[Run | None] = ContextVar("lakehouse_run", default=None)


def current_run() -> Run | None:
    """The run open in this context, if any."""
    return _current.get()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return logs.redact(text.splitlines()[0], logs.secret_values())[:500]


def _mark_interrupted(run: Run) -> None:
    """Mark the runs of this host left ``running`` by a process that is gone."""
    stale = rows(run.settings, "select run_id, pid from runs where status = 'running' "
                 "and host = ?", [socket.gethostname()])
    for row in stale:
        if row["run_id"] != run.run_id and not _alive(row["pid"]):
            run.write("update runs set status = 'interrupted', error = coalesce(error, "
                      "'the process ended without recording an end (killed?)') "
                      "where run_id = ?", [row["run_id"]])
            run.write("update run_steps set status = 'interrupted' where run_id = ? "
                      "and status = 'running'", [row["run_id"]])


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def run(settings: Settings, command: str) -> Iterator[Run]:
    """Record one run of ``command``; nested calls join the run already open.

    The run's row is written at the start (status ``running``) and completed at the end
    with ``success``, ``failed`` (and the error's first line) or ``interrupted``.
    """
    existing = _current.get()
    if existing is not None and existing.settings.root == settings.root:
        yield existing
        return
    logs.configure(settings.meta)
    _reset_peak_rss()
    current = Run(settings, run_id=ol.new_run_id(), command=command)
    token = _current.set(current)
    bound = structlog.contextvars.bind_contextvars(run_id=current.run_id, step=command,
                                                   layer="-")
    current.write("insert into runs (run_id, command, started_at, status, pid, host, argv) "
                  "values (?, ?, ?, 'running', ?, ?, ?)",
                  [current.run_id, command, current.started_at, os.getpid(),
                   socket.gethostname(), logs.redact(" ".join(sys.argv[:8]),
                                                     logs.secret_values())])
    _mark_interrupted(current)
    _log.info("run_started", command=command, root=str(settings.root))
    ol.emit_run(settings, current.run_id, command, "START")
    status, error = "success", None
    try:
        yield current
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else "failed"
        error = _first_line(exc)
        raise
    finally:
        seconds = time.perf_counter() - current.started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        current.write("update runs set ended_at = ?, status = ?, error = ?, seconds = ?, "
                      "peak_rss_mb = ? where run_id = ?",
                      [_now(), status, error, round(seconds, 3), round(peak, 1),
                       current.run_id])
        level = "info" if status == "success" else "error"
        getattr(_log, level)("run_finished", command=command, status=status, error=error,
                             seconds=round(seconds, 3), file_only=status != "success")
        ol.emit_run(settings, current.run_id, command,
                    "COMPLETE" if status == "success" else "FAIL", error=error)
        structlog.contextvars.reset_contextvars(**bound)
        _current.reset(token)


@contextmanager
def step(settings: Settings, name: str, layer: str) -> Iterator[Step]:
    """Record one step of the current run (opening a run named ``name`` if none is open)."""
    with run(settings, name) as current:
        record = Step(current, step_id=len(current.steps) + 1, name=name, layer=layer)
        current.steps.append(record)
        _reset_peak_rss()
        bound = structlog.contextvars.bind_contextvars(step=name, layer=layer)
        current.write("insert into run_steps (run_id, step_id, step, layer, started_at, "
                      "status) values (?, ?, ?, ?, ?, 'running')",
                      [current.run_id, record.step_id, name, layer, record.started_at])
        _log.info("step_started")
        ol.emit_step(settings, current.run_id, current.command, record, "START")
        status, error = "success", None
        try:
            yield record
        except BaseException as exc:
            status = ("interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit)
                      else "failed")
            error = _first_line(exc)
            raise
        finally:
            _finish_step(current, record, status, error)
            structlog.contextvars.reset_contextvars(**bound)


def _finish_step(current: Run, record: Step, status: str, error: str | None) -> None:
    seconds = time.perf_counter() - record.started
    peak = _peak_rss_mb()
    current.write(
        "update run_steps set ended_at = ?, status = ?, error = ?, seconds = ?, rows_read = ?,"
        " rows_written = ?, files_read = ?, files_written = ?, bytes_read = ?, "
        "bytes_written = ?, quarantined_rows = ?, peak_rss_mb = ?, detail = ? "
        "where run_id = ? and step_id = ?",
        [_now(), status, error, round(seconds, 3), record.rows_read, record.rows_written,
         record.files_read, record.files_written, record.bytes_read, record.bytes_written,
         record.quarantined_rows, round(peak, 1),
         json.dumps(record.detail, default=str) if record.detail else None,
         current.run_id, record.step_id])
    fields = {k: v for k, v in (("rows_read", record.rows_read),
                                ("rows_written", record.rows_written),
                                ("files_read", record.files_read),
                                ("files_written", record.files_written),
                                ("quarantined_rows", record.quarantined_rows))
              if v is not None}
    level = "info" if status == "success" else "error"
    getattr(_log, level)("step_finished", status=status, error=error,
                         seconds=round(seconds, 3), peak_rss_mb=round(peak, 1),
                         file_only=status != "success", **fields)
    ol.emit_step(current.settings, current.run_id, current.command, record,
                 "COMPLETE" if status == "success" else "FAIL", error=error)


def progress_logger(say: Any) -> Any:
    """Wrap a progress callback so every line it prints is also logged."""
    def both(line: str) -> None:
        _log.info("progress", message=line)
        say(line)

    return both
