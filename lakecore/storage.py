"""Object storage for the data of a lakehouse whose root is ``s3://bucket/prefix``.

With an S3 root, landing, Bronze, quarantine and the Silver/Gold DuckLake data paths are
objects; the bookkeeping (manifest, ledger, catalogs, publication record, lock) stays in a
local state folder (``docs/decisions/0020-object-storage-root.md``). This module is the
one door to the bucket: a pyarrow ``S3FileSystem`` for Python work (upload, list, delete,
read), and an in-memory DuckDB secret for DuckDB and dbt. Credentials and the endpoint come
from the standard AWS variables, which ``lakecore.settings`` reads; nothing here reads the
environment, writes a credential to a file or puts one in a message.

Every failure of the store (a wrong key, a missing bucket, an unreachable endpoint) becomes
one ``ObjectStoreError`` line naming the bucket and what failed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lakecore.errors import ConfigError

if TYPE_CHECKING:  # pyarrow.fs costs nothing at import, but duckdb is only for typing here
    import duckdb
    from pyarrow import fs as pafs

#: URI schemes the lakehouse can keep its data under (besides a local folder).
SUPPORTED_SCHEMES = ("s3",)
#: URI schemes recognised as object storage (refused with a clear line unless supported).
OBJECT_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss", "http", "https")
#: Name of the in-memory DuckDB secret the lakehouse creates (never ``PERSISTENT``).
SECRET_NAME = "lakehouse_s3"  # noqa: S105 - a name, not a credential


class ObjectStoreError(ConfigError):
    """The bucket cannot be used: wrong credentials, no such bucket, endpoint unreachable."""

    def __init__(self, bucket: str, action: str, cause: str) -> None:
        """Say which ``bucket`` failed, while doing ``action``, and why (``cause``)."""
        super().__init__(f"object storage s3://{bucket}: {action} failed: {cause}")
        self.bucket = bucket
        self.action = action
        self.cause = cause


@dataclass(frozen=True)
class S3Credentials:
    """How to reach the store: the standard AWS variables, resolved once by ``Settings``.

    The secret never appears in ``repr`` (nor in any message or log line).
    """

    key_id: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str = "us-east-1"
    #: ``AWS_ENDPOINT_URL`` as given (``http://127.0.0.1:9000``), or None for AWS itself.
    endpoint_url: str | None = None

    @property
    def endpoint_host(self) -> str | None:
        """``host:port`` of a custom endpoint (DuckDB's ``ENDPOINT``), None for AWS."""
        if not self.endpoint_url:
            return None
        parts = urlsplit(self.endpoint_url if "://" in self.endpoint_url
                         else f"https://{self.endpoint_url}")
        return parts.netloc

    @property
    def use_ssl(self) -> bool:
        """False only for a custom ``http://`` endpoint."""
        return not (self.endpoint_url or "").startswith("http://")


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``: where a lakehouse keeps its data objects."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, uri: str, variable: str) -> S3Location:
        """Parse and check an ``s3://bucket[/prefix]`` URI given in ``variable``.

        Raises:
            ConfigError: Another scheme, no bucket, or ``..`` in the prefix.
        """
        parts = urlsplit(uri)
        if parts.scheme not in SUPPORTED_SCHEMES:
            raise ConfigError(f"{variable}={uri}: {parts.scheme}:// roots are not supported; "
                              "use a local directory or s3://bucket/prefix")
        prefix = parts.path.strip("/")
        if not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"{variable}={uri}: expected s3://bucket/prefix")
        if any(p in ("", ".", "..") for p in prefix.split("/")) and prefix:
            raise ConfigError(f"{variable}={uri}: the prefix must not hold empty, '.' or "
                              "'..' parts")
        return cls(parts.netloc, prefix)

    @property
    def uri(self) -> str:
        """The location as a URI, without a trailing slash."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def fs_path(self) -> str:
        """The location as pyarrow's S3FileSystem names it (``bucket/prefix``)."""
        return f"{self.bucket}/{self.prefix}".rstrip("/")

    def child(self, relative: str) -> S3Location:
        """The location ``relative`` (POSIX, no leading slash) below this one."""
        return S3Location(self.bucket, "/".join(p for p in (self.prefix, relative.strip("/"))
                                                if p))


