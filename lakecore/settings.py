"""The one place that knows where things live.

Every path of the lakehouse is derived here from the data root (``LAKEHOUSE_ROOT``,
default ``./lakehouse``) and the landing zone (``LAKEHOUSE_LANDING``, default
``$LAKEHOUSE_ROOT/landing``). Nothing else reads these environment variables.

A root may also be ``s3://bucket/prefix`` (``docs/decisions/0020-object-storage-root.md``):
landing, Bronze, quarantine and the Silver/Gold data paths are then objects in the bucket
(``Settings.store``, credentials and endpoint from the standard ``AWS_*`` variables), while
the bookkeeping (manifest, ledger, catalogs, publication record, lock, DuckDB extensions and
spill) lives in a local state folder, ``LAKEHOUSE_STATE``, which is ``Settings.root``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from lakecore.errors import ConfigError
from lakecore.storage import OBJECT_SCHEMES, ObjectStore, S3Credentials, S3Location

PROJECT_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt"

ENV_ROOT = "LAKEHOUSE_ROOT"
ENV_LANDING = "LAKEHOUSE_LANDING"
#: The local state folder of an object-storage root (manifest, catalogs, lock, ...).
ENV_STATE = "LAKEHOUSE_STATE"
#: The standard AWS variables an object-storage root takes its credentials from.
ENV_AWS = {
    "key_id": "AWS_ACCESS_KEY_ID",
    "secret": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
    "region": "AWS_REGION",
    "endpoint_url": "AWS_ENDPOINT_URL",
}
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
        store: The bucket holding the data objects when the root is ``s3://...``; None
            for a local root. ``root`` is then the local state folder.
        landing_store: The bucket location of the landing zone (an ``s3://`` root's
            ``landing/`` unless ``LAKEHOUSE_LANDING`` says otherwise); None when the
            landing zone is a local folder. ``landing`` is then a local folder the
            simulator writes into before its files are uploaded.
        catalog_url: The shared PostgreSQL catalog (``LAKEHOUSE_CATALOG``), or None for
            the local SQLite files under the root.
        dbt_threads: dbt's model threads (``LAKEHOUSE_DBT_MODEL_THREADS``, default 1).
            SQLite catalogs need 1 (one writer); PostgreSQL takes more, but an
            incremental build with 2 failed in a DuckLake commit (ADR 0021).
    """

    root: Path
    landing: Path
    memory_limit: str = "4GB"
    threads: int = 2
    block_bytes: int = DEFAULT_BLOCK_BYTES
    dbt_log_level: str = "info"
    pause_at: str | None = None
    store: ObjectStore | None = None
    landing_store: ObjectStore | None = None
    catalog_url: CatalogURL | None = field(default=None, repr=False)
    dbt_threads: int = 1

    @classmethod
    def from_env(
        cls,
        root: str | os.PathLike[str] | None = None,
        landing: str | os.PathLike[str] | None = None,
    ) -> Settings:
        """Build settings from explicit arguments, then the environment, then defaults."""
        root_value = str(root if root is not None else os.environ.get(ENV_ROOT, "lakehouse"))
        landing_value = landing if landing is not None else os.environ.get(ENV_LANDING)
        store = landing_store = None
        if _is_uri(root_value):
            credentials = _credentials()
            store = ObjectStore(S3Location.parse(root_value, ENV_ROOT), credentials)
            state = os.environ.get(ENV_STATE)
            root_path = (Path(state).expanduser().resolve() if state
                         else _default_state(store.location))
        else:
            root_path = Path(root_value).expanduser().resolve()
        if landing_value and _is_uri(str(landing_value)):
            landing_store = ObjectStore(S3Location.parse(str(landing_value), ENV_LANDING),
                                        store.credentials if store else _credentials())
            landing_value = None
        elif store is not None and not landing_value:
            landing_store = ObjectStore(store.location.child("landing"), store.credentials)
        landing_path = (
            Path(landing_value).expanduser().resolve() if landing_value
            else root_path / "_staging" / "landing" if landing_store is not None
            else root_path / "landing"
        )
        catalog_url = parse_catalog_url(os.environ.get(ENV_CATALOG))
        return cls(
            catalog_url=catalog_url,
            dbt_threads=_positive_int(ENV_DBT_MODEL_THREADS, "1"),
            root=root_path,
            landing=landing_path,
            memory_limit=_memory_limit(os.environ.get(ENV_MEMORY_LIMIT, "4GB")),
            threads=_positive_int(ENV_THREADS, "2"),
            block_bytes=_positive_int(ENV_BLOCK_BYTES, str(DEFAULT_BLOCK_BYTES)),
            dbt_log_level=os.environ.get(ENV_DBT_LOG_LEVEL, "info"),
            pause_at=os.environ.get(ENV_PAUSE_AT) or None,
            store=store,
            landing_store=landing_store,
        )

    # Where the data lives ---------------------------------------------------------------
    @property
    def is_remote(self) -> bool:
        """Whether the data lives in object storage (``LAKEHOUSE_ROOT=s3://...``)."""
        return self.store is not None

    @property
    def data_root(self) -> str:
        """The root of the data as DuckDB and users name it: a folder or ``s3://b/p``."""
        return self.store.uri() if self.store is not None else str(self.root)

    def data_uri(self, relative: str) -> str:
        """The full name (local path or ``s3://`` URI) of a data file below the root."""
        if self.store is not None:
            return self.store.uri(relative)
        return str(self.root / relative)

    def layer_data_uri(self, layer: str) -> str:
        """A layer's DuckLake data path as DuckDB takes it, ending in ``/``."""
        if self.store is not None:
            if layer not in LAYERS:
                raise ValueError(f"unknown layer {layer!r}; known: {', '.join(LAYERS)}")
            return self.store.uri(layer) + "/"
        return f"{self.layer_data_path(layer)}/"

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
        options = [f"data_path {sql_literal(self.layer_data_uri(layer))}",
                   "override_data_path true"]
        if read_only:
            options.insert(0, "read_only")
        if snapshot is not None:
            options.append(f"snapshot_version {int(snapshot)}")
        if self.catalog_url is not None:
            options.append(f"metadata_schema {sql_literal(layer)}")
        target = sql_literal(self.ducklake_target(layer))
        return f"attach {target} as {layer} ({', '.join(options)})"

    def ducklake_target(self, layer: str) -> str:
        """The DuckLake target of a layer (``ducklake:sqlite:...`` or ``ducklake:postgres:...``).

        With a PostgreSQL catalog it carries the password: never show or log it.
        """
        return _ducklake_target(self, layer)

    def metadata_schema(self, layer: str) -> str:
        """The schema of a layer's DuckLake metadata in its catalog database."""
        return _metadata_schema(self, layer)

    @property
    def shared_catalog(self) -> bool:
        """True when the catalogs, manifest, publication and lock live in PostgreSQL."""
        return self.catalog_url is not None

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
        local_data = () if self.store is not None else (self.bronze, self.quarantine)
        for path in (self.root, self.landing, *local_data, self.meta, self.staging):
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

