"""Build Silver and Gold from Bronze: ``dbt build`` in-process, then publish.

``build(settings)`` runs the dbt project in ``dbt/`` (``transform.dbt_runner``), streams
one progress line per model and test, and returns a summary. When a model errors or a data
test finds rows, it raises ``BuildError`` naming every failure and showing the offending
rows; Gold stays what the last successful build published (``transform.warehouse``). On
success it publishes the new catalog snapshots atomically and expires old ones
(``transform.catalogs``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

import duckdb

from ingestion.contract import ENTITIES
from ingestion.integrity import verify
from ingestion.manifest import Manifest
from ingestion.schemas import write_empty_schemas
from lakecore import ledger, pgcatalog
from lakecore import openlineage as ol
from lakecore.duck import install_extensions
from lakecore.errors import BuildError, LakehouseError, UserInputError, is_disk_full
from lakecore.files import replace_text
from lakecore.lock import pipeline_lock
from lakecore.settings import DBT_PROJECT_DIR, Settings
from transform import catalogs, daily, health, warehouse
from transform.dbt_runner import (
    DbtOutcome,
    NodeResult,
    Progress,
    collect,
    dbt_environment,
    invoke,
    profile_target,
    release_connection,
)


@dataclass
class BuildResult(DbtOutcome):
    """What a build did: dbt's counts and failures, its time and its publication."""

    seconds: float = 0.0
    full_refresh: bool = False
    publication: warehouse.Publication | None = None
    command: str = "build"
    #: False for a models-only build: its publication was not checked by any test.
    tested: bool = True
    #: Why no dbt node ran (nothing changed since the last build, ADR 0023); else "".
    nothing_to_build: str = ""
    #: The dbt selection a daily build chose (models downstream of changed Bronze).
    selected: str | None = None

    @property
    def success(self) -> bool:
        """True when no model or test failed."""
        return not self.failures

    def summary(self) -> str:
        """Counts, timing, the publication and every failure, as lines."""
        head = (f"dbt {self.command}: {self.models} models, {self.tests} data tests, "
                f"{self.unit_tests} unit tests, {len(self.failures)} failures, "
                f"{len(self.warnings)} warnings, {self.skipped} skipped "
                f"in {self.seconds:.1f}s")
        lines = [head]
        if self.nothing_to_build and self.publication is not None:
            lines.append(f"nothing to build: {self.nothing_to_build}; Gold stays the "
                         f"publication as of {self.publication.as_of_date} (silver snapshot "
                         f"{self.publication.silver_snapshot}, gold snapshot "
                         f"{self.publication.gold_snapshot})")
        elif self.publication is not None:
            lines.append(f"published Gold as of {self.publication.as_of_date} "
                         f"(silver snapshot {self.publication.silver_snapshot}, "
                         f"gold snapshot {self.publication.gold_snapshot})"
                         + ("" if self.tested else "; untested: --models-only ran no data "
                            "or unit tests (`lakehouse build --tests-only` checks it)"))
        lines += [f.describe() for f in self.failures + self.warnings]
        return "\n".join(lines)


def build(
    settings: Settings,
    *,
    select: str | None = None,
    full_refresh: bool = False,
    progress: Progress | None = None,
    take_lock: bool = True,
    tests: bool = True,
    models: bool = True,
) -> BuildResult:
    """Run ``dbt build`` for Silver and Gold and publish the result.

    Args:
        settings: The lakehouse to build.
        select: A dbt selection (``--select``); everything when None. A selective build
            publishes too: the models it did not select keep their previous data.
        full_refresh: Rebuild incremental models from all of Bronze.
        progress: Called with one line per model, test and step.
        take_lock: False when the caller already holds the pipeline lock.
        tests: False to build the models only (no data or unit tests): faster, for
            benchmarks and pipeline tests that check the tests elsewhere.
        models: False to run only the data and unit tests against the models already
            built (nothing is written or published).

    Returns:
        Counts, timing and the publication.

    Raises:
        BuildError: A model failed or a test found bad rows (the message lists them).
        UserInputError: Bronze is empty: nothing was ever ingested.
        PipelineLockedError: Another pipeline run holds the lock.
    """
    say = ledger.progress_logger(progress or (lambda _line: None))
    lock = pipeline_lock(settings, "build") if take_lock else nullcontext()
    with lock, ledger.run(settings, "build"), _disk_full_is_one_line(settings):
        return _build(settings, select=select, full_refresh=full_refresh, say=say,
                      tests=tests, models=models)


