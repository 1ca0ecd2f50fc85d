"""DuckDB connections of the lakehouse: bounded, UTC, extensions from wheels only.

Every module that needs DuckDB opens it here, so memory limits, the spill folder, the time
zone and the no-download rule for extensions are set in one place.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import duckdb_extensions  # installs extensions from their wheels, without network

from lakecore.settings import Settings, sql_literal
from lakecore.storage import create_secret

#: Extensions Silver and Gold need, installed from their wheels (never downloaded).
EXTENSIONS = ("ducklake", "sqlite")
#: Extensions an object-storage root needs besides (s3:// paths).
REMOTE_EXTENSIONS = ("httpfs",)
#: What a PostgreSQL catalog (``LAKEHOUSE_CATALOG``) adds: the ``postgres`` extra's wheel.
CATALOG_EXTENSIONS = ("postgres",)


def extensions(settings: Settings) -> tuple[str, ...]:
    """The extensions this lakehouse needs.

    Always ducklake and sqlite; postgres with a shared catalog, httpfs when the data is in
    object storage.
    """
    return (EXTENSIONS + (CATALOG_EXTENSIONS if settings.shared_catalog else ())
            + (REMOTE_EXTENSIONS if settings.is_remote else ()))


def connect_duckdb(settings: Settings, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for pipeline work: bounded memory, UTC, no extension downloads."""
    settings.duckdb_temp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(database, config=settings.duckdb_config())
    con.execute("set TimeZone = 'UTC'")
    return con


def install_extensions(settings: Settings) -> Path:
    """Install the DuckDB extensions Silver/Gold need from their wheels (idempotent).

    Returns:
        The extension directory (``Settings.extensions_dir``), to pass as DuckDB's
        ``extension_directory``.
    """
    settings.extensions_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={
        "extension_directory": str(settings.extensions_dir),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    })
    try:
        installed = {
            name for (name,) in con.execute(
                "select extension_name from duckdb_extensions() where installed"
            ).fetchall()
        }
        for name in extensions(settings):
            if name not in installed:
                duckdb_extensions.import_extension(name, con=con)
    finally:
        con.close()
    return settings.extensions_dir


def load_extensions(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Load ducklake and sqlite into ``con`` from the project's extension directory.

    With a PostgreSQL catalog, postgres too; with an object-storage root, httpfs, and an
    in-memory secret for the bucket.
    """
    install_extensions(settings)
    con.execute(f"set extension_directory = {sql_literal(str(settings.extensions_dir))}")
    for name in extensions(settings):
        con.execute(f"load {name}")
    if settings.store is not None:
        create_secret(con, settings.store)
        if settings.landing_store is not None and (
                settings.landing_store.location.bucket != settings.store.location.bucket):
            create_secret(con, settings.landing_store, name="lakehouse_s3_landing")
