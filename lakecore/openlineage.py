"""OpenLineage run events for every run and every step, through openlineage-python.

Each run of a command is an OpenLineage run of the job ``lakehouse.<command>``; each of its
steps is a run of the job ``lakehouse.<command>.<step>`` whose ``parent`` facet names the
command's run. A step's START and COMPLETE (or FAIL, with the error message facet) events
carry its input and output datasets: landing files, Bronze entities, Silver and Gold tables
(``DatasetRef``), with the schema facet and, for Gold tables, the column-lineage facet.

Where they go: to the HTTP endpoint in ``OPENLINEAGE_URL`` (the client's standard
variables: ``OPENLINEAGE_ENDPOINT``, ``OPENLINEAGE_API_KEY``) when it is set; otherwise to
``$LAKEHOUSE_ROOT/_meta/openlineage/events-YYYY-MM-DD.jsonl``, one event per line.
``OPENLINEAGE_DISABLED=true`` turns them off. Lineage is a record: an endpoint that is down
is logged (once per process and endpoint) and never fails the run.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakecore.settings import Settings

if TYPE_CHECKING:
    from lakecore.ledger import Step

#: The namespace of the lakehouse's jobs (``OPENLINEAGE_NAMESPACE`` overrides it).
DEFAULT_NAMESPACE = "saas-lakehouse"
PRODUCER = "https://github.com/saas-lakehouse/saas-lakehouse"
_failed_endpoints: set[str] = set()


@dataclass(frozen=True)
class ColumnSource:
    """One upstream column a dataset's column is computed from."""

    namespace: str
    name: str
    field: str


@dataclass(frozen=True)
class DatasetRef:
    """A dataset as OpenLineage names it, with its columns and column lineage if known."""

    namespace: str
    name: str
    columns: tuple[tuple[str, str], ...] = ()
    column_lineage: dict[str, tuple[ColumnSource, ...]] = field(default_factory=dict)
    #: Output statistics (rows, bytes, files), when the step knows them.
    row_count: int | None = None
    size: int | None = None
    file_count: int | None = None


def new_run_id() -> str:
    """A new run id: a UUID (version 7, time-ordered) as OpenLineage requires."""
    from openlineage.client.uuid import generate_new_uuid  # noqa: PLC0415 - 0.5 s, only when emitting

    return str(generate_new_uuid())


def job_namespace() -> str:
    """The namespace jobs are named in."""
    return os.environ.get("OPENLINEAGE_NAMESPACE", DEFAULT_NAMESPACE)


def data_namespace(settings: Settings) -> str:
    """The namespace of the lakehouse's datasets: its data root as a URI (``file://``, ``s3://``)."""
    return settings.data_root if settings.is_remote else f"file://{settings.root}"


def events_dir(settings: Settings) -> Path:
    """Where events go when no ``OPENLINEAGE_URL`` is set."""
    return settings.meta / "openlineage"


def _disabled() -> bool:
    return os.environ.get("OPENLINEAGE_DISABLED", "").lower() in ("1", "true", "yes")


def _client(settings: Settings) -> Any:
    """The client for where events go now: the HTTP endpoint, or today's events file."""
    url = os.environ.get("OPENLINEAGE_URL")
    if url:
        return _cached_client(f"http:{url}:{os.environ.get('OPENLINEAGE_ENDPOINT', '')}")
    folder = events_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    return _cached_client(str(folder / f"events-{datetime.now(UTC):%Y-%m-%d}.jsonl"))


@functools.lru_cache(maxsize=8)
def _cached_client(target: str) -> Any:
    """One client per destination (building one reads the client's configuration)."""
    from openlineage.client import OpenLineageClient  # noqa: PLC0415 - 0.5 s, only when emitting
    from openlineage.client.transport.file import FileConfig, FileTransport  # noqa: PLC0415 - 0.5 s, only when emitting

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if target.startswith("http:"):
            return OpenLineageClient()
        return OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=target,
                                                                    append=True)))