# pyarrow filesystem ----------------------------------------------------------------------
_FILESYSTEMS: dict[S3Credentials, pafs.S3FileSystem] = {}
_FS_LOCK = threading.Lock()


def filesystem(credentials: S3Credentials) -> pafs.S3FileSystem:
    """The pyarrow S3 filesystem for these credentials (one per process and credentials)."""
    from pyarrow import fs as pafs  # noqa: PLC0415 - only object-storage roots need it

    with _FS_LOCK:
        found = _FILESYSTEMS.get(credentials)
        if found is None:
            endpoint = credentials.endpoint_url
            scheme = "http" if endpoint and not credentials.use_ssl else "https"
            found = pafs.S3FileSystem(
                access_key=credentials.key_id, secret_key=credentials.secret,
                session_token=credentials.session_token, region=credentials.region,
                endpoint_override=credentials.endpoint_host, scheme=scheme,
                # a wrong key must fail in seconds, not after minutes of retries
                connect_timeout=5, request_timeout=30,
                retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3),
                allow_bucket_creation=False, allow_bucket_deletion=False)
            _FILESYSTEMS[credentials] = found
        return found


def _cause(exc: BaseException) -> str:
    """The useful part of a pyarrow/AWS error, on one line and free of credentials."""
    text = " ".join(str(exc).split())
    squashed = text.upper().replace("_", "").replace(" ", "")
    for marker, meaning in (
        ("INVALIDACCESSKEYID", "the access key id is not known (AWS_ACCESS_KEY_ID)"),
        ("SIGNATUREDOESNOTMATCH", "the secret key does not match (AWS_SECRET_ACCESS_KEY)"),
        ("ACCESSDENIED", "access denied to these credentials"),
        ("NOSUCHBUCKET", "the bucket does not exist"),
        ("NETWORKCONNECTION", "cannot reach the endpoint (AWS_ENDPOINT_URL)"),
        ("COULDN'TCONNECT", "cannot reach the endpoint (AWS_ENDPOINT_URL)"),
    ):
        if marker in squashed:
            return meaning
    return text[:300]


