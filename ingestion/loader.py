"""Load landing files into immutable, append-only Bronze Parquet (RELIABILITY protocol).

For each landing file not yet committed, in export-date order:

1. Its batch id is the SHA-256 of its bytes; a committed or rejected id is skipped.
2. It is streamed in blocks through one validating SQL statement per entity; good rows
   go to a Bronze Parquet file, bad rows (with line number and reason) to a quarantine
   Parquet file, both written under ``_staging/`` and then renamed into place.
3. The batch is committed with one manifest row (one SQLite transaction). Readers list
   committed files from the manifest only, so a crash at any point leaves either nothing
   visible or the whole batch.

Input rows always equal landed plus quarantined rows: checked per batch, also by the
manifest's CHECK constraint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingestion import drift, reader
from ingestion.contract import ENTITIES, Entity
from ingestion.landing import LandingFile, LayoutProblem, classify, discover, resolve_inside
from ingestion.manifest import BatchRecord, Manifest
from ingestion.schemas import write_empty_schemas
from ingestion.validate import ValidationQuery, validation_query
from lakecore import ledger
from lakecore import openlineage as ol
from lakecore.duck import connect_duckdb
from lakecore.errors import (
    FileRejectedError,
    LakehouseError,
    StorageError,
    UserInputError,
    is_disk_full,
)
from lakecore.lock import pipeline_lock
from lakecore.settings import Settings

Progress = Callable[[str], None]
#: How many "ingest: N%" progress lines a run prints (besides noteworthy files).
PROGRESS_STEPS = 10
QUARANTINE_COLUMNS = ("_batch_id", "_source_file", "_line_number", "_export_date",
                      "_ingested_at", "_reason")


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one landing file in one run."""

    landing_file: str
    status: str  # loaded | empty | duplicate | rejected | refused
    batch_id: str | None = None
    input_rows: int = 0
    landed_rows: int = 0
    quarantined_rows: int = 0
    seconds: float = 0.0
    message: str = ""

    @property
    def noteworthy(self) -> bool:
        """Whether the file deserves its own progress line: quarantine, a rejection, drift."""
        return bool(self.quarantined_rows or self.message
                    or self.status in ("rejected", "refused"))

    def line(self) -> str:
        """One progress line: rows landed and quarantined, or the status and its reason."""
        if self.status in ("loaded", "empty"):
            text = (f"{self.landing_file}: {self.landed_rows:,} rows landed, "
                    f"{self.quarantined_rows:,} quarantined ({self.seconds:.2f} s)")
            return text + (f" [{self.message}]" if self.message else "")
        return f"{self.landing_file}: {self.status}: {self.message}"


