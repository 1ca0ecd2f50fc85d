"""One exception hierarchy for the whole lakehouse.

Every mistake a user can make (a bad path, a locked pipeline, a rejected file, bad SQL)
becomes a ``LakehouseError`` whose message is complete on its own: the CLI prints it on
one line and exits non-zero, notebooks show it as text. Anything that is not a
``LakehouseError`` is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
from pathlib import Path


class LakehouseError(Exception):
    """Root of every error the lakehouse raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        """Keep ``message``, complete on its own, as the error's text."""
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        """The message alone, the way the CLI and notebooks show it."""
        return self.message


class UserInputError(LakehouseError, ValueError):
    """An argument, option or environment variable the user gave is not usable."""

    exit_code = 2


class ConfigError(UserInputError):
    """The configuration (paths, environment variables) is inconsistent."""


class HostilePathError(UserInputError):
    """A path points outside the area it must stay in (``../``, absolute, symlink out)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        """Refuse ``path`` (as given) for ``reason``."""
        super().__init__(f"refused path {str(path)!r}: {reason}")
        self.path = str(path)
        self.reason = reason


class FileRejectedError(LakehouseError):
    """A landing file cannot be loaded at all; nothing of it lands."""

    def __init__(self, path: str, reason: str) -> None:
        """Reject the landing file at ``path`` for ``reason``."""
        super().__init__(f"file {path}: rejected: {reason}")
        self.path = path
        self.reason = reason


class PipelineLockedError(LakehouseError):
    """Another pipeline run holds the lakehouse lock."""

    exit_code = 3

    def __init__(self, holder: str) -> None:
        """Name the run that holds the lock (``holder``) and tell the user to retry."""
        super().__init__(
            f"another pipeline run is in progress ({holder}); wait for it to finish and retry"
        )
        self.holder = holder


class StorageError(LakehouseError):
    """Writing to the lakehouse failed (for example a full disk); nothing partial is kept."""

    def __init__(self, what: str, path: str | Path, cause: str) -> None:
        """Say ``what`` could not be written to ``path`` and why (``cause``)."""
        super().__init__(f"{what}: could not write {path}: {cause}; nothing of it was kept")
        self.what = what
        self.path = str(path)
        self.cause = cause


def is_disk_full(exc: BaseException) -> bool:
    """Whether an OS, DuckDB or dbt error means the disk (or the quota) is full."""
    return ((isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))
            or "No space left" in str(exc) or "Disk quota exceeded" in str(exc))


class CorruptFileError(LakehouseError):
    """A file the lakehouse keeps (manifest, catalog, publication record) cannot be read."""

    def __init__(self, what: str, path: str | Path, cause: str, recovery: str) -> None:
        """Name the damaged file (``what`` at ``path``), the ``cause`` and the ``recovery``."""
        super().__init__(f"{what} {path} is damaged ({cause}); {recovery}")
        self.path = str(path)


class EngineUnavailableError(UserInputError):
    """An optional engine was asked for but cannot start here (extra or Java missing)."""


class QueryError(UserInputError):
    """An ad-hoc query failed (syntax, unknown table, or an attempt to write)."""


class BuildError(LakehouseError):
    """The dbt build failed: a model errored or a data test found bad rows."""
