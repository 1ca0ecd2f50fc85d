"""The one place that knows where things live.

Every path of the lakehouse is derived here from the data root (``LAKEHOUSE_ROOT``,
default ``./lakehouse``) and the landing zone (``LAKEHOUSE_LANDING``, default
``$LAKEHOUSE_ROOT/landing``). Nothing else reads these environment variables, so moving the
root elsewhere (object storage, later) changes this module only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from lakecore.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt"

ENV_ROOT = "LAKEHOUSE_ROOT"
ENV_LANDING = "LAKEHOUSE_LANDING"
ENV_MEMORY_LIMIT = "LAKEHOUSE_MEMORY_LIMIT"
ENV_THREADS = "LAKEHOUSE_THREADS"
ENV_BLOCK_BYTES = "LAKEHOUSE_BLOCK_BYTES"
ENV_DBT_LOG_LEVEL = "LAKEHOUSE_DBT_LOG_LEVEL"
#: Fault injection for tests: the loader waits at this named point to be killed.
ENV_PAUSE_AT = "LAKEHOUSE_PAUSE_AT"
#: Simulator options: ``lakehouse simulate`` and ``make simulate`` default to these.
ENV_SIMULATION = {
    "scale": "LAKEHOUSE_SCALE",
    "seed": "LAKEHOUSE_SEED",
    "end": "LAKEHOUSE_END",
    "daily_days": "LAKEHOUSE_DAILY_DAYS",
    "dirty_share": "LAKEHOUSE_DIRTY_SHARE",
}
#: Bytes the loader reads per block: memory per file is a small multiple of this.
DEFAULT_BLOCK_BYTES = 32 * 1024 * 1024

#: The warehouse layers, in build order; each is one DuckLake catalog (schema ``main``).
LAYERS = ("silver", "gold")


@dataclass(frozen=True)
class Settings:
    """Resolved locations and resource limits of one lakehouse.

    Attributes:
        root: The data root; everything the lakehouse writes lives below it.
        landing: The landing zone that source systems (or the simulator) export into.
        memory_limit: DuckDB ``memory_limit`` for heavy work (for example ``"4GB"``).
        threads: DuckDB worker threads.
        block_bytes: Bytes the loader reads per block of a landing file.
        dbt_log_level: Level of dbt's own log file under ``warehouse/dbt_logs``.
        pause_at: Fault-injection point where the loader waits to be killed (tests only).
    """

    root: Path
    landing: Path
    memory_limit: str = "4GB"
    threads: int = 2
    block_bytes: int = DEFAULT_BLOCK_BYTES
    dbt_log_level: str = "info"
    pause_at: str | None = None

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
        return cls(
            root=root_path,
            landing=landing_path,
            memory_limit=_memory_limit(os.environ.get(ENV_MEMORY_LIMIT, "4GB")),
            threads=_positive_int(ENV_THREADS, "2"),
            block_bytes=_positive_int(ENV_BLOCK_BYTES, str(DEFAULT_BLOCK_BYTES)),
            dbt_log_level=os.environ.get(ENV_DBT_LOG_LEVEL, "info"),
            pause_at=os.environ.get(ENV_PAUSE_AT) or None,
        )

    # Layers -------------------------------------------------------------------------
    @property
    def bronze(self) -> Path:
        """Bronze: the landed rows, Parquet per entity and ingestion date."""
        return self.root / "bronze"

    @property
    def quarantine(self) -> Path:
        """Rows that broke the contract, with their reason, laid out like Bronze."""
        return self.root / "quarantine"

    @property
    def silver(self) -> Path:
        """Silver's Parquet files (DuckLake data path)."""
        return self.root / "silver"

    @property
    def gold(self) -> Path:
        """Gold's Parquet files (DuckLake data path)."""
        return self.root / "gold"

    # Bookkeeping ----------------------------------------------------------------------
    @property
    def meta(self) -> Path:
        """Manifest, lock and other bookkeeping; never data a user queries directly."""
        return self.root / "_meta"

    @property
    def manifest_path(self) -> Path:
        """The SQLite commit log of Bronze batches (``ingestion.manifest``)."""
        return self.meta / "manifest.sqlite"

    @property
    def lock_path(self) -> Path:
        """The file whose lock serialises pipeline runs (``lakecore.lock``)."""
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
    def published_path(self) -> Path:
        """The publication record: which catalog snapshots readers see."""
        return self.warehouse / "published.json"

    def catalog_path(self, layer: str) -> Path:
        """The SQLite DuckLake catalog of ``silver`` or ``gold``."""
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; known: {', '.join(LAYERS)}")
        return self.warehouse / f"{layer}.sqlite"

    def layer_data_path(self, layer: str) -> Path:
        """Where a layer's Parquet files live (``$LAKEHOUSE_ROOT/silver/`` or ``.../gold/``)."""
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; known: {', '.join(LAYERS)}")
        return self.silver if layer == "silver" else self.gold

    def ducklake_attach(self, layer: str, *, read_only: bool = True,
                        snapshot: int | None = None) -> str:
        """The one ``ATTACH`` statement of a layer's DuckLake catalog (alias = layer).

        Args:
            layer: ``silver`` or ``gold``.
            read_only: Attach ``READ_ONLY`` (every reader; only dbt writes).
            snapshot: Attach at this snapshot id (a publication) instead of the newest.
        """
        options = [f"data_path {sql_literal(str(self.layer_data_path(layer)) + '/')}",
                   "override_data_path true"]
        if read_only:
            options.insert(0, "read_only")
        if snapshot is not None:
            options.append(f"snapshot_version {int(snapshot)}")
        target = sql_literal("ducklake:sqlite:" + str(self.catalog_path(layer)))
        return f"attach {target} as {layer} ({', '.join(options)})"

    @property
    def extensions_dir(self) -> Path:
        """DuckDB extensions installed from their wheels (never downloaded)."""
        return self.root / "_meta" / "duckdb_extensions"

    @property
    def duckdb_temp(self) -> Path:
        """Where DuckDB spills when a query exceeds its memory limit."""
        return self.root / "_staging" / "duckdb_tmp"

    @property
    def empty_schemas(self) -> Path:
        """Typed 0-row Parquet files, one per entity (``ingestion.schemas``)."""
        return self.meta / "schemas"

    def empty_schema_path(self, source: str, entity: str) -> Path:
        """The typed empty Bronze schema file of one entity."""
        return self.empty_schemas / source / f"{entity}.parquet"

    # The Spark engine (``lakehouse build --engine spark``, ADR 0022) ------------------
    @property
    def spark(self) -> Path:
        """Everything the Spark engine keeps: its warehouse, metastore and scratch space."""
        return self.root / "spark"

    @property
    def spark_warehouse(self) -> Path:
        """Spark's warehouse: Silver and Gold as Parquet tables (``silver.*``, ``gold.*``)."""
        return self.spark / "warehouse"

    @property
    def spark_metastore(self) -> Path:
        """The embedded (Derby) metastore naming the Spark warehouse's tables."""
        return self.spark / "metastore_db"

    @property
    def spark_local_dir(self) -> Path:
        """Spark's shuffle and spill files (``spark.local.dir``)."""
        return self.root / "_staging" / "spark_local"

    @property
    def memory_limit_mib(self) -> int:
        """``memory_limit`` in whole MiB (Spark's driver memory, e.g. ``4096m``)."""
        match = _MEMORY.match(self.memory_limit)
        if match is None:  # from_env checked it; a hand-made Settings may not have been
            raise ConfigError(f"memory limit {self.memory_limit!r}: expected e.g. 4GB")
        return int(float(match.group(1)) * _UNIT_BYTES[match.group(2).lower()] // 2**20)

    @property
    def spark_build_dir(self) -> Path:
        """A Spark build's working folder: dbt's target and logs, the Bronze file list."""
        return self.spark / "build"

    def bronze_dir(self, source: str, entity: str, export_date: str) -> Path:
        """The Bronze partition folder of one entity and export date."""
        return self.bronze / source / entity / f"ingestion_date={export_date}"

    def quarantine_dir(self, source: str, entity: str, export_date: str) -> Path:
        """The quarantine partition folder of one entity and export date."""
        return self.quarantine / source / entity / f"ingestion_date={export_date}"

    def ensure_dirs(self) -> None:
        """Create the folders every command expects (idempotent)."""
        for path in (self.root, self.landing, self.bronze, self.quarantine, self.meta,
                     self.staging):
            path.mkdir(parents=True, exist_ok=True)

    def duckdb_config(self) -> dict[str, str | bool | int | float | list[str]]:
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


#: A DuckDB memory size: a number and a unit (``4GB``, ``512MiB``, ``1.5 GB``).
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
_UNIT_BYTES = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
#: Below this DuckDB cannot even attach a catalog.
MIN_MEMORY_BYTES = 128 * 2**20


def _memory_limit(text: str) -> str:
    """Check a memory limit before DuckDB sees it: one clear line instead of a parser error."""
    match = _MEMORY.match(text)
    if match is None:
        raise ConfigError(f"{ENV_MEMORY_LIMIT}={text!r}: expected a size such as 4GB or "
                          "512MB")
    if float(match.group(1)) * _UNIT_BYTES[match.group(2).lower()] < MIN_MEMORY_BYTES:
        raise ConfigError(f"{ENV_MEMORY_LIMIT}={text!r}: at least 128MiB is needed")
    return text.strip()


def _positive_int(name: str, default: str) -> int:
    text = os.environ.get(name, default)
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name}={text!r}: expected a positive integer")
    return int(text)