@dataclass
class IngestReport:
    """The outcome of one ``ingest`` run."""

    run_id: str
    #: The landing zone the run looked in (for the "nothing found" message).
    landing: Path | str | None = None
    outcomes: list[FileOutcome] = field(default_factory=list)
    orphans_removed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """How many landing files ended with ``status`` (``loaded``, ``duplicate``, ...)."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def landed_rows(self) -> int:
        """Rows written to Bronze over every file of the run."""
        return sum(o.landed_rows for o in self.outcomes)

    @property
    def quarantined_rows(self) -> int:
        """Rows written to quarantine over every file of the run."""
        return sum(o.quarantined_rows for o in self.outcomes)

    @property
    def input_rows(self) -> int:
        """Records read from the landing files over every file of the run."""
        return sum(o.input_rows for o in self.outcomes)

    def summary(self) -> str:
        """The run on one line: new batches, rows, duplicates, rejections and orphans."""
        loaded = self.count("loaded") + self.count("empty")
        parts = [
            f"ingest: {loaded} new batch(es), {self.landed_rows:,} rows landed, "
            f"{self.quarantined_rows:,} quarantined, in {self.seconds:.1f} s"
        ]
        if self.count("duplicate"):
            parts.append(f"{self.count('duplicate')} file(s) already loaded (no-op)")
        if self.count("rejected") + self.count("refused"):
            parts.append(f"{self.count('rejected') + self.count('refused')} file(s) rejected")
        if self.orphans_removed:
            parts.append(f"{len(self.orphans_removed)} orphan file(s) of an interrupted run "
                         "removed")
        if not self.outcomes:
            where = f" in {self.landing}" if self.landing is not None else ""
            parts.append(f"no landing files found{where} (write exports there as "
                         "<source>/<entity>/<YYYY-MM-DD>/<file>.csv|.jsonl, or run "
                         "`lakehouse simulate`)")
        return "; ".join(parts)


def pause_point(name: str, settings: Settings) -> None:
    """Fault-injection hook: with ``LAKEHOUSE_PAUSE_AT=name``, stop here until killed.

    The process announces itself (a marker file under ``_meta``) and waits to be killed.
    Tests use it to SIGKILL a real process at an exact point of the protocol.
    """
    if settings.pause_at != name:
        return
    marker = settings.meta / f"paused-at-{name}"
    marker.write_text(str(os.getpid()))
    while True:  # pragma: no cover - ended by the test's SIGKILL
        signal.pause()


def sha256_file(path: Path, block: int = 8 * 1024 * 1024) -> tuple[str, int]:
    """Content hash (the batch identity) and size of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def ingest(
    settings: Settings,
    *,
    files: list[str] | None = None,
    progress: Progress | None = None,
    take_lock: bool = True,
) -> IngestReport:
    """Load every landing file (or just ``files``) not yet committed into Bronze.

    Args:
        settings: Where the lakehouse and its landing zone live.
        files: Paths inside the landing zone to load; all of them when ``None``. A path
            outside the zone is refused before anything is read.
        progress: Called with one line per file and step.
        take_lock: False when the caller already holds the pipeline lock.

    Returns:
        What happened to every file.
    """
    say = ledger.progress_logger(progress or (lambda _msg: None))
    lock = pipeline_lock(settings, "ingest") if take_lock else nullcontext()
    with lock, ledger.step(settings, "ingest", "bronze") as step:
        # Taken before the landing zone is listed: an object written after the listing
        # is newer than its batch, so the next run reads it again (``landing_view``).
        ingested_at = datetime.now(UTC)
        with landing_view(settings, say, whole_zone=files is None) as (local, unchanged):
            report = _ingest(local, files, say, ingested_at)
            report.outcomes[:0] = unchanged
            if settings.landing_store is not None:
                report.landing = settings.landing_store.uri()
            record_ingest(local, step, report)
            return report


@contextmanager
def landing_view(settings: Settings, say: Progress, *, whole_zone: bool = True
                 ) -> Iterator[tuple[Settings, list[FileOutcome]]]:
    """Settings whose ``landing`` is a local folder holding the landing zone's files.

    A local landing zone is used as it is. An object-storage landing zone is copied into a
    private folder under the local state's ``_staging/`` for the run (the batch identity
    is the hash of the bytes) and removed afterwards; copies a killed run left behind go
    first (the caller holds the pipeline lock). With ``whole_zone``, an object that a
    committed batch loaded and that was not written since (same key, same size, last
    modified before the run that loaded it began) is not copied again: it comes back as a
    ``duplicate`` outcome, so a daily ingest reads only the new exports, not the history.
    """
    store = settings.landing_store
    if store is None:
        yield settings, []
        return
    for stale in settings.staging.glob("landing-*"):
        shutil.rmtree(stale, ignore_errors=True)
    local = settings.staging / f"landing-{uuid.uuid4().hex[:12]}"
    try:
        objects = store.stats()
        unchanged = _unchanged_objects(settings, objects) if whole_zone else {}
        wanted = sorted(set(objects) - set(unchanged))
        from pyarrow import fs as pafs  # noqa: PLC0415 - only object-storage landing zones

        with store.errors("copying the landing zone"):
            if wanted and not unchanged:  # the first ingest: one recursive copy
                pafs.copy_files(store.fs_path(), str(local), source_filesystem=store.fs,
                                destination_filesystem=pafs.LocalFileSystem(),
                                use_threads=True)
            for relative in wanted if unchanged else []:
                (local / relative).parent.mkdir(parents=True, exist_ok=True)
                pafs.copy_files(store.fs_path(relative), str(local / relative),
                                source_filesystem=store.fs,
                                destination_filesystem=pafs.LocalFileSystem())
        say(f"ingest: read {len(wanted):,} landing object(s), "
            f"{sum(objects[k][0] for k in wanted) / 1e6:,.1f} MB, from {store.uri()}"
            + (f"; {len(unchanged):,} already loaded and unchanged" if unchanged else ""))
        local.mkdir(parents=True, exist_ok=True)
        yield dataclasses.replace(settings, landing=local), sorted(
            unchanged.values(), key=lambda outcome: outcome.landing_file)
    finally:
        shutil.rmtree(local, ignore_errors=True)


