"""The one place that knows where things live.

Every path of the lakehouse is derived here from the data root (``LAKEHOUSE_ROOT``,
default ``./lakehouse``) and the landing zone (``LAKEHOUSE_LANDING``, default
``$LAKEHOUSE_ROOT/landing``). Nothing else reads these environment variables, so moving the
root elsewhere (object storage, later) changes this module only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from saaslake.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt"
NOTEBOOKS_DIR = PROJECT_DIR / "notebooks"

ENV_ROOT = "LAKEHOUSE_ROOT"
ENV_LANDING = "LAKEHOUSE_LANDING"
ENV_MEMORY_LIMIT = "LAKEHOUSE_MEMORY_LIMIT"
ENV_THREADS = "LAKEHOUSE_THREADS"


@dataclass(frozen=True)
class Settings:
    """Resolved locations and resource limits of one lakehouse.

    Attributes:
        root: The data root; everything the lakehouse writes lives below it.
        landing: The landing zone that source systems (or the simulator) export into.
        memory_limit: DuckDB ``memory_limit`` for heavy work (for example ``"4GB"``).
        threads: DuckDB worker threads.
    """

    root: Path
    landing: Path
    memory_limit: str = "4GB"
    threads: int = 2

    @classmethod
    def from_env(
        cls,
        root: str | os.PathLike[str] | None = None,
        landing: str | os.PathLike[str] | None = None,
    ) -> Settings:
        """Build settings from explicit arguments, then the environment, then defaults."""
        root_value = root if root is not None else os.environ.get(ENV_ROOT, "lakehouse")
        if str(root_value).startswith(("s3://", "gs://", "az://", "http://", "https://")):
            raise ConfigError(
                f"{ENV_ROOT}={root_value}: object-storage roots are not supported yet; "
                "use a local directory"
            )
        root_path = Path(root_value).expanduser().resolve()
        landing_value = landing if landing is not None else os.environ.get(ENV_LANDING)
        landing_path = (
            Path(landing_value).expanduser().resolve()
            if landing_value
            else root_path / "landing"
        )
        threads_text = os.environ.get(ENV_THREADS, "2")
        if not threads_text.isdigit() or int(threads_text) < 1:
            raise ConfigError(f"{ENV_THREADS}={threads_text!r}: expected a positive integer")
        return cls(
            root=root_path,
            landing=landing_path,
            memory_limit=os.environ.get(ENV_MEMORY_LIMIT, "4GB"),
            threads=int(threads_text),
        )

    # Layers -------------------------------------------------------------------------
    @property
    def bronze(self) -> Path:
        return self.root / "bronze"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def silver(self) -> Path:
        return self.root / "silver"

    @property
    def gold(self) -> Path:
        return self.root / "gold"

    # Bookkeeping ----------------------------------------------------------------------
    @property
    def meta(self) -> Path:
        """Manifest, lock and other bookkeeping; never data a user queries directly."""
        return self.root / "_meta"

    @property
    def manifest_path(self) -> Path:
        return self.meta / "manifest.sqlite"

    @property
    def lock_path(self) -> Path:
        return self.meta / "pipeline.lock"

    @property
    def staging(self) -> Path:
        """Temporary files on the same file system as the layers, renamed into place."""
        return self.root / "_staging"

    @property
    def warehouse(self) -> Path:
        """The dbt build's own working database and catalog."""
        return self.root / "warehouse"

    @property
    def extensions_dir(self) -> Path:
        """DuckDB extensions installed from their wheels (never downloaded)."""
        return self.root / "_meta" / "duckdb_extensions"

    @property
    def duckdb_temp(self) -> Path:
        return self.root / "_staging" / "duckdb_tmp"

    def bronze_dir(self, source: str, entity: str, export_date: str) -> Path:
        return self.bronze / source / entity / f"ingestion_date={export_date}"

    def quarantine_dir(self, source: str, entity: str, export_date: str) -> Path:
        return self.quarantine / source / entity / f"ingestion_date={export_date}"

    def ensure_dirs(self) -> None:
        """Create the folders every command expects (idempotent)."""
        for path in (self.root, self.landing, self.bronze, self.quarantine, self.meta,
                     self.staging):
            path.mkdir(parents=True, exist_ok=True)

    def duckdb_config(self) -> dict[str, str | bool | int]:
        """Connection settings for heavy DuckDB work: bounded memory, spill inside the root."""
        return {
            "memory_limit": self.memory_limit,
            "threads": self.threads,
            "temp_directory": str(self.duckdb_temp),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }


def sql_literal(value: str) -> str:
    """A SQL string literal (quotes doubled), for paths the lakehouse itself derives.

    Values from users or files are bound as parameters instead, never pasted.
    """
    return "'" + value.replace("'", "''") + "'"


def connect_duckdb(settings: Settings, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for pipeline work: bounded memory, UTC, no extension downloads."""
    settings.duckdb_temp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(database, config=settings.duckdb_config())
    con.execute("set TimeZone = 'UTC'")
    return con
