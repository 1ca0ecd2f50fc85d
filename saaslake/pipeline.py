"""The whole pipeline as one call: ingest new landing files, then build Silver and Gold.

Both steps run under one pipeline lock, so no other run can slip in between them. This is
what ``lakehouse run``, ``make full-pipeline`` and the notebooks' "run everything" button
call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ingestion.loader import IngestReport, ingest
from lakecore import ledger
from lakecore.lock import pipeline_lock
from lakecore.settings import Settings
from transform.build import BuildResult, build

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PipelineResult:
    """What one run did: the ingest report and the build result."""

    ingest: IngestReport
    build: BuildResult

    def summary(self) -> str:
        """The ingest summary line, then the build summary line."""
        return f"{self.ingest.summary()}\n{self.build.summary()}"


def run(settings: Settings, *, progress: Progress | None = None, full_refresh: bool = False,
        tests: bool = True) -> PipelineResult:
    """Ingest every new landing file, then build and publish Silver and Gold.

    Raises:
        PipelineLockedError: Another run holds the lock (nothing was done).
        BuildError: The build failed; Bronze keeps the new batches and Gold keeps showing
            the last successful build.
    """
    say = progress or (lambda _msg: None)
    with pipeline_lock(settings, "run"), ledger.run(settings, "run"):
        report = ingest(settings, progress=say, take_lock=False)
        say(report.summary())
        result = build(settings, progress=say, take_lock=False, full_refresh=full_refresh,
                       tests=tests)
    return PipelineResult(report, result)
