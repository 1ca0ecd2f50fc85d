"""The read-only surface: a DuckDB connection that can read what was committed, nothing else.

Every connection that runs SQL text a user (or a dashboard filter) supplies is made here:
``lakehouse sql``, the explorer notebook and the Ibis metric layer. Such a connection has
no file access at all, enforced by DuckDB rather than by looking at the SQL:

- ``enable_external_access`` is off with *empty* ``allowed_paths`` and
  ``allowed_directories``, no database file is attached (DuckDB allows writes to the file
  of any attached database, even one attached ``READ_ONLY``), and the configuration is
  locked. ``COPY``, ``ATTACH``, ``INSTALL``/``LOAD``, ``EXPORT``, every file-reading table
  function and ``SET`` fail inside the engine, whatever statement wraps them (an
  ``EXPLAIN ANALYZE``, a CTE, a subquery).
- The data reaches it as Arrow datasets that this module opens in Python on the exact
  files a reader may see: committed Bronze and quarantine files from the manifest, and the
  data files of the *published* Silver/Gold snapshot listed by DuckLake
  (``ducklake_list_files``). pyarrow only reads them. A table whose snapshot still has
  DuckLake delete files (the build rewrites them away before publishing,
  ``transform.catalogs.compact_deletes``) is read through the trusted connection and held
  in memory instead, so deleted rows never show.
- Spill goes to a private temporary folder outside the data root, removed when the
  connection closes; it is the only place DuckDB may write.

The trusted connections that list those files (``transform.warehouse.connect_readonly``)
never see user SQL.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ingestion.contract import ENTITIES
from ingestion.manifest import Manifest
from lakecore.settings import LAYERS, Settings, sql_literal
from transform.warehouse import Publication, connect_readonly, current_publication

#: Manifest tables shown under ``meta``.
META_TABLES = {"batches": "batches", "rejected_files": "rejected_files",
               "schema_changes": "schema_changes"}
T = TypeVar("T")
#: The hive partition column of Bronze and quarantine folders.
PARTITION = pa.schema([("ingestion_date", pa.date32())])
#: SQLite declared types of the manifest, as Arrow types.
_SQLITE_TYPES = {"integer": pa.int64(), "text": pa.string(), "real": pa.float64()}


@dataclass(frozen=True)
class WarehouseTable:
    """One Silver or Gold table of a publication, as the read-only surface shows it."""

    layer: str
    name: str
    columns: tuple[tuple[str, str], ...]
    files: tuple[str, ...]
    data: pa.Table | None = None


class Surface:
    """A locked, file-less DuckDB connection and the Arrow data behind its views.

    The views (``bronze.*``, ``gold.*``, ...) live in the in-memory database, visible to
    every cursor; the Arrow datasets they read are registered per connection, so
    ``cursor()`` registers them again on each new cursor.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection,
                 sources: dict[str, ds.Dataset | pa.Table]) -> None:
        """Wrap a connection built by ``open_surface`` and the data its views read."""
        self.connection = con
        self._sources = sources
        self._memo: dict[str, Any] = {}
        self._memo_lock = threading.Lock()

    def cursor(self, *, views: bool = True) -> duckdb.DuckDBPyConnection:
        """A new cursor (safe to use from another thread) that sees every view.

        ``views=False`` skips registering the data behind the views (about 1 ms per table):
        for a caller that only reads Arrow tables it registers itself.
        """
        cursor = self.connection.cursor()
        if views:
            for name, data in self._sources.items():
                cursor.register(name, data)
        return cursor

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()``'s value, computed once per surface (so once per publication).

        For values derived from the surface's data, such as the metric layer's cells
        (ADR 0016); concurrent first callers wait for one computation.
        """
        with self._memo_lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]

    def close(self) -> None:
        """Close the connection (its private spill folder goes with it)."""
        self.connection.close()


def open_surface(settings: Settings, *, bronze: bool = True, warehouse: bool = True,
                 publication: Publication | None = None,
                 tables: Collection[str] | None = None) -> Surface:
    """A locked, file-less DuckDB connection over the committed lakehouse.

    Args:
        settings: The lakehouse.
        bronze: Show ``bronze.*``, ``quarantine.*`` and ``meta.*`` (the manifest).
        warehouse: Show ``silver.*`` and ``gold.*`` of ``publication``.
        publication: The publication to show; None shows nothing of Silver and Gold.
        tables: Show only these Silver/Gold tables (``"gold.dim_accounts"``); None shows
            every table. Listing a table's files costs about 25 ms, so a reader that needs
            a few tables (the dashboard) opens faster.

    Returns:
        The surface; its connection's configuration is locked, and closing it (or losing
        the last reference to it) removes its private spill folder.
    """
    spill = Path(tempfile.mkdtemp(prefix="lakehouse-readonly-"))
    con = duckdb.connect(config={
        "memory_limit": settings.memory_limit,
        "threads": settings.threads,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    })
    weakref.finalize(con, shutil.rmtree, spill, True)
    sources: dict[str, ds.Dataset | pa.Table] = {}
    try:
        con.execute("create schema bronze; create schema quarantine; create schema meta; "
                    "create schema silver; create schema gold")
        if bronze:
            _register_bronze(con, settings, sources)
        if warehouse and publication is not None:
            filesystem = settings.store.fs if settings.store is not None else None
            for table in warehouse_tables(settings, publication, tables):
                _register_warehouse_table(con, table, sources, filesystem)
        _lock(con, spill)
    except BaseException:
        con.close()
        raise
    return Surface(con, sources)


#: Process-wide read-only connections per (root, silver snapshot, gold snapshot, tables
#: shown); at most ``_SHARED_KEEP`` per root and tables, so a dashboard session that is
#: mid-query when a new build is published keeps its connection while new queries move to
#: the new publication.
_SHARED: dict[tuple[str, int, int, tuple[str, ...] | None], Surface] = {}
_SHARED_KEEP = 2
_SHARED_LOCK = threading.Lock()


@contextmanager
def shared_readonly(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the shared read-only surface of the last published build.

    See ``shared_surface``.

    Raises:
        WarehouseNotBuiltError: No build was published yet.
    """
    with shared_surface(settings) as (_surface, cursor):
        yield cursor