def rebuild(settings: Settings, *, progress: Progress | None = None, tests: bool = True
            ) -> BuildResult:
    """Move the whole warehouse aside and rebuild Silver and Gold from Bronze (F13).

    For a damaged catalog or publication record: the publication record, both catalogs
    and their data go to ``warehouse/corrupt-<time>/`` (kept for diagnosis), then a full
    build runs and publishes. Bronze is not touched. Runs under the pipeline lock.
    """
    say = ledger.progress_logger(progress or (lambda _line: None))
    with pipeline_lock(settings, "rebuild"), ledger.run(settings, "rebuild"), \
            _disk_full_is_one_line(settings):
        _refuse_empty_bronze(settings)
        settings.ensure_dirs()
        catalogs.move_warehouse_aside(settings, say)
        return _build(settings, select=None, full_refresh=True, say=say, tests=tests,
                      models=True)


def _build(settings: Settings, *, select: str | None, full_refresh: bool,
           say: Progress, tests: bool, models: bool) -> BuildResult:
    if not (tests or models):
        raise ValueError("nothing to do: both models and tests are off")
    _refuse_empty_bronze(settings)
    with ledger.step(settings, "verify_bronze", "bronze") as step:
        step.files_read = _refuse_damaged_bronze(settings, say)
    started = time.perf_counter()
    if _prepare(settings, say):
        full_refresh = True

    # A build of the whole project runs only what its new batches can change (ADR 0023).
    whole = models and select is None
    project = project_fingerprint() if select is None else None
    inputs = daily.read_inputs(settings) if whole else daily.Inputs({}, None)
    plan = (daily.plan(settings, fingerprint=project, inputs=inputs, tests=tests)
            if whole and project is not None and not full_refresh else daily.Plan(select=None))
    if plan.skip:
        return _nothing_to_build(settings, plan, say=say, started=started, tests=tests)
    if whole:
        daily.forget(settings)  # until this build succeeds, the next one runs everything
    # Only a whole-project run with tests reads or records the unit tests' last pass.
    fingerprint = project if tests else None
    unit_tests_current = (models and not full_refresh and fingerprint is not None
                          and unit_tests_passed_for(_unit_tests_stamp(settings)) == fingerprint)
    selection = select if select is not None else plan.select
    args = _dbt_args(settings, select=selection, full_refresh=full_refresh, tests=tests,
                     models=models, unit_tests=not unit_tests_current)
    if unit_tests_current:
        say("unit tests skipped: the dbt project is unchanged since they last passed")
    if plan.select is not None:
        say(f"daily build: {plan.reason} (ADR 0023)")

    result = BuildResult(full_refresh=full_refresh and models, command=args[0], tested=tests,
                         selected=plan.select)
    say(f"dbt {args[0]}{' --full-refresh' if full_refresh else ''}"
        f"{f' --select {selection}' if selection else ''}")
    target = settings.warehouse / "dbt_target"
    compiled = daily.read_compiled(target) if plan.select is not None else {}
    with ledger.step(settings, f"dbt_{args[0]}", "silver+gold") as step:
        with dbt_environment(settings, written_since=plan.written_since):
            try:
                counted = collect(invoke(args, say))
            finally:
                release_connection()
        if compiled:  # the lineage and the docs read every model's SQL from the manifest
            daily.restore_compiled(target, compiled)
        for name in ("models", "tests", "unit_tests", "skipped", "failures", "warnings"):
            setattr(result, name, getattr(counted, name))
        record_dbt_step(settings, step, counted)
        result.seconds = time.perf_counter() - started
        _raise_failures(settings, result, say)
        if fingerprint is not None and not unit_tests_current and result.unit_tests:
            record_unit_tests_passed(_unit_tests_stamp(settings), fingerprint)
    if models:
        result.publication = _publish(settings, say)
        if whole and project is not None:
            # A selection ran tests only when what it left out was tested before (plan).
            daily.record(settings, fingerprint=project, inputs=inputs, tested=tests,
                         publication=result.publication)
    health.run_checks(settings, say)
    result.seconds = time.perf_counter() - started
    say(result.summary())
    return result