def _unchanged_objects(settings: Settings, objects: dict[str, tuple[int, datetime | None]]
                       ) -> dict[str, FileOutcome]:
    """The landing objects a committed batch loaded and nobody wrote since, as duplicates."""
    if not Manifest.exists(settings):
        return {}
    manifest = Manifest.open(settings, read_only=True)
    try:
        committed = {b.landing_file: b for b in manifest.batches()}
    finally:
        manifest.close()
    unchanged = {}
    for relative, (size, modified) in objects.items():
        batch = committed.get(relative)
        if (batch is None or modified is None or size != batch.file_bytes
                or modified >= datetime.fromisoformat(batch.ingested_at)):
            continue
        unchanged[relative] = FileOutcome(
            relative, "duplicate", batch.batch_id,
            message=f"already loaded on {batch.ingested_at[:19]} and not written since; "
                    "nothing to do")
    return unchanged


def record_ingest(settings: Settings, step: ledger.Step, report: IngestReport) -> None:
    """Fill the ledger step and its lineage datasets from what the ingest did."""
    loaded = [o for o in report.outcomes if o.status in ("loaded", "empty")]
    step.files_read = len(report.outcomes)
    step.rows_read = report.input_rows
    step.rows_written = report.landed_rows
    step.quarantined_rows = report.quarantined_rows
    step.files_written = len(loaded)
    step.bytes_read = sum(_size(settings.landing / o.landing_file) for o in report.outcomes)
    step.detail = {status: report.count(status) for status in
                   ("loaded", "empty", "duplicate", "rejected", "refused") if report.count(status)}
    namespace = ol.data_namespace(settings)
    step.inputs = [ol.DatasetRef(namespace, f"landing/{o.landing_file}") for o in loaded]
    by_entity: dict[str, int] = {}
    for outcome in loaded:
        entity = "/".join(Path(outcome.landing_file).parts[:2])
        by_entity[entity] = by_entity.get(entity, 0) + outcome.landed_rows
    step.outputs = [ol.DatasetRef(namespace, f"bronze/{entity}", row_count=rows)
                    for entity, rows in sorted(by_entity.items())]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


#: Small files of one entity are validated together, up to this many bytes per statement.
GROUP_BYTES = 32 * 1024 * 1024
#: DuckDB parallelises an Arrow scan by record batch: a 32 MiB block is one batch unless
#: split, which would validate it on one thread.
SCAN_BATCH_ROWS = 16_384


@dataclass
class _Pending:
    """A landing file that passed screening and waits to be loaded."""

    lf: LandingFile
    batch_id: str
    size: int
    header: tuple[str, ...] | None
    input_rows: int = 0
    blank_lines: int = 0
    good: _LazyWriter | None = None
    bad: _LazyWriter | None = None