@contextmanager
def shared_surface(settings: Settings, *, views: bool = True,
                   tables: Collection[str] | None = None,
                   ) -> Iterator[tuple[Surface, duckdb.DuckDBPyConnection]]:
    """The shared read-only surface (``open_surface``) at the last published build, and a cursor.

    Opening the surface (attaching the two DuckLake catalogs to list their files) costs
    about 0.3 s, too much for every filter change of a dashboard. This keeps one surface per
    publication in the process and hands out a cursor per use (cursors are safe to use
    from different threads); a new publication gets a new surface on the next call. The
    surface reads fixed files of one snapshot, so it never blocks a build and never sees
    one in progress (F7); it has no file access, so no SQL text run on it can write.
    ``tables`` (see ``open_surface``) gives a surface of only those tables, shared apart
    from the full one.

    Raises:
        WarehouseNotBuiltError: No build was published yet.
    """
    publication = current_publication(settings)
    shown = tuple(sorted(tables)) if tables is not None else None
    key = (str(settings.root), publication.silver_snapshot, publication.gold_snapshot, shown)
    with _SHARED_LOCK:
        base = _SHARED.get(key)
        if base is None:
            base = open_surface(settings, bronze=False, publication=publication, tables=shown)
            _SHARED[key] = base
            same_root = [k for k in _SHARED
                         if k[0] == key[0] and k[3] == key[3] and k != key]
            for old in same_root[: max(0, len(same_root) - (_SHARED_KEEP - 1))]:
                _SHARED.pop(old).close()
        cursor = base.cursor(views=views)
    try:
        yield base, cursor
    finally:
        cursor.close()


