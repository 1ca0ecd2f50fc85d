"""The warehouse catalogs' upkeep: sound before a build, snapshots recorded after it.

Silver and Gold are DuckLake catalogs in SQLite files (``Settings.catalog_path``). Before a
build, ``prepare_catalogs`` puts them in WAL mode and ``recover_catalogs`` moves a corrupt
one aside (F13: the build then rebuilds that layer from Bronze, never touching Bronze).
After a successful build, ``latest_snapshots`` reads what to publish and
``expire_old_builds`` drops snapshots no kept publication needs.

With a shared PostgreSQL catalog (``LAKEHOUSE_CATALOG``, ADR 0021) the catalogs are
schemas ``silver`` and ``gold`` of that database: there is no journal mode to set and no
file to check (PostgreSQL's own durability covers them), so ``prepare_catalogs`` only
checks the server and creates the shared state, ``recover_catalogs`` has nothing to move,
and ``move_warehouse_aside`` (``lakehouse rebuild``) renames both schemas to
``<layer>_corrupt_<time>`` and empties the publication record.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakecore import pgcatalog
from lakecore.duck import connect_duckdb, load_extensions
from lakecore.settings import LAYERS, Settings
from transform import warehouse

Progress = Callable[[str], None]

#: Publications (and their DuckLake snapshots) kept for time travel; older are expired.
KEEP_PUBLICATIONS = 30
#: Files of expired snapshots are deleted once scheduled this long (readers may lag).
CLEANUP_AFTER = "1 day"


def prepare_catalogs(settings: Settings) -> None:
    """Put both SQLite catalogs in WAL mode (created empty when missing).

    WAL lets readers keep reading while dbt commits, and makes each DuckLake commit
    cheaper (one fsync of the log instead of the rollback journal dance). The mode is a
    property of the file, so this runs once per catalog. With a PostgreSQL catalog it
    checks the server (one line naming it when unreachable) and creates the shared state.
    """
    if settings.shared_catalog:
        pgcatalog.ensure_state(settings)
        return
    for layer in LAYERS:
        path = settings.catalog_path(layer)
        with closing(sqlite3.connect(path)) as db:
            if db.execute("pragma journal_mode").fetchone()[0] != "wal":
                db.execute("pragma journal_mode = wal")


def _catalog_problem(path: Path) -> str | None:
    """Why a DuckLake SQLite catalog cannot be used, or None when it looks sound."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            check = db.execute("pragma quick_check").fetchone()[0]
            if check != "ok":
                return f"integrity check failed: {check}"
            if db.execute("select count(*) from sqlite_master").fetchone()[0] == 0:
                return None  # created empty by prepare_catalogs, DuckLake fills it
            db.execute("select max(snapshot_id) from ducklake_snapshot").fetchone()
    except sqlite3.Error as exc:
        return str(exc)
    return None


def _local_data(settings: Settings, layer: str) -> tuple[Path, ...]:
    """A layer's local data folder; none when its data is in object storage.

    Objects of a catalog moved aside stay in the bucket: a new catalog writes new file
    names beside them (ADR 0020).
    """
    return () if settings.is_remote else (settings.layer_data_path(layer),)