# Shared catalog on PostgreSQL (LAKEHOUSE_CATALOG) ------------------------------------------
# Everything about LAKEHOUSE_CATALOG lives in this block: the URL's parsing, where a layer's
# DuckLake metadata lives, and dbt's thread count (ADR 0021).
ENV_CATALOG = "LAKEHOUSE_CATALOG"
#: dbt's model threads (default 1; more only with a PostgreSQL catalog, see ADR 0021).
ENV_DBT_MODEL_THREADS = "LAKEHOUSE_DBT_MODEL_THREADS"
#: The PostgreSQL schema of the manifest, the publication record and the lock's holder.
PG_STATE_SCHEMA = "lakehouse"


@dataclass(frozen=True)
class CatalogURL:
    """A parsed ``postgresql://user:password@host:port/database`` catalog URL.

    ``str()`` and ``repr()`` never show the password.
    """

    host: str
    port: int
    database: str
    user: str
    password: str | None = field(default=None, repr=False)

    def libpq(self, *, password: bool = True) -> str:
        """The libpq connection string (with the password unless told not: never log it).

        Without the password, libpq takes it from ``PGPASSWORD`` (how dbt gets it).
        """
        parts = {"host": self.host, "port": str(self.port), "dbname": self.database,
                 "user": self.user}
        if self.password and password:
            parts["password"] = self.password
        return " ".join(f"{key}={_libpq_value(value)}" for key, value in parts.items())

    def describe(self) -> str:
        """``database <db> on <host>:<port> as <user>``: safe to show and log."""
        return f"database {self.database!r} on {self.host}:{self.port} as {self.user!r}"

    def __str__(self) -> str:
        """The URL with its password replaced by ``***``."""
        secret = ":***" if self.password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{self.database}"