@dataclass(frozen=True)
class ObjectStore:
    """Objects below one ``S3Location``, named by POSIX paths relative to it."""

    location: S3Location
    credentials: S3Credentials

    @property
    def fs(self) -> pafs.S3FileSystem:
        """The pyarrow filesystem (paths ``bucket/prefix/...``)."""
        return filesystem(self.credentials)

    def fs_path(self, relative: str = "") -> str:
        """The pyarrow path of ``relative``."""
        return self.location.child(relative).fs_path

    def uri(self, relative: str = "") -> str:
        """The ``s3://`` URI of ``relative``."""
        return self.location.child(relative).uri

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn a failure of the store inside the block into one ``ObjectStoreError`` line."""
        try:
            yield
        except (OSError, ValueError) as exc:
            if isinstance(exc, FileNotFoundError) and "BUCKET" not in str(exc).upper():
                raise
            raise ObjectStoreError(self.location.bucket, action, _cause(exc)) from None

    def check(self) -> None:
        """Prove the bucket is reachable with these credentials (one LIST request).

        Raises:
            ObjectStoreError: Naming the bucket and what failed.
        """
        from pyarrow import fs as pafs  # noqa: PLC0415

        with self.errors("listing the bucket"):
            selector = pafs.FileSelector(self.location.bucket, recursive=False,
                                         allow_not_found=False)
            self.fs.get_file_info(selector)

    def upload(self, local: Path, relative: str) -> None:
        """Copy a finished local file to the object ``relative`` (one atomic PUT)."""
        with self.errors(f"writing {relative}"), local.open("rb") as source, \
                self.fs.open_output_stream(self.fs_path(relative)) as sink:
            while chunk := source.read(8 * 1024 * 1024):
                sink.write(chunk)

    def download(self, relative: str, local: Path) -> None:
        """Copy the object ``relative`` to the local file ``local``."""
        local.parent.mkdir(parents=True, exist_ok=True)
        with self.errors(f"reading {relative}"), \
                self.fs.open_input_stream(self.fs_path(relative)) as source, \
                local.open("wb") as sink:
            while chunk := source.read(8 * 1024 * 1024):
                sink.write(chunk)

    def listing(self, relative: str = "") -> dict[str, int]:
        """Every object below ``relative``: its path relative to the location, and its size."""
        return {path: size for path, (size, _) in self.stats(relative).items()}

    def stats(self, relative: str = "") -> dict[str, tuple[int, datetime | None]]:
        """Every object below ``relative``: its relative path, size and last-modified time.

        The time is the server's (S3 ``LastModified``, timezone-aware): any PUT of the key,
        even of the same bytes, moves it forward.
        """
        from pyarrow import fs as pafs  # noqa: PLC0415

        base = self.location.fs_path
        with self.errors(f"listing {relative or '/'}"):
            infos = self.fs.get_file_info(pafs.FileSelector(
                self.fs_path(relative), recursive=True, allow_not_found=True))
        return {info.path[len(base):].lstrip("/"): (
                    int(info.size or 0),
                    info.mtime.replace(tzinfo=info.mtime.tzinfo or UTC) if info.mtime else None)
                for info in infos if info.type == pafs.FileType.File}

    def size(self, relative: str) -> int | None:
        """The size of the object ``relative``, or None when there is none."""
        from pyarrow import fs as pafs  # noqa: PLC0415

        with self.errors(f"reading {relative}"):
            info = self.fs.get_file_info(self.fs_path(relative))
        return int(info.size or 0) if info.type == pafs.FileType.File else None

    def read_range(self, relative: str, offset: int, length: int) -> bytes:
        """``length`` bytes of the object ``relative`` from ``offset``."""
        with self.errors(f"reading {relative}"), \
                self.fs.open_input_file(self.fs_path(relative)) as handle:
            return bytes(handle.read_at(length, offset))

    def open_input_stream(self, relative: str) -> pafs.NativeFile:
        """A sequential reader of the object ``relative``."""
        with self.errors(f"reading {relative}"):
            return self.fs.open_input_stream(self.fs_path(relative))

    def delete(self, relative: str) -> None:
        """Delete the object ``relative`` (no error when it is already gone)."""
        with self.errors(f"deleting {relative}"), suppress(FileNotFoundError):
            self.fs.delete_file(self.fs_path(relative))


# DuckDB ------------------------------------------------------------------------------------
def secret_sql(credentials: S3Credentials, scope: str, name: str = SECRET_NAME) -> str:
    """``CREATE TEMPORARY SECRET`` for DuckDB's httpfs, scoped to ``scope`` (``s3://bucket``).

    Temporary: the secret lives in the connection's memory only, never in a file.
    """
    def lit(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    options = ["type s3", "provider config", f"region {lit(credentials.region)}",
               f"scope {lit(scope)}"]
    if credentials.key_id is not None:
        options.append(f"key_id {lit(credentials.key_id)}")
    if credentials.secret is not None:
        options.append(f"secret {lit(credentials.secret)}")
    if credentials.session_token:
        options.append(f"session_token {lit(credentials.session_token)}")
    if credentials.endpoint_host:
        options += [f"endpoint {lit(credentials.endpoint_host)}", "url_style 'path'",
                    f"use_ssl {'true' if credentials.use_ssl else 'false'}"]
    return f"create or replace temporary secret {name} ({', '.join(options)})"


def create_secret(con: duckdb.DuckDBPyConnection, store: ObjectStore,
                  name: str = SECRET_NAME) -> None:
    """Give ``con`` (httpfs loaded) an in-memory secret for the store's bucket."""
    con.execute(secret_sql(store.credentials, f"s3://{store.location.bucket}", name))
