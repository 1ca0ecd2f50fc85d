"""Bronze at rest: check every committed file against the manifest, and re-create a batch.

The loader records the SHA-256 of every Bronze and quarantine file it commits. ``verify``
reads them back: ``full=True`` hashes every byte (``lakehouse verify``); ``full=False`` is
the cheap check a build runs before it reads Bronze: each file exists and has Parquet's
magic bytes at both ends (a truncated or overwritten file fails it). ``reingest``
recovers a damaged batch from its landing file: the damaged files are moved aside (never
deleted), the batch is forgotten by the manifest, and the landing file is loaded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingestion.loader import IngestReport, ingest, sha256_file
from ingestion.manifest import BatchRecord, Manifest
from lakecore.errors import ConfigError, UserInputError
from lakecore.lock import pipeline_lock
from lakecore.settings import Settings

Progress = Callable[[str], None]
PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class DamagedFile:
    """A committed Bronze or quarantine file that is not what the manifest recorded."""

    landing_file: str
    path: str
    problem: str

    def describe(self) -> str:
        """One line: the file, what is wrong, and the landing file it came from."""
        return f"{self.path}: {self.problem} (batch of landing file {self.landing_file})"


@dataclass
class VerifyReport:
    """What ``verify`` checked and what it found."""

    full: bool
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    damaged: list[DamagedFile] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every committed file is as recorded."""
        return not self.damaged

    def summary(self) -> str:
        """The result in lines: counts, then every damaged file and the recovery."""
        how = "hashed" if self.full else "checked (existence and Parquet footer)"
        lines = [f"verify: {self.files:,} committed file(s), {self.bytes / 1e6:,.1f} MB {how} "
                 f"in {self.seconds:.1f} s; {len(self.damaged)} damaged"]
        lines += [f"  {d.describe()}" for d in self.damaged]
        if self.damaged:
            landing = sorted({d.landing_file for d in self.damaged})
            lines.append("recover each batch from its landing file: lakehouse reingest "
                         + " ".join(landing))
        return "\n".join(lines)


def verify(settings: Settings, *, full: bool = True,
           progress: Progress | None = None) -> VerifyReport:
    """Check every committed Bronze and quarantine file against the manifest.

    Args:
        settings: The lakehouse.
        full: Hash every file and compare with the recorded SHA-256; otherwise only check
            that each file exists and has Parquet's magic bytes at both ends.
        progress: Called with a line every 500 files.
    """
    say = progress or (lambda _line: None)
    started = time.perf_counter()
    report = VerifyReport(full=full)
    if not Manifest.exists(settings):
        return report
    manifest = Manifest.open(settings, read_only=True)
    try:
        batches = manifest.batches()
    finally:
        manifest.close()
    for batch in batches:
        for relative, recorded in _files_of(batch):
            problem = (_check_object(settings, relative, recorded, full=full, report=report)
                       if settings.store is not None else
                       _check(settings.root / relative, recorded, full=full, report=report))
            if problem is not None:
                report.damaged.append(DamagedFile(batch.landing_file, relative, problem))
            if report.files % 500 == 0:
                say(f"verify: {report.files:,} file(s) checked")
    report.seconds = time.perf_counter() - started
    return report


def _files_of(batch: BatchRecord) -> list[tuple[str, str | None]]:
    return [(f, sha) for f, sha in ((batch.bronze_file, batch.bronze_sha256),
                                    (batch.quarantine_file, batch.quarantine_sha256)) if f]