def _libpq_value(value: str) -> str:
    """A libpq keyword value, quoted when it needs to be."""
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_catalog_url(text: str | None) -> CatalogURL | None:
    """Parse ``LAKEHOUSE_CATALOG``: None (or empty) keeps the local SQLite catalogs.

    Raises:
        ConfigError: Not a ``postgresql://`` URL with a database name (one line, without
            the password).
    """
    from urllib.parse import unquote, urlsplit  # noqa: PLC0415 - only with a catalog URL

    if text is None or not text.strip():
        return None
    try:
        parts = urlsplit(text.strip())
        port = parts.port or 5432
    except ValueError as exc:
        raise ConfigError(f"{ENV_CATALOG}: not a valid URL ({exc}); expected "
                          "postgresql://user:password@host:5432/database") from None
    shown = f"{parts.scheme}://{parts.hostname or ''}:{port}{parts.path}"
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"{ENV_CATALOG}={shown}: only postgresql:// catalogs are "
                          "supported; unset it to keep the catalogs in local SQLite files")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ConfigError(f"{ENV_CATALOG}={shown}: name the database, as in "
                          "postgresql://user@host:5432/lakehouse")
    if parts.query:
        raise ConfigError(f"{ENV_CATALOG}={shown}: query parameters are not supported; "
                          "give user, password, host, port and database in the URL")
    return CatalogURL(host=parts.hostname or "127.0.0.1", port=port, database=database,
                      user=unquote(parts.username or "postgres"),
                      password=unquote(parts.password) if parts.password else None)


def catalog_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Secrets inside ``LAKEHOUSE_CATALOG`` (its password), for the logs' redaction."""
    value = (os.environ if environ is None else environ).get(ENV_CATALOG)
    try:
        url = parse_catalog_url(value)
    except ConfigError:
        return []
    return [url.password] if url is not None and url.password else []


def _ducklake_target(settings: Settings, layer: str) -> str:
    """The DuckLake ``ATTACH`` target of a layer: a SQLite file or the PostgreSQL database."""
    if settings.catalog_url is None:
        return "ducklake:sqlite:" + str(settings.catalog_path(layer))
    return "ducklake:postgres:" + settings.catalog_url.libpq()


def _metadata_schema(settings: Settings, layer: str) -> str:
    """The schema holding a layer's DuckLake metadata (``main`` of its SQLite file)."""
    return "main" if settings.catalog_url is None else layer
# End of the shared-catalog block ----------------------------------------------------------


def _is_uri(value: str) -> bool:
    """Whether a root or landing value names object storage rather than a folder."""
    return value.split("://", 1)[0].lower() in OBJECT_SCHEMES and "://" in value


def _credentials() -> S3Credentials:
    """The standard AWS variables; the region defaults to ``us-east-1``."""
    def get(name: str) -> str | None:
        return os.environ.get(name) or None

    return S3Credentials(
        key_id=get(ENV_AWS["key_id"]), secret=get(ENV_AWS["secret"]),
        session_token=get(ENV_AWS["session_token"]),
        region=get(ENV_AWS["region"]) or get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint_url=get(ENV_AWS["endpoint_url"]) or get("AWS_ENDPOINT_URL_S3"),
    )


def _default_state(location: S3Location) -> Path:
    """The local state folder of an ``s3://`` root when ``LAKEHOUSE_STATE`` is not set."""
    base = Path(os.environ.get("XDG_STATE_HOME") or "~/.local/state").expanduser()
    return (base / "lakehouse" / "s3" / location.bucket / location.prefix).resolve()


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