def _ingest(settings: Settings, files: list[str] | None, say: Progress,
            ingested_at: datetime) -> IngestReport:
    started = time.perf_counter()
    settings.ensure_dirs()
    manifest = Manifest.open(settings)
    current = ledger.current_run()
    report = IngestReport(run_id=current.run_id if current else uuid.uuid4().hex[:12],
                          landing=settings.landing)
    report.orphans_removed = remove_orphans(settings, manifest)
    for orphan in report.orphans_removed:
        say(f"removed orphan of an interrupted run: {orphan}")
    if files is None:
        candidates, problems = discover(settings.landing)
    else:
        candidates, problems = [], []
        for given in files:
            path = resolve_inside(settings.landing, given)
            if not path.is_file():
                raise UserInputError(f"{given}: no such landing file (looked for {path})")
            result = classify(settings.landing, path)
            (candidates if isinstance(result, LandingFile) else problems).append(result)  # type: ignore[arg-type]
        candidates.sort(key=lambda f: f.sort_key)

    total = len(candidates) + len(problems)
    step = max(1, -(-total // PROGRESS_STEPS))

    def done(outcome: FileOutcome) -> None:
        report.outcomes.append(outcome)
        if outcome.noteworthy:
            say(outcome.line())
        seen_files = len(report.outcomes)
        if seen_files % step == 0 or seen_files == total:
            say(f"ingest: {seen_files * 100 // max(total, 1):3d}% ({seen_files:,} of "
                f"{total:,} files; {report.landed_rows:,} rows landed, "
                f"{report.quarantined_rows:,} quarantined)")

    with connect_duckdb(settings) as con:
        write_empty_schemas(settings, con)
        for problem in problems:
            done(_record_problem(settings, manifest, problem, report.run_id, ingested_at))
        pending: list[_Pending] = []
        seen: dict[str, str] = {}
        for lf in candidates:
            screened = _screen(manifest, lf, seen, report.run_id, ingested_at)
            if isinstance(screened, FileOutcome):
                done(screened)
            else:
                pending.append(screened)
        for group in _groups(pending):
            for outcome in _load_group(settings, manifest, con, group, run_id=report.run_id,
                                       ingested_at=ingested_at):
                done(outcome)
    _record_column_changes(manifest, report, ingested_at.isoformat())
    report.seconds = time.perf_counter() - started
    return report


def _record_problem(settings: Settings, manifest: Manifest, problem: LayoutProblem,
                    run_id: str, at: datetime) -> FileOutcome:
    path = settings.landing / problem.relative
    batch_id = None
    if path.is_file() and not path.is_symlink():
        batch_id, _ = sha256_file(path)
    manifest.reject(batch_id=batch_id or f"path:{problem.relative}", source=problem.source,
                    entity=problem.entity, export_date=problem.export_date,
                    landing_file=problem.relative, reason=problem.reason, run_id=run_id,
                    at=at.isoformat())
    return FileOutcome(problem.relative, "refused", batch_id, message=problem.reason)


def _screen(manifest: Manifest, lf: LandingFile, seen: dict[str, str], run_id: str,
            at: datetime) -> _Pending | FileOutcome:
    """Hash a file and decide: already loaded, rejected before, rejected now, or to load."""
    batch_id, size = sha256_file(lf.path)
    earlier = manifest.committed(batch_id)
    if earlier is not None or batch_id in seen:
        first = earlier.landing_file if earlier is not None else seen[batch_id]
        when = f" on {earlier.ingested_at[:19]}" if earlier is not None else " in this run"
        where = "" if first == lf.relative else f" as {first}"
        return FileOutcome(lf.relative, "duplicate", batch_id,
                           message=f"already loaded{where}{when}; nothing to do")
    rejected = manifest.rejection(batch_id)
    if rejected is not None:
        return FileOutcome(lf.relative, "rejected", batch_id,
                           message=f"rejected earlier, unchanged since: {rejected}")
    header = None
    try:
        reader.check_line_ends(lf.path)
        if lf.entity.format == "csv":
            header = tuple(reader.read_csv_header(lf.path, lf.entity.required_columns))
    except FileRejectedError as exc:
        manifest.reject(batch_id=batch_id, source=lf.entity.source, entity=lf.entity.name,
                        export_date=lf.export_date, landing_file=lf.relative,
                        reason=exc.reason, run_id=run_id, at=at.isoformat())
        return FileOutcome(lf.relative, "rejected", batch_id, message=exc.reason)
    seen[batch_id] = lf.relative
    return _Pending(lf, batch_id, size, header)


def _groups(pending: list[_Pending]) -> Iterator[list[_Pending]]:
    """Group small files of one entity (and one CSV header) for a shared statement."""
    ordered = sorted(pending, key=lambda p: (p.lf.entity.qualified, p.header or (),
                                             p.lf.export_date, p.lf.relative))
    group: list[_Pending] = []
    size = 0
    for p in ordered:
        same = group and (group[0].lf.entity is p.lf.entity and group[0].header == p.header)
        if group and (not same or size + p.size > GROUP_BYTES):
            yield group
            group, size = [], 0
        group.append(p)
        size += p.size
    if group:
        yield group


def _file_chunks(p: _Pending, block_bytes: int) -> Iterator[pa.Table]:
    """Chunks of one file with their lineage columns (``_batch_id``, ...)."""
    lf = p.lf
    if lf.entity.format == "jsonl":
        if _is_empty_json_array(lf.path):
            return
        tables: Iterator[pa.Table] = (
            pa.table({"_line_number": np.arange(first, first + len(lines), dtype=np.int64),
                      "_raw": lines, "_line": reader.line_contents(lines)})
            for first, lines in reader.iter_line_blocks(lf.path, block_bytes))
        stats = None
    else:
        assert p.header is not None
        stats = reader.ReadStats()
        tables = reader.iter_csv_chunks(lf.path, list(p.header), stats, block_bytes)
    for table in tables:
        n = table.num_rows
        yield table.append_column("_batch_id", pa.repeat(p.batch_id, n)).append_column(
            "_source_file", pa.repeat(lf.relative, n)).append_column(
            "_export_date", pa.repeat(lf.export_date, n))
    if stats is not None:  # JSON Lines blank lines are counted from the query's result
        p.blank_lines += stats.blank_lines


def _group_chunks(group: list[_Pending], block_bytes: int
                  ) -> Iterator[tuple[pa.Table, dict[str, int]]]:
    """Concatenate small files' chunks up to the block size; stream big files alone.

    Yields each chunk with the number of physical records (lines for JSON Lines) it holds
    per batch, so blank lines can be counted per batch.
    """
    buffer: list[pa.Table] = []
    counts: dict[str, int] = {}
    buffered = 0
    for p in group:
        for table in _file_chunks(p, block_bytes):
            buffer.append(table)
            counts[p.batch_id] = counts.get(p.batch_id, 0) + table.num_rows
            buffered += table.get_total_buffer_size()
            if buffered >= block_bytes:
                yield _rebatched(buffer), counts
                buffer, counts, buffered = [], {}, 0
    if buffer:
        yield _rebatched(buffer), counts


def _rebatched(tables: list[pa.Table]) -> pa.Table:
    """One table in record batches small enough for DuckDB to scan on every thread."""
    batches = pa.concat_tables(tables).to_batches(max_chunksize=SCAN_BATCH_ROWS)
    return pa.Table.from_batches(batches) if batches else pa.concat_tables(tables)


def _is_empty_json_array(path: Path) -> bool:
    """A JSON Lines file whose only content is ``[]`` is an empty export (B10)."""
    if path.stat().st_size > 64:
        return False
    return path.read_bytes().lstrip(reader.BOM).strip() == b"[]"


class _LazyWriter:
    """A Parquet writer that creates its file only when the first row arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd",
                                           compression_level=3)
        self.writer.write_table(table, row_group_size=1_000_000)
        self.rows += table.num_rows

    def close(self) -> str | None:
        """Close and return the file's SHA-256 (None when never opened).

        Durability comes from one ``os.sync()`` per group before the commit, instead of an
        fsync per file and folder (two per batch).
        """
        if self.writer is None:
            return None
        self.writer.close()
        return sha256_file(self.path)[0]

    def discard(self) -> None:
        if self.writer is not None:
            with suppress(OSError):
                self.writer.close()
        self.path.unlink(missing_ok=True)


def _load_group(settings: Settings, manifest: Manifest, con: duckdb.DuckDBPyConnection,
                group: list[_Pending], *, run_id: str, ingested_at: datetime
                ) -> list[FileOutcome]:
    """Validate a group's files with one statement per chunk; commit each file alone."""
    started = time.perf_counter()
    ent = group[0].lf.entity
    header = list(group[0].header or ())
    query = validation_query(ent, json_input=ent.format == "jsonl", header=header)
    params = {**query.params, "ingested_at": ingested_at}
    settings.staging.mkdir(parents=True, exist_ok=True)
    by_id = {p.batch_id: p for p in group}
    for p in group:
        p.good = _LazyWriter(settings.staging / f"{p.batch_id}.bronze.parquet.tmp")
        p.bad = _LazyWriter(settings.staging / f"{p.batch_id}.quarantine.parquet.tmp")
    current = group[0]
    try:
        for chunk, counts in _group_chunks(group, settings.block_bytes):
            result = _validate_chunk(con, chunk, query, params)
            current = _write_chunk(result, counts, by_id, ent)
            pause_point("during_bronze_write", settings)
        hashes = {p.batch_id: (p.good.close(), p.bad.close()) for p in group}  # type: ignore[union-attr]
    except (OSError, duckdb.Error) as exc:
        for p in group:
            p.good.discard()  # type: ignore[union-attr]
            p.bad.discard()  # type: ignore[union-attr]
        if isinstance(exc, duckdb.Error) and not is_disk_full(exc):
            raise
        cause = "no space left on device" if is_disk_full(exc) else (
            getattr(exc, "strerror", None) or str(exc))
        raise StorageError(f"batch {current.lf.relative}", current.good.path,  # type: ignore[union-attr]
                           cause) from None
    return _commit_group(settings, manifest, group, hashes, run_id=run_id,
                         ingested_at=ingested_at, started=started)


def _validate_chunk(con: duckdb.DuckDBPyConnection, chunk: pa.Table, query: ValidationQuery,
                    params: dict[str, object]) -> pa.Table:
    """Run the validation query over one chunk: typed rows, ``_reason`` set on bad ones."""
    con.register("chunk", chunk)
    # Materialising into a temporary table runs on every thread; fetching Arrow
    # straight from the query does not.
    con.execute(f"create or replace temp table validated as {query.sql}", params)
    result = con.execute("select * from validated").to_arrow_table()
    con.execute("drop table validated")
    con.unregister("chunk")
    return result


def _write_chunk(result: pa.Table, counts: dict[str, int], by_id: dict[str, _Pending],
                 ent: Entity) -> _Pending:
    """Append a validated chunk's rows to each file's Bronze and quarantine writers.

    Returns the pending file written last (named in a storage error).
    """
    is_bad = pc.is_valid(result["_reason"])
    good_rows = result.filter(pc.invert(is_bad)).drop_columns(["_reason", "_raw"])
    bad_rows = result.filter(is_bad)
    current = next(iter(by_id.values()))
    for batch_id, physical in counts.items():
        current = by_id[batch_id]
        rows = pc.sum(pc.equal(result["_batch_id"], batch_id)).as_py() or 0
        current.input_rows += rows
        if ent.format == "jsonl":
            current.blank_lines += physical - rows
        assert current.good is not None
        assert current.bad is not None
        current.good.write(good_rows.filter(pc.equal(good_rows["_batch_id"], batch_id))
                           if len(counts) > 1 else good_rows)
        current.bad.write(_quarantine_rows(
            bad_rows.filter(pc.equal(bad_rows["_batch_id"], batch_id))
            if len(counts) > 1 else bad_rows, ent))
    return current


def _commit_group(settings: Settings, manifest: Manifest, group: list[_Pending],
                  hashes: dict[str, tuple[str | None, str | None]], *, run_id: str,
                  ingested_at: datetime, started: float) -> list[FileOutcome]:
    """Rename a group's finished files into place and commit them in one transaction."""
    ent = group[0].lf.entity
    records = []
    for p in sorted(group, key=lambda p: p.lf.sort_key):
        assert p.good is not None
        assert p.bad is not None
        if p.good.rows + p.bad.rows != p.input_rows:
            raise LakehouseError(
                f"batch {p.lf.relative}: {p.input_rows} input rows but {p.good.rows} landed "
                f"and {p.bad.rows} quarantined; nothing committed")
        bronze_sha, quarantine_sha = hashes[p.batch_id]
        records.append(BatchRecord(
            batch_id=p.batch_id, source=ent.source, entity=ent.name,
            export_date=p.lf.export_date, landing_file=p.lf.relative, file_bytes=p.size,
            input_rows=p.input_rows, landed_rows=p.good.rows, quarantined_rows=p.bad.rows,
            blank_lines=p.blank_lines,
            bronze_file=_publish(settings, p.good, settings.bronze_dir(
                ent.source, ent.name, p.lf.export_date), p.batch_id),
            bronze_sha256=bronze_sha,
            quarantine_file=_publish(settings, p.bad, settings.quarantine_dir(
                ent.source, ent.name, p.lf.export_date), p.batch_id),
            quarantine_sha256=quarantine_sha,
            extra_columns=json.dumps(sorted(set(p.header or ()) - set(ent.column_names))),
            run_id=run_id, ingested_at=ingested_at.isoformat(),
        ))
    if settings.store is None:
        os.sync()  # every renamed file and folder entry is on disk before the commit
    pause_point("before_commit", settings)
    manifest.commit(records)
    seconds = (time.perf_counter() - started) / len(group)
    outcomes = []
    pendings = sorted(group, key=lambda p: p.lf.sort_key)
    for p, record in zip(pendings, records, strict=True):
        observed = _record_drift(settings, manifest, p, record, ingested_at)
        outcomes.append(FileOutcome(
            record.landing_file, "loaded" if record.input_rows else "empty", record.batch_id,
            input_rows=record.input_rows, landed_rows=record.landed_rows,
            quarantined_rows=record.quarantined_rows, seconds=seconds,
            message=observed.message(),
        ))
    return outcomes


def _record_drift(settings: Settings, manifest: Manifest, p: _Pending, record: BatchRecord,
                  ingested_at: datetime) -> drift.Observation:
    """Compare a committed batch's columns with the contract and the last batch (F14)."""
    ent = p.lf.entity
    columns = drift.file_columns(p.lf.path, ent, p.header)
    quarantine: Path | str | None = None
    filesystem = None
    if record.quarantine_file and settings.store is not None:
        quarantine = settings.store.fs_path(record.quarantine_file)
        filesystem = settings.store.fs
    elif record.quarantine_file:
        quarantine = settings.root / record.quarantine_file
    observed = drift.observe(ent, columns, input_rows=record.input_rows,
                             quarantine_file=quarantine, filesystem=filesystem)
    manifest.record_schema(record, observed.columns, observed.retyped,
                           at=ingested_at.isoformat())
    return observed


def _record_column_changes(manifest: Manifest, report: IngestReport, at: str) -> None:
    """Record the columns that appeared or disappeared, batch by batch in export order.

    Done once all groups are committed: groups load in header order, not export order,
    and each batch is compared with the batch exported before it.
    """
    new = [o for o in report.outcomes if o.status in ("loaded", "empty") and o.batch_id]
    records = {b.batch_id: b for b in manifest.batches()}
    for outcome in sorted(new, key=lambda o: (records[str(o.batch_id)].export_date,
                                              o.landing_file)):
        record = records[str(outcome.batch_id)]
        columns, previous = manifest.batch_columns(record.batch_id)
        if columns is None:
            continue
        ent = ENTITIES[f"{record.source}/{record.entity}"]
        changes = drift.changes_since(ent, columns, previous)
        if changes:
            manifest.record_schema(record, columns, changes, at=at)


def _quarantine_rows(rows: pa.Table, ent: Entity) -> pa.Table:
    raw = rows["_raw"]
    text = [
        None if r is None else r.rstrip(b"\r\n").decode("utf-8", errors="replace")
        for r in raw.to_pylist()
    ]
    table = rows.select(list(QUARANTINE_COLUMNS))
    table = table.append_column("raw_text", pa.array(text, pa.string()))
    table = table.append_column("raw", raw.cast(pa.large_binary()))
    table = table.append_column("source", pa.array([ent.source] * rows.num_rows, pa.string()))
    return table.append_column("entity", pa.array([ent.name] * rows.num_rows, pa.string()))


def _publish(settings: Settings, writer: _LazyWriter, folder: Path, batch_id: str
             ) -> str | None:
    """Put a finished staging file in its final place; return its path below the root.

    Locally a rename on the same file system. In object storage one PUT of the whole
    object (S3 makes an object visible only once it is complete), then the staging file
    goes; either way the file is invisible to readers until the manifest commits it.
    """
    if writer.writer is None:
        return None
    final = folder / f"{batch_id}.parquet"
    relative = final.relative_to(settings.root).as_posix()
    if settings.store is not None:
        settings.store.upload(writer.path, relative)
        writer.path.unlink(missing_ok=True)
        return relative
    folder.mkdir(parents=True, exist_ok=True)
    os.replace(writer.path, final)
    return relative


#: Where uncommitted files are looked for, below the data root.
_DATA_LAYERS = ("bronze", "quarantine")


def _find_orphans(settings: Settings, manifest: Manifest) -> list[str]:
    """Staging leftovers and Parquet files no committed batch owns (paths below the root).

    Staging files are local (``_staging/...`` below the state folder); with an
    object-storage root, Bronze and quarantine are listed in the bucket.
    """
    found = ([p.relative_to(settings.root).as_posix()
              for p in sorted(settings.staging.glob("*.tmp"))]
             if settings.staging.is_dir() else [])
    referenced = manifest.referenced_files()
    if settings.store is not None:
        for layer in _DATA_LAYERS:
            found += [name for name in sorted(settings.store.listing(layer))
                      if name.endswith(".parquet") and name not in referenced]
        return found
    for folder in (settings.bronze, settings.quarantine):
        if folder.is_dir():
            found += [rel for rel in (p.relative_to(settings.root).as_posix()
                                      for p in sorted(folder.rglob("*.parquet")))
                      if rel not in referenced]
    return found


def remove_orphans(settings: Settings, manifest: Manifest) -> list[str]:
    """Delete files a crashed run left behind: staging files and uncommitted Parquet.

    Must run under the pipeline lock (no other writer exists then).
    """
    removed = []
    for relative in _find_orphans(settings, manifest):
        if settings.store is not None and not relative.startswith("_staging/"):
            settings.store.delete(relative)
        else:
            (settings.root / relative).unlink(missing_ok=True)
        removed.append(relative)
    return removed


def list_orphans(settings: Settings) -> list[str]:
    """Uncommitted files in staging, Bronze and quarantine (read-only check)."""
    return _find_orphans(settings, Manifest.open(settings))
