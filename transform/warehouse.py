"""Silver and Gold: where they live and how readers open them.

Silver and Gold are two DuckLake catalogs, each a SQLite file under ``warehouse/`` whose
Parquet data lives under ``silver/`` and ``gold/`` of the data root
(``docs/decisions/0005-ducklake-catalogs-for-silver-and-gold.md``). dbt writes them
(``transform.build``); everybody else reads them through this module.

A reader never sees half a build: a successful build records the catalogs' snapshot ids
in ``warehouse/published.json`` (written to a temporary name and renamed), and readers
attach both catalogs ``READ_ONLY`` *at those snapshots*. A build that is running, failed
or was killed leaves the previous publication in place. Every publication stays listed
with its as-of date, so ``connect_readonly(settings, as_of=date(2025, 3, 1))`` shows Gold
as of the build of that day (as long as DuckLake keeps that snapshot).

A SQLite catalog lets any number of reader processes attach while the pipeline writes,
which a DuckDB database file does not (one writer process, and a reader blocks it).

With a shared PostgreSQL catalog (``LAKEHOUSE_CATALOG``, ADR 0021) both catalogs are
schemas of that database and the publication record is its table
``lakehouse.publications`` (one transaction per change instead of a rename), so readers on
every machine see the same publication.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime

import duckdb

from lakecore import pgcatalog
from lakecore.duck import connect_duckdb, load_extensions
from lakecore.errors import CorruptFileError, StorageError, UserInputError
from lakecore.files import replace_text
from lakecore.settings import LAYERS, Settings

#: Below this much free space a catalog that cannot be opened is a full disk, not damage.
FULL_DISK_BYTES = 1 << 20
#: What to do about a damaged catalog or publication record (docs/runbook.md).
REBUILD_HINT = ("`lakehouse rebuild` moves the warehouse aside and rebuilds Silver and Gold "
                "from Bronze (Bronze is not touched)")


class WarehouseNotBuiltError(UserInputError):
    """Silver/Gold were asked for before any successful build published them (exit 2)."""


# Publication ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Publication:
    """One successful build: the catalog snapshots that make up its Silver and Gold."""

    silver_snapshot: int
    gold_snapshot: int
    as_of_date: str | None
    built_at: str


def read_publications(settings: Settings) -> list[Publication]:
    """Every publication, oldest first (empty before the first successful build)."""
    if settings.shared_catalog:
        return [Publication(*row) for row in pgcatalog.read_publications(settings)]
    path = settings.published_path
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
        return [Publication(**item) for item in data["history"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(
            "the publication record", path, str(exc) or type(exc).__name__,
            REBUILD_HINT) from None


def publish(settings: Settings, *, silver_snapshot: int, gold_snapshot: int,
            as_of_date: str | None) -> Publication:
    """Make the given snapshots the Silver/Gold every reader sees (atomic rename)."""
    entry = Publication(silver_snapshot, gold_snapshot, as_of_date,
                        datetime.now(UTC).isoformat(timespec="seconds"))
    if settings.shared_catalog:
        pgcatalog.write_publications(settings, [_row(entry)], append=True)
        return entry
    _write_record(settings, [*read_publications(settings), entry])
    return entry


def _write_record(settings: Settings, publications: list[Publication]) -> None:
    """Replace the publication record atomically: temporary file, fsync, rename."""
    if settings.shared_catalog:
        pgcatalog.write_publications(settings, [_row(p) for p in publications], append=False)
        return
    replace_text(settings.published_path, json.dumps(
        {"current": asdict(publications[-1]),
         "history": [asdict(p) for p in publications]}, indent=1))


def trim_publications(settings: Settings, keep: int) -> list[Publication]:
    """Keep only the newest ``keep`` publications in the record; return the kept ones."""
    publications = read_publications(settings)[-keep:]
    if not publications:
        return []
    _write_record(settings, publications)
    return publications


def reset_publications(settings: Settings) -> None:
    """Forget every publication (the catalogs they point into were replaced)."""
    if settings.shared_catalog:
        pgcatalog.write_publications(settings, [], append=False)
        return
    settings.published_path.unlink(missing_ok=True)


def _row(publication: Publication) -> tuple[int, int, str | None, str]:
    return (publication.silver_snapshot, publication.gold_snapshot, publication.as_of_date,
            publication.built_at)


def current_publication(settings: Settings, as_of: date | None = None) -> Publication:
    """The latest publication, or the latest one whose as-of date is ``as_of``."""
    publications = read_publications(settings)
    if as_of is not None:
        publications = [p for p in publications if p.as_of_date == as_of.isoformat()]
        if not publications:
            raise WarehouseNotBuiltError(f"no build of Gold as of {as_of.isoformat()}")
    if not publications:
        raise WarehouseNotBuiltError(
            "Silver and Gold have not been built yet: run `lakehouse build`"
        )
    return publications[-1]


# Readers ---------------------------------------------------------------------------------
def attach_readonly(con: duckdb.DuckDBPyConnection, settings: Settings, *,
                    as_of: date | None = None, latest: bool = False,
                    publication: Publication | None = None,
                    layers: Sequence[str] = LAYERS) -> Publication | None:
    """Attach Silver and Gold ``READ_ONLY`` to ``con`` as catalogs ``silver`` and ``gold``.

    Args:
        con: An open DuckDB connection (external access still enabled).
        settings: The lakehouse.
        as_of: Show the build published with this as-of date instead of the latest.
        latest: Attach the catalogs' newest snapshot even when it is not published
            (a build in progress or a failed one): for debugging only.
        publication: Attach exactly this publication (``as_of`` is then ignored).
        layers: Attach only these of ``LAYERS`` (each attach reads its catalog, so a
            reader of Gold alone skips Silver's).

    Returns:
        The publication attached, or None when nothing was built yet (nothing attached).
    """
    if publication is None and not latest:
        try:
            publication = current_publication(settings, as_of)
        except WarehouseNotBuiltError:
            if as_of is not None:
                raise
            return None
    load_extensions(con, settings)
    for layer in LAYERS:
        if layer not in layers:
            continue
        snapshot = None if publication is None else int(getattr(publication, f"{layer}_snapshot"))
        try:
            con.execute(settings.ducklake_attach(layer, snapshot=snapshot))
        except duckdb.Error as exc:
            if settings.shared_catalog:
                pgcatalog.check(settings)  # unreachable: one line naming the server
                raise CorruptFileError(
                    f"the {layer} catalog", f"{settings.catalog_url} (schema {layer})",
                    _redact(settings, str(exc).splitlines()[0]), REBUILD_HINT) from None
            if shutil.disk_usage(settings.root).free < FULL_DISK_BYTES:
                raise StorageError(f"opening the {layer} catalog", settings.catalog_path(layer),
                                   "the disk is full (SQLite needs a little room to read "
                                   "it); free space and retry") from None
            raise CorruptFileError(
                f"the {layer} catalog", settings.catalog_path(layer),
                str(exc).splitlines()[0], REBUILD_HINT) from None
    return publication


def _redact(settings: Settings, text: str) -> str:
    """``text`` without the catalog's password (DuckDB errors may quote the attach string)."""
    url = settings.catalog_url
    return text.replace(url.password, "***") if url is not None and url.password else text


def connect_readonly(settings: Settings, *, as_of: date | None = None,
                     latest: bool = False, publication: Publication | None = None,
                     layers: Sequence[str] = LAYERS) -> duckdb.DuckDBPyConnection:
    """A trusted DuckDB connection on which ``silver.<model>`` and ``gold.<model>`` resolve.

    Both catalogs are attached ``READ_ONLY`` at the last published build (or the build
    with the given as-of date, or the given publication), so the connection never sees a
    build in progress and never blocks the pipeline. It keeps file access (DuckLake reads
    its data files through it, and DuckDB lets it write the attached catalog files), so it
    is for the library's own fixed queries only: SQL text from users runs on the
    read-only surface (``transform.readonly``), which has no file access at all.
    ``layers`` limits the catalogs attached (``attach_readonly``).

    Raises:
        WarehouseNotBuiltError: No build was published yet.
    """
    con = connect_duckdb(settings)
    try:
        attached = attach_readonly(con, settings, as_of=as_of, latest=latest,
                                   publication=publication, layers=layers)
        if attached is None and not latest:
            raise WarehouseNotBuiltError(
                "Silver and Gold have not been built yet: run `lakehouse build`"
            )
    except BaseException:
        con.close()
        raise
    return con


# Summary -------------------------------------------------------------------------------
def table_row_counts(con: duckdb.DuckDBPyConnection, layer: str) -> dict[str, int]:
    """Rows per table of an attached layer (``silver`` or ``gold``)."""
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}")
    tables = [name for (name,) in con.execute(
        "select table_name from duckdb_tables() where database_name = ? "
        "and schema_name = 'main' order by table_name", [layer]).fetchall()]
    counts = {}
    for name in tables:
        (rows,) = con.execute(f'select count(*) from {layer}.main."{name}"').fetchone() or (0,)
        counts[name] = int(rows)
    return counts