def _dataset(ref: DatasetRef, output: bool) -> Any:
    from openlineage.client.event_v2 import InputDataset, OutputDataset  # noqa: PLC0415 - 0.5 s, only when emitting
    from openlineage.client.facet_v2 import (  # noqa: PLC0415
        column_lineage_dataset,
        output_statistics_output_dataset,
        schema_dataset,
    )

    facets: dict[str, Any] = {}
    if ref.columns:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name=name, type=kind)
            for name, kind in ref.columns])
    if ref.column_lineage:
        facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(fields={
            column: column_lineage_dataset.Fields(inputFields=[
                column_lineage_dataset.InputField(namespace=s.namespace, name=s.name,
                                                  field=s.field) for s in sources])
            for column, sources in ref.column_lineage.items()})
    if not output:
        return InputDataset(namespace=ref.namespace, name=ref.name, facets=facets)
    stats: dict[str, Any] = {}
    if ref.row_count is not None:
        facet = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet
        stats["outputStatistics"] = facet(rowCount=ref.row_count, size=ref.size,
                                          fileCount=ref.file_count)
    return OutputDataset(namespace=ref.namespace, name=ref.name, facets=facets,
                         outputFacets=stats)


def _emit(settings: Settings, event: Any) -> None:
    target = os.environ.get("OPENLINEAGE_URL") or str(events_dir(settings))
    client_log = logging.getLogger("openlineage")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)  # the client logs (and retries) on its own
    try:
        _client(settings).emit(event)
    except Exception as exc:  # noqa: BLE001 - lineage must never fail the run it records
        if target not in _failed_endpoints:
            _failed_endpoints.add(target)
            from lakecore.logs import get_logger  # noqa: PLC0415

            # An endpoint that is down is worth a console line; a file that cannot be
            # written (a full disk) fails the run with its own one-line error anyway.
            get_logger("openlineage").warning(
                "openlineage_emit_failed", target=target,
                error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                file_only=not target.startswith(("http://", "https://")))
    finally:
        client_log.setLevel(level)


def _event(kind: str, run_id: str, job: str, *, run_facets: dict[str, Any],
           inputs: list[DatasetRef] = (), outputs: list[DatasetRef] = ()) -> Any:  # type: ignore[assignment]
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState  # noqa: PLC0415 - 0.5 s, only when emitting
    from openlineage.client.facet_v2 import job_type_job  # noqa: PLC0415 - 0.5 s, only when emitting

    job_facets: dict[str, Any] = {"jobType": job_type_job.JobTypeJobFacet(
        processingType="BATCH", integration="SAAS_LAKEHOUSE", jobType="JOB")}
    return RunEvent(eventType=RunState[kind],
                    eventTime=datetime.now(UTC).isoformat(timespec="milliseconds"),
                    run=Run(runId=run_id, facets=run_facets),
                    job=Job(namespace=job_namespace(), name=job, facets=job_facets),
                    inputs=[_dataset(d, False) for d in inputs],
                    outputs=[_dataset(d, True) for d in outputs],
                    producer=PRODUCER)


def _error_facets(error: str | None) -> dict[str, Any]:
    if not error:
        return {}
    from openlineage.client.facet_v2 import error_message_run  # noqa: PLC0415 - 0.5 s, only when emitting

    return {"errorMessage": error_message_run.ErrorMessageRunFacet(
        message=error, programmingLanguage="PYTHON")}


def emit_run(settings: Settings, run_id: str, command: str, kind: str, *,
             error: str | None = None) -> None:
    """Emit the START / COMPLETE / FAIL event of a command's run."""
    if _disabled():
        return
    _emit(settings, _event(kind, run_id, f"lakehouse.{command}",
                           run_facets=_error_facets(error)))


def emit_step(settings: Settings, run_id: str, command: str, step: Step, kind: str, *,
              error: str | None = None) -> None:
    """Emit the START / COMPLETE / FAIL event of one step, with its datasets."""
    if _disabled():
        return
    from openlineage.client.facet_v2 import parent_run  # noqa: PLC0415 - 0.5 s, only when emitting

    facets = {"parent": parent_run.ParentRunFacet(
        run=parent_run.Run(runId=run_id),
        job=parent_run.Job(namespace=job_namespace(), name=f"lakehouse.{command}"))}
    facets.update(_error_facets(error))
    # START names what the step will read and write as far as it knows; COMPLETE all.
    _emit(settings, _event(kind, step.ol_run_id, f"lakehouse.{command}.{step.name}",
                           run_facets=facets, inputs=step.inputs, outputs=step.outputs))