@dataclass(frozen=True)
class SimulationDefaults:
    """The embedded default business the simulator writes when nothing else is asked.

    Two years of history ending on a fixed day (so every run of the same version is
    identical), the last 60 days as daily exports, about 1,000 accounts (scale 0.1).
    """

    scale: float = 0.1
    seed: int = 42
    end: date = date(2025, 12, 31)
    history_days: int = 730
    daily_days: int = 60
    dirty_share: float = 0.0

    @property
    def start(self) -> date:
        """The first simulated day: ``history_days`` before ``end``."""
        return self.end - timedelta(days=self.history_days)

    @classmethod
    def from_env(cls) -> SimulationDefaults:
        """The defaults, overridden by ``LAKEHOUSE_SCALE|SEED|END|DAILY_DAYS|DIRTY_SHARE``."""
        base = cls()
        values: dict[str, object] = {}
        for field_name, env in ENV_SIMULATION.items():
            text = os.environ.get(env)
            if text is None or text == "":
                continue
            try:
                value: object = (date.fromisoformat(text) if field_name == "end"
                                 else int(text) if field_name in ("seed", "daily_days")
                                 else float(text))
            except ValueError:
                raise ConfigError(f"{env}={text!r}: not a valid "
                                  f"{'date (YYYY-MM-DD)' if field_name == 'end' else 'number'}"
                                  ) from None
            values[field_name] = value
        result = cls(**{**base.__dict__, **values})
        if result.scale <= 0:
            raise ConfigError(f"{ENV_SIMULATION['scale']}={result.scale}: must be above 0")
        if not 0 <= result.dirty_share < 1:
            raise ConfigError(f"{ENV_SIMULATION['dirty_share']}={result.dirty_share}: "
                              "must be at least 0 and below 1")
        if result.daily_days < 0:
            raise ConfigError(f"{ENV_SIMULATION['daily_days']}={result.daily_days}: "
                              "must not be negative")
        return result