def _check_object(settings: Settings, relative: str, recorded: str | None, *, full: bool,
                  report: VerifyReport) -> str | None:
    """``_check`` of an object in the bucket: hash its bytes, or read its two ends."""
    assert settings.store is not None
    store = settings.store
    report.files += 1
    size = store.size(relative)
    if size is None:
        return "missing"
    report.bytes += size
    if full:
        digest = hashlib.sha256()
        with store.errors(f"reading {relative}"), store.open_input_stream(relative) as handle:
            while chunk := handle.read(8 * 1024 * 1024):
                digest.update(chunk)
        return (None if digest.hexdigest() == recorded
                else "content differs from the recorded SHA-256")
    if size < 12:
        return "truncated (too short for a Parquet file)"
    if (store.read_range(relative, 0, 4) != PARQUET_MAGIC
            or store.read_range(relative, size - 4, 4) != PARQUET_MAGIC):
        return "truncated or overwritten (no Parquet magic bytes at both ends)"
    return None


def _check(path: Path, recorded: str | None, *, full: bool, report: VerifyReport) -> str | None:
    """What is wrong with one file, or None."""
    report.files += 1
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    report.bytes += size
    if full:
        digest, _ = sha256_file(path)
        return None if digest == recorded else "content differs from the recorded SHA-256"
    if size < 12:
        return "truncated (too short for a Parquet file)"
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(-4, os.SEEK_END)
        tail = fh.read(4)
    if head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
        return "truncated or overwritten (no Parquet magic bytes at both ends)"
    return None


def reingest(settings: Settings, landing_files: Sequence[str], *,
             progress: Progress | None = None) -> IngestReport:
    """Re-create committed batches from their landing files (recovery of damaged Bronze).

    For each landing file (relative to the landing zone, as ``verify`` names it): the file
    must still hold the exact bytes of the committed batch. Its Bronze and quarantine
    files are moved to ``_meta/damaged/<time>/``, the batch is removed from the manifest,
    and the landing file is ingested again, all under the pipeline lock. The next build
    reads the re-created batch.

    Raises:
        UserInputError: A landing file has no committed batch, is gone, or has changed.
    """
    say = progress or (lambda _line: None)
    _local_only(settings, "lakehouse reingest")
    with pipeline_lock(settings, "reingest"):
        manifest = Manifest.open(settings)
        by_file = {b.landing_file: b for b in manifest.batches()}
        chosen = []
        for landing_file in landing_files:
            batch = by_file.get(landing_file)
            if batch is None:
                raise UserInputError(f"{landing_file}: no committed batch has this landing "
                                     "file (see `lakehouse status` or meta.batches)")
            path = settings.landing / landing_file
            if not path.is_file() or sha256_file(path)[0] != batch.batch_id:
                raise UserInputError(
                    f"{landing_file}: the landing file is gone or no longer holds the bytes "
                    "of its batch, so the batch cannot be re-created from it")
            chosen.append(batch)
        aside = settings.meta / "damaged" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for batch in chosen:
            for relative, _sha in _files_of(batch):
                source = settings.root / relative
                if source.exists():
                    target = aside / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(source, target)
                    say(f"moved aside: {relative} -> {target.relative_to(settings.root)}")
            manifest.forget(batch.batch_id)
        manifest.close()
        return ingest(settings, files=[b.landing_file for b in chosen], progress=say,
                      take_lock=False)


def recover_manifest(settings: Settings, *, progress: Progress | None = None) -> list[BatchRecord]:
    """Re-create a lost or damaged manifest from the lineage columns of Bronze and quarantine.

    The damaged manifest (and its ``-wal``/``-shm`` files) is moved to
    ``_meta/damaged/<time>/``; then every committed file is read back: its partition
    gives source, entity and export date, its file name the batch id, its lineage
    columns the landing file and the ingestion time, its rows the counts, and its bytes
    the checksum. What Bronze does not keep comes back as follows: batches that landed no
    row at all (empty files) and rejected files are not recovered (the next ingest records
    them again; neither holds a row), ``blank_lines`` is 0, and ``file_bytes`` is the size
    of the landing file when it is still there (else 0). Bronze, quarantine and the landing
    zone are not changed. Runs under the pipeline lock. With a PostgreSQL catalog the
    manifest's tables are renamed to ``<table>_damaged_<time>`` instead of moving a file.

    Returns:
        The recovered batches.
    """
    say = progress or (lambda _line: None)
    _local_only(settings, "lakehouse rebuild --manifest")
    with pipeline_lock(settings, "rebuild --manifest"):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = settings.meta / "damaged" / stamp
        if settings.shared_catalog:  # PostgreSQL: rename the tables, create them anew
            damaged = Manifest.open(settings)
            try:
                say(damaged.move_aside(stamp))
            finally:
                damaged.close()
        for path in () if settings.shared_catalog else (
                settings.manifest_path, *settings.manifest_path.parent.glob(
                    settings.manifest_path.name + "-*")):
            if path.exists():
                aside.mkdir(parents=True, exist_ok=True)
                os.replace(path, aside / path.name)
                say(f"moved aside: {path.relative_to(settings.root)} -> "
                    f"{(aside / path.name).relative_to(settings.root)}")
        records = _records_from_lineage(settings)
        manifest = Manifest.open(settings)
        try:
            manifest.commit(records)
        finally:
            manifest.close()
        say(f"manifest re-created from lineage: {len(records):,} batch(es)")
        return records