def move_warehouse_aside(settings: Settings, say: Progress) -> Path:
    """Move the publication record, both catalogs and their data to ``warehouse/corrupt-*``.

    The first step of ``lakehouse rebuild`` (F13): whatever in the warehouse is damaged,
    the next build starts from nothing but Bronze. Bronze is never touched.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = settings.warehouse / f"corrupt-{stamp}"
    aside.mkdir(parents=True, exist_ok=True)
    if settings.shared_catalog:
        return _move_schemas_aside(settings, stamp, aside, say)
    moved = [settings.published_path]
    for layer in LAYERS:
        catalog = settings.catalog_path(layer)
        moved += [catalog, *catalog.parent.glob(catalog.name + "-*"),
                  *_local_data(settings, layer)]
    for path in moved:
        if path.exists():
            shutil.move(str(path), str(aside / path.name))
    for layer in LAYERS:
        for folder in _local_data(settings, layer):
            folder.mkdir(parents=True, exist_ok=True)
    say(f"moved the publication record, the catalogs and their data to {aside}")
    return aside


def _move_schemas_aside(settings: Settings, stamp: str, aside: Path, say: Progress) -> Path:
    """``move_warehouse_aside`` on PostgreSQL: rename the layer schemas, move the data."""
    suffix = stamp.lower()
    with pgcatalog.connect(settings) as con, con.transaction():
        for layer in LAYERS:
            schema = settings.metadata_schema(layer)
            if _schema_exists(con, schema):
                con.execute(f"alter schema {schema} rename to {schema}_corrupt_{suffix}")
    warehouse.reset_publications(settings)
    for layer in LAYERS:
        data = settings.layer_data_path(layer)
        if data.exists():
            shutil.move(str(data), str(aside / data.name))
        data.mkdir(parents=True, exist_ok=True)
    say(f"renamed the catalog schemas to <layer>_corrupt_{suffix} in "
        f"{settings.catalog_url}, emptied the publication record and moved the data to "
        f"{aside}")
    return aside


def _schema_exists(con: Any, schema: str) -> bool:
    return con.execute("select count(*) from pg_namespace where nspname = %s",
                       [schema]).fetchone()[0] > 0


def recover_catalogs(settings: Settings, say: Progress) -> bool:
    """Move a corrupt catalog (and its layer's data) aside so the build starts afresh.

    Returns:
        True when something was moved aside: the build must then be a full refresh.
        Bronze is never touched. Always False with a PostgreSQL catalog (no file to
        damage; ``lakehouse rebuild`` still starts afresh on demand).
    """
    if settings.shared_catalog:
        return False
    moved = False
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for layer in LAYERS:
        catalog = settings.catalog_path(layer)
        if not catalog.exists():
            continue
        problem = _catalog_problem(catalog)
        if problem is None:
            continue
        aside = settings.warehouse / f"corrupt-{stamp}"
        aside.mkdir(parents=True, exist_ok=True)
        for path in (catalog, *catalog.parent.glob(catalog.name + "-*"),
                     *_local_data(settings, layer)):
            if path.exists():
                shutil.move(str(path), str(aside / path.name))
        for folder in _local_data(settings, layer):
            folder.mkdir(parents=True, exist_ok=True)
        say(f"{layer} catalog {catalog} is unusable ({problem}); moved it and its data to "
            f"{aside} and rebuilding from Bronze")
        moved = True
    if moved:
        warehouse.reset_publications(settings)
    return moved


def expire_old_builds(settings: Settings, *, keep: int, say: Progress) -> None:
    """Forget publications beyond the newest ``keep`` and expire their snapshots.

    Snapshots older than the oldest kept publication are expired; their data files are
    deleted once they were scheduled for deletion ``CLEANUP_AFTER`` ago (a reader may
    still scan them). Call under the pipeline lock.
    """
    if len(warehouse.read_publications(settings)) <= keep:
        return
    kept = warehouse.trim_publications(settings, keep)
    with connect_duckdb(settings) as con:
        load_extensions(con, settings)
        for layer in LAYERS:
            con.execute(settings.ducklake_attach(layer, read_only=False))
            oldest = int(getattr(kept[0], f"{layer}_snapshot"))
            # fetchone() is typed Optional; the kept build's snapshot row always exists.
            (since,) = con.execute(f"select snapshot_time from {layer}.snapshots() "  # type: ignore[misc]
                                   "where snapshot_id = ?", [oldest]).fetchone()
            expired = con.execute(
                f"call ducklake_expire_snapshots('{layer}', older_than => ?::timestamptz)",
                [since]).fetchall()
            removed = con.execute(
                f"call ducklake_cleanup_old_files('{layer}', "
                f"older_than => now() - interval '{CLEANUP_AFTER}')").fetchall()
            say(f"{layer}: expired {len(expired)} snapshots older than build "
                f"{kept[0].built_at}, deleted {len(removed)} old files")


def compact_deletes(settings: Settings, say: Progress) -> int:
    """Rewrite every data file that has DuckLake delete files, before a publication.

    Incremental models (``delete+insert``) leave delete files beside the data files they
    touched. Readers of user SQL see the published tables as plain Parquet files
    (``transform.readonly``), so the build folds the deletes into new files first; the
    rewrite is one more snapshot, and the rows are exactly those of the table. Call under
    the pipeline lock, after dbt and before ``latest_snapshots``.

    Returns:
        How many tables were rewritten.
    """
    rewritten = 0
    with connect_duckdb(settings) as con:
        load_extensions(con, settings)
        for layer in LAYERS:
            con.execute(settings.ducklake_attach(layer, read_only=False))
            tables = [name for (name,) in con.execute(
                "select table_name from duckdb_tables() where database_name = ? "
                "and schema_name = 'main' order by table_name", [layer]).fetchall()]
            for table in tables:
                (deletes,) = con.execute(
                    "select count(delete_file) from ducklake_list_files(?, ?)",
                    [layer, table]).fetchone() or (0,)
                if deletes:
                    con.execute("call ducklake_rewrite_data_files(?, ?, delete_threshold => 0)",
                                [layer, table])
                    say(f"{layer}.{table}: folded {deletes} delete file(s) into new data files")
                    rewritten += 1
    return rewritten


def latest_snapshots(settings: Settings) -> tuple[int, int, str | None]:
    """The newest Silver and Gold snapshot ids and the as-of date that build computed."""
    with connect_duckdb(settings) as con:
        load_extensions(con, settings)
        snapshots = {}
        for layer in LAYERS:
            con.execute(settings.ducklake_attach(layer))
            snapshots[layer] = con.execute(
                f"select max(snapshot_id) from {layer}.snapshots()").fetchone()[0]  # type: ignore[index]
        as_of = None
        if con.execute("select count(*) from duckdb_tables() where database_name = 'silver' "
                       "and table_name = 'int_as_of_date'").fetchone()[0]:  # type: ignore[index]
            value = con.execute("select max(as_of_date) from silver.int_as_of_date").fetchone()[0]  # type: ignore[index]
            as_of = value.isoformat() if value is not None else None
    return int(snapshots["silver"]), int(snapshots["gold"]), as_of