def _raise_failures(settings: Settings, result: BuildResult, say: Progress) -> None:
    """Raise when a model or test failed: one line for a full disk, else every failure."""
    full = [f.name for f in result.failures if "No space left" in f.message]
    if full:
        raise BuildError(_disk_full_message(settings, f"while building {', '.join(full)}"))
    if result.failures:
        health.run_checks(settings, say)
        published = warehouse.read_publications(settings)
        kept = (f"Gold still shows the last successful build (as of "
                f"{published[-1].as_of_date})" if published
                else "no Gold has been published yet")
        raise BuildError(f"build failed; {kept}\n" + result.summary())


def _prepare(settings: Settings, say: Progress) -> bool:
    """Folders, extensions, empty schemas and catalogs; True when a catalog was recovered."""
    settings.ensure_dirs()
    for path in (settings.warehouse, settings.duckdb_temp, *_local_layer_folders(settings)):
        path.mkdir(parents=True, exist_ok=True)
    install_extensions(settings)
    write_empty_schemas(settings)
    recovered = catalogs.recover_catalogs(settings, say)
    catalogs.prepare_catalogs(settings)
    return recovered


def _publish(settings: Settings, say: Progress) -> warehouse.Publication:
    """Publish the catalogs' newest snapshots and expire the oldest builds."""
    with ledger.step(settings, "publish", "gold") as step:
        catalogs.compact_deletes(settings, say)
        silver, gold, as_of = catalogs.latest_snapshots(settings)
        publication = warehouse.publish(settings, silver_snapshot=silver,
                                        gold_snapshot=gold, as_of_date=as_of)
        catalogs.expire_old_builds(settings, keep=catalogs.KEEP_PUBLICATIONS, say=say)
        step.detail = {"as_of_date": as_of, "silver_snapshot": silver,
                       "gold_snapshot": gold}
    return publication


def _nothing_to_build(settings: Settings, plan: daily.Plan, *, say: Progress,
                      started: float, tests: bool) -> BuildResult:
    """No batch since the last build of this project: run no dbt node, publish nothing."""
    published = warehouse.read_publications(settings)
    result = BuildResult(command="build", tested=tests, publication=published[-1],
                         nothing_to_build=plan.reason)
    with ledger.step(settings, "dbt_build", "silver+gold") as step:
        step.detail = {"models": 0, "tests": 0, "unit_tests": 0, "failures": 0,
                       "skipped_because": plan.reason}
    health.run_checks(settings, say)
    result.seconds = time.perf_counter() - started
    say(result.summary())
    return result


def _local_layer_folders(settings: Settings) -> tuple[Path, ...]:
    """Silver's and Gold's data folders when they are local (none in object storage)."""
    return () if settings.is_remote else (settings.silver, settings.gold)


def _dbt_args(settings: Settings, *, select: str | None, full_refresh: bool, tests: bool,
              models: bool, unit_tests: bool) -> list[str]:
    """The dbt command line of a build (``build``) or of tests only (``test``)."""
    # Tests only: `dbt test` (in `dbt build`, unit tests run only with their model).
    args = ["build" if models else "test", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(settings.warehouse / "dbt_target"),
            "--log-path", str(settings.warehouse / "dbt_logs"),
            "--log-level", "none",
            "--log-level-file", settings.dbt_log_level,
            "--target", profile_target(settings)]
    if select:
        args += ["--select", select]
    if full_refresh and models:
        args.append("--full-refresh")
    if not tests:
        args += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    elif not unit_tests:
        # Unit tests check the project's logic on fixed rows, not the data: they already
        # passed for exactly these files, so a daily build skips them (ADR 0019).
        args += ["--exclude-resource-type", "unit_test"]
    return args


#: The dbt project's files whose content decides what the unit tests check.
_PROJECT_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".py")


def project_fingerprint() -> str:
    """SHA-256 over the dbt project's files and the versions of dbt and DuckDB that run it."""
    digest = hashlib.sha256()
    for package in ("dbt-core", "dbt-duckdb", "duckdb"):
        digest.update(f"{package}=={metadata.version(package)}\0".encode())
    for path in sorted(DBT_PROJECT_DIR.rglob("*")):
        relative = path.relative_to(DBT_PROJECT_DIR)
        if (path.is_file() and path.suffix in _PROJECT_SUFFIXES
                and relative.parts[0] not in ("target", "logs", "dbt_packages")):
            digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _unit_tests_stamp(settings: Settings) -> Path:
    return settings.warehouse / "unit_tests_passed.json"