def _local_only(settings: Settings, command: str) -> None:
    """Refuse a recovery command that only knows local Bronze files (ADR 0020)."""
    if settings.store is not None:
        raise ConfigError(f"{command} works on a local root only, not yet on "
                          f"{settings.data_root}; copy the batch's objects to a local root "
                          "to recover it there")


@dataclass
class _Found:
    """What the committed files of one batch say about it."""

    batch_id: str
    source: str
    entity: str
    export_date: str
    landing_file: str = ""
    ingested_at: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, tuple[str, str]] = field(default_factory=dict)
    extra: set[str] = field(default_factory=set)

    def record(self, landing: Path) -> BatchRecord:
        """The manifest row of the batch; ``landing`` is the landing zone."""
        landed, quarantined = self.rows.get("bronze", 0), self.rows.get("quarantine", 0)
        bronze, quarantine = self.files.get("bronze"), self.files.get("quarantine")
        source_file = landing / self.landing_file
        return BatchRecord(
            batch_id=self.batch_id, source=self.source, entity=self.entity,
            export_date=self.export_date, landing_file=self.landing_file,
            file_bytes=source_file.stat().st_size if source_file.is_file() else 0,
            input_rows=landed + quarantined, landed_rows=landed,
            quarantined_rows=quarantined, blank_lines=0,
            bronze_file=bronze[0] if bronze else None,
            bronze_sha256=bronze[1] if bronze else None,
            quarantine_file=quarantine[0] if quarantine else None,
            quarantine_sha256=quarantine[1] if quarantine else None,
            extra_columns=json.dumps(sorted(self.extra)), run_id="recovered",
            ingested_at=self.ingested_at)


def _records_from_lineage(settings: Settings) -> list[BatchRecord]:
    """One record per batch found under bronze/ and quarantine/, from the files alone."""
    found: dict[str, _Found] = {}
    for layer, root in (("bronze", settings.bronze), ("quarantine", settings.quarantine)):
        for path in sorted(root.glob("*/*/ingestion_date=*/*.parquet")):
            source, entity, partition = path.parts[-4:-1]
            batch = found.setdefault(path.stem, _Found(path.stem, source, entity,
                                                       partition.split("=", 1)[1]))
            names = set(pq.read_schema(path).names)
            table = pq.read_table(path, columns=[c for c in (
                "_source_file", "_ingested_at", "_extra") if c in names])
            batch.files[layer] = (str(path.relative_to(settings.root)), sha256_file(path)[0])
            batch.rows[layer] = table.num_rows
            if table.num_rows:
                batch.landing_file = table.column("_source_file")[0].as_py()
                batch.ingested_at = table.column("_ingested_at")[0].as_py().isoformat()
            if "_extra" in names:
                for value in pc.unique(table.column("_extra")).to_pylist():
                    if value:
                        batch.extra.update(json.loads(value))
    return [batch.record(settings.landing) for batch in found.values()]
