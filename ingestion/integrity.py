"""Bronze at rest: check every committed file against the manifest, and re-create a batch.

The loader records the SHA-256 of every Bronze and quarantine file it commits. ``verify``
reads them back: ``full=True`` hashes every byte (``lakehouse verify``); ``full=False`` is
the cheap check a build runs before it reads Bronze: each file exists and has Parquet's
magic bytes at both ends (a truncated or overwritten file fails it). ``reingest``
recovers a damaged batch from its landing file: the damaged files are moved aside (never
deleted), the batch is forgotten by the manifest, and the landing file is loaded again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingestion.loader import IngestReport, ingest, sha256_file
from ingestion.manifest import BatchRecord, Manifest
from lakecore.errors import UserInputError
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
    if not settings.manifest_path.exists():
        return report
    manifest = Manifest(settings.manifest_path, read_only=True)
    try:
        batches = manifest.batches()
    finally:
        manifest.close()
    for batch in batches:
        for relative, recorded in _files_of(batch):
            problem = _check(settings.root / relative, recorded, full=full, report=report)
            if problem is not None:
                report.damaged.append(DamagedFile(batch.landing_file, relative, problem))
            if report.files % 500 == 0:
                say(f"verify: {report.files:,} file(s) checked")
    report.seconds = time.perf_counter() - started
    return report


def _files_of(batch: BatchRecord) -> list[tuple[str, str | None]]:
    return [(f, sha) for f, sha in ((batch.bronze_file, batch.bronze_sha256),
                                    (batch.quarantine_file, batch.quarantine_sha256)) if f]


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
    with pipeline_lock(settings, "reingest"):
        manifest = Manifest(settings.manifest_path)
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