def _lock(con: duckdb.DuckDBPyConnection, spill: Path) -> None:
    """Take every file away from ``con`` and freeze its configuration."""
    con.execute("set TimeZone = 'UTC'")
    con.execute("set python_enable_replacements = false")
    con.execute("set allowed_paths = []")
    con.execute("set allowed_directories = []")
    con.execute(f"set temp_directory = {sql_literal(str(spill))}")
    # Ibis sets these two on every connection it wraps; both are harmless (a time zone,
    # and replacement scans, which stay off without external access).
    con.execute("set allowed_configs = ['timezone', 'python_enable_replacements']")
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")


# Bronze, quarantine and the manifest -----------------------------------------------------
def _register_bronze(con: duckdb.DuckDBPyConnection, settings: Settings,
                     sources: dict[str, ds.Dataset | pa.Table]) -> None:
    from lakecore import ledger  # noqa: PLC0415 - structlog: not for Gold readers (ADR 0025)

    # Nothing ingested yet: the manifest's tables, empty, in memory (the root stays untouched).
    manifest = (Manifest.open(settings, read_only=True)
                if Manifest.exists(settings) else Manifest(Path(":memory:")))
    batches = manifest.batches()
    filesystem, where = _data_files(settings)
    quarantine_schemas: list[pa.Schema] = []
    all_quarantine: list[str] = []
    for ent in ENTITIES.values():
        empty_schema = settings.empty_schema_path(ent.source, ent.name)
        if not empty_schema.exists():  # nothing was ever ingested: the loader writes them first
            continue
        schema = pq.read_schema(empty_schema)
        files = [where(p) for p in manifest.bronze_files(ent.source, ent.name)]
        base = where(f"bronze/{ent.source}/{ent.name}")
        sources[_hidden("bronze", ent.name)] = _dataset(files, schema, base, filesystem)
        q_files = [where(b.quarantine_file) for b in batches
                   if b.quarantine_file and b.source == ent.source and b.entity == ent.name]
        if q_files:
            q_schema = pq.read_schema(q_files[0], filesystem=filesystem)
            quarantine_schemas.append(q_schema)
            all_quarantine += q_files
            sources[_hidden("quarantine", ent.name)] = _dataset(
                q_files, q_schema, where(f"quarantine/{ent.source}/{ent.name}"), filesystem)
    unified = (pa.unify_schemas(quarantine_schemas, promote_options="permissive")
               if quarantine_schemas else _quarantine_schema())
    sources[_hidden("quarantine", "all_rows")] = _dataset(all_quarantine, unified, None,
                                                          filesystem)
    for view, table in META_TABLES.items():
        sources[_hidden("meta", view)] = _manifest_table(manifest, table)
    manifest.close()
    for table in ledger.TABLES:
        sources[_hidden("meta", table)] = _typed_table(*ledger.table_dump(settings, table))
    _register(con, sources, dict(sources))


def _register(con: duckdb.DuckDBPyConnection, sources: dict[str, ds.Dataset | pa.Table],
              new: dict[str, ds.Dataset | pa.Table]) -> None:
    """Register each hidden source and create its view ``schema.view`` over it."""
    for name, data in new.items():
        sources[name] = data
        con.register(name, data)
        schema_name, view = name[1:].split("__", 1)
        con.execute(f'create view {schema_name}."{view}" as select * from "{name}"')


def _quarantine_schema() -> pa.Schema:
    """The lineage and reason columns every quarantine file has (for an empty view)."""
    return pa.schema([("_batch_id", pa.string()), ("_source_file", pa.string()),
                      ("_line_number", pa.int64()), ("_export_date", pa.string()),
                      ("_ingested_at", pa.timestamp("us", tz="UTC")),
                      ("_reason", pa.string()), ("_raw", pa.string())])


def _data_files(settings: Settings) -> tuple[Any, Callable[[str], str]]:
    """The pyarrow filesystem of the data (None: local) and a data path's name on it."""
    store = settings.store
    if store is None:
        return None, lambda relative: str(settings.root / relative)
    return store.fs, store.fs_path