def unit_tests_passed_for(stamp: Path) -> str | None:
    """The fingerprint the unit tests last all passed for, recorded at ``stamp``, if any.

    Each engine keeps its own stamp (``warehouse/`` for DuckDB, ``spark/`` for Spark).
    """
    try:
        return str(json.loads(stamp.read_text())["project"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_unit_tests_passed(stamp: Path, fingerprint: str) -> None:
    """Record at ``stamp`` that every unit test passed for ``fingerprint`` (atomic rename)."""
    replace_text(stamp, json.dumps({"project": fingerprint}) + "\n")


def record_dbt_step(settings: Settings, step: ledger.Step, outcome: DbtOutcome) -> None:
    """Keep dbt's per-node results in ``meta.dbt_results`` and describe the step's datasets.

    Gold tables carry their column lineage (``transform.column_lineage``) in the
    OpenLineage events; Silver and Gold tables their row counts where dbt reports them.
    """
    rows = table_rows(settings)
    outcome.nodes[:] = [replace(n, rows_affected=rows.get((n.layer or "", n.name)))
                        if n.resource_type == "model" and n.status == "success" else n
                        for n in outcome.nodes]
    step.run.write_many(
        "insert or replace into dbt_results (run_id, unique_id, name, resource_type, layer, "
        "status, seconds, rows_affected, failures, message) values (?,?,?,?,?,?,?,?,?,?)",
        [(step.run.run_id, n.unique_id, n.name, n.resource_type, n.layer, n.status, n.seconds,
          n.rows_affected, n.failures, n.message) for n in outcome.nodes])
    models = [n for n in outcome.nodes if n.resource_type == "model"]
    step.rows_written = sum(n.rows_affected or 0 for n in models) or None
    step.detail = {"models": outcome.models, "tests": outcome.tests,
                   "unit_tests": outcome.unit_tests, "failures": len(outcome.failures),
                   "rows_by_layer": {layer: sum(n.rows_affected or 0 for n in models
                                                if n.layer == layer)
                                     for layer in ("silver", "gold")}}
    namespace = ol.data_namespace(settings)
    step.inputs = [ol.DatasetRef(namespace, f"bronze/{e.source}/{e.name}")
                   for e in ENTITIES.values()]
    step.outputs = [ol.DatasetRef(namespace, f"{n.layer}.{n.name}", row_count=n.rows_affected,
                                  column_lineage=_column_lineage(settings, n, namespace))
                    for n in models if n.status == "success"]


def table_rows(settings: Settings) -> dict[tuple[str, str], int]:
    """Rows of every current Silver and Gold table, from the DuckLake catalogs' statistics.

    dbt-duckdb reports no row count for a model; DuckLake keeps one per table.
    """
    counts: dict[tuple[str, str], int] = {}
    if settings.shared_catalog:
        return {(layer, name): rows for layer in ("silver", "gold")
                for name, rows in pgcatalog.table_record_counts(settings, layer).items()}
    for layer in ("silver", "gold"):
        path = settings.catalog_path(layer)
        if not path.exists():
            continue
        try:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as con:
                for name, records in con.execute(
                        "select t.table_name, s.record_count from ducklake_table t join "
                        "ducklake_table_stats s using (table_id) where t.end_snapshot is null"):
                    counts[(layer, name)] = int(records or 0)
        except sqlite3.Error:
            continue  # an unreadable catalog is the build's business, not the ledger's
    return counts


def _column_lineage(settings: Settings, node: NodeResult, namespace: str
                    ) -> dict[str, tuple[ol.ColumnSource, ...]]:
    """Each column of a Gold table and the upstream columns it is computed from."""
    if node.layer != "gold":
        return {}
    from transform.column_lineage import direct_upstream  # noqa: PLC0415 - sqlglot parse

    try:
        upstream = direct_upstream(settings, node.name)
    except LakehouseError:
        return {}
    return {column: tuple(ol.ColumnSource(namespace, ref.relation, ref.column) for ref in refs)
            for column, refs in upstream.items()}


def generate_docs(settings: Settings, *, progress: Progress | None = None) -> Path:
    """Generate the dbt documentation as one offline HTML file and return its path.

    Uses the catalogs of the last build (run ``build`` first for column types). Next to it,
    ``lineage.md`` holds the column lineage of every Gold column
    (``transform.column_lineage``), from the manifest this same run wrote.
    """
    say = progress or (lambda _line: None)
    for path in (settings.warehouse, settings.duckdb_temp):
        path.mkdir(parents=True, exist_ok=True)
    install_extensions(settings)
    write_empty_schemas(settings)
    catalogs.prepare_catalogs(settings)
    target = settings.warehouse / "dbt_target"
    args = ["docs", "generate", "--static", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
            "--log-path", str(settings.warehouse / "dbt_logs"), "--log-level", "none",
            "--target", profile_target(settings)]
    with dbt_environment(settings):
        try:
            outcome = invoke(args, say)
        finally:
            release_connection()
    if not outcome.success:
        raise BuildError(f"dbt docs generate failed: {outcome.exception}")
    page = target / "static_index.html"
    say(f"dbt docs: {page}")
    from transform.column_lineage import (  # noqa: PLC0415 - sqlglot's lineage: docs only
        write_lineage_docs,
    )

    say(f"column lineage of every Gold column: {write_lineage_docs(settings, target)}")
    return page


def _disk_full_message(settings: Settings, where: str) -> str:
    """One line: the disk is full, where it happened, what readers see, how to go on."""
    free = shutil.disk_usage(settings.root).free / 1e6
    published = warehouse.read_publications(settings)
    kept = (f"Gold still shows the last successful build (as of {published[-1].as_of_date})"
            if published else "no Gold has been published yet")
    return (f"the disk of {settings.root} is full ({free:,.1f} MB free) {where}; nothing "
            f"was published and {kept}; free space (the spill folder "
            f"{settings.duckdb_temp.relative_to(settings.root)} and old warehouse/corrupt-* "
            "folders can go) and run the build again")


@contextmanager
def _disk_full_is_one_line(settings: Settings) -> Iterator[None]:
    """Turn a full disk anywhere in a build (extensions, dbt's files, a model) into one line."""
    try:
        yield
    except BuildError as exc:
        if is_disk_full(exc) and not str(exc).startswith("the disk of"):
            raise BuildError(_disk_full_message(settings, "while dbt wrote its files")) from None
        raise
    except (OSError, duckdb.Error) as exc:
        if is_disk_full(exc):
            raise BuildError(_disk_full_message(settings, "while preparing the build")) from None
        raise


def _refuse_empty_bronze(settings: Settings) -> None:
    """Raise when no batch was ever committed: a build would publish an empty Gold.

    Raises:
        UserInputError: Bronze is empty (the message says how to fill it).
    """
    as_of = (Manifest.open(settings, read_only=True).as_of_date()
             if Manifest.exists(settings) else None)
    if as_of is None:
        raise UserInputError(
            f"Bronze is empty (nothing was ingested into {settings.root}): run "
            "`lakehouse simulate` (or write exports into the landing zone) and "
            "`lakehouse ingest` first, or `lakehouse run` to ingest and build")


def _refuse_damaged_bronze(settings: Settings, say: Progress) -> int:
    """Raise when a committed Bronze file is not what was committed (F12): never build on it.

    Every committed Bronze and quarantine file is hashed and compared with the SHA-256 the
    loader recorded (about 150 MB/s: 0.2 s at scale 1), so a truncated, overwritten or
    bit-flipped file stops the build before dbt reads it.

    Raises:
        BuildError: The message names every damaged file and the recovery command.
    """
    # In object storage hashing would download all of Bronze on every build: the build
    # checks each object's existence and Parquet ends; `lakehouse verify` hashes (ADR 0020).
    report = verify(settings, full=not settings.is_remote)
    if report.ok:
        how = ("exist with Parquet ends intact" if settings.is_remote
               else "match their recorded SHA-256")
        say(f"Bronze: {report.files:,} committed file(s) {how} ({report.seconds:.1f} s)")
        return report.files
    published = warehouse.read_publications(settings)
    kept = ("Gold still shows the last successful build" if published
            else "no Gold has been published yet")
    raise BuildError(f"Bronze is damaged; nothing was built and {kept}\n"
                     + report.summary())