def _dataset(files: Iterable[str], schema: pa.Schema, base: str | None,
             filesystem: Any = None) -> ds.Dataset:
    """Parquet files as one dataset; under ``base`` the hive folder gives ``ingestion_date``.

    ``filesystem`` (pyarrow) reads them from object storage; None reads local files.
    """
    files = list(files)
    if base is not None and "ingestion_date" not in schema.names:
        partitioning = ds.partitioning(PARTITION, flavor="hive")
        schema = schema.append(pa.field("ingestion_date", pa.date32()))
        return ds.dataset(files, schema=schema, format="parquet", filesystem=filesystem,
                          partitioning=partitioning, partition_base_dir=base)
    return ds.dataset(files, schema=schema, format="parquet", filesystem=filesystem)


def _hidden(schema_name: str, view: str) -> str:
    """The name the data behind the view ``schema.view`` is registered under."""
    return f"_{schema_name}__{view}"


def _manifest_table(manifest: Manifest, table: str) -> pa.Table:
    """A manifest table as Arrow, typed from its declaration (empty when it has no rows)."""
    return _typed_table(*manifest.table_dump(table))


def _typed_table(columns: list[tuple[str, str]], rows: list[tuple[object, ...]]) -> pa.Table:
    """SQLite rows as Arrow, typed from the table's declared column types."""
    fields = [pa.field(name, _SQLITE_TYPES.get(decl.lower(), pa.string()))
              for name, decl in columns]
    arrays = [pa.array([row[i] for row in rows], f.type) for i, f in enumerate(fields)]
    return pa.table(arrays, schema=pa.schema(fields))


# Silver and Gold -------------------------------------------------------------------------
def warehouse_tables(settings: Settings, publication: Publication,
                     only: Collection[str] | None = None) -> list[WarehouseTable]:
    """Every Silver and Gold table of a publication: its columns and its data files.

    Listed on a trusted connection attached at the publication's snapshots. A table whose
    snapshot has delete files is read into memory here (``WarehouseTable.data``).
    ``only`` (``"layer.table"`` names) lists just those tables, attaching only their layers.
    """
    tables: list[WarehouseTable] = []
    wanted = None if only is None else set(only)
    layers = [layer for layer in LAYERS
              if wanted is None or any(name.startswith(f"{layer}.") for name in wanted)]
    if not layers:
        return tables
    with connect_readonly(settings, publication=publication, layers=layers) as con:
        for layer in layers:
            columns: dict[str, list[tuple[str, str]]] = {}
            for table, column, data_type in con.execute(
                    "select table_name, column_name, data_type from duckdb_columns() "
                    "where database_name = ? and schema_name = 'main' "
                    "order by table_name, column_index", [layer]).fetchall():
                columns.setdefault(table, []).append((column, data_type))
            for table, cols in columns.items():
                if wanted is not None and f"{layer}.{table}" not in wanted:
                    continue
                listed = con.execute(
                    "select data_file, delete_file from ducklake_list_files(?, ?)",
                    [layer, table]).fetchall()
                data = None
                if any(delete is not None for _data, delete in listed):
                    data = con.execute(f'select * from {layer}.main."{table}"').to_arrow_table()
                tables.append(WarehouseTable(layer, table, tuple(cols),
                                             tuple(f for f, _d in listed), data))
    return tables


def _register_warehouse_table(con: duckdb.DuckDBPyConnection, table: WarehouseTable,
                              sources: dict[str, ds.Dataset | pa.Table],
                              filesystem: Any = None) -> None:
    hidden = f"_{table.layer}__{table.name}"
    select = ", ".join(f'cast("{c}" as {t}) as "{c}"' for c, t in table.columns)
    if table.data is not None:
        sources[hidden] = table.data
    elif table.files:
        files = [f.removeprefix("s3://") for f in table.files] if filesystem else table.files
        sources[hidden] = ds.dataset(list(files), format="parquet", filesystem=filesystem)
    else:
        spec = ", ".join(f'"{c}" {t}' for c, t in table.columns)
        con.execute(f'create table "{hidden}" ({spec})')
    if hidden in sources:
        con.register(hidden, sources[hidden])
    con.execute(f'create view {table.layer}."{table.name}" as select {select} from "{hidden}"')
