"""One pipeline run at a time (RELIABILITY protocol step 3).

The lock is an advisory ``flock`` on ``_meta/pipeline.lock``. The kernel releases it when
the holder exits for any reason (a SIGKILL included), so a crash never leaves a stale
lock. The file's content names the holder, so a second run can say who is in the way.

With a shared PostgreSQL catalog (``LAKEHOUSE_CATALOG``) the lock is a PostgreSQL advisory
lock instead (``lakecore.pgcatalog.advisory_lock``), so runs on different machines are
serialised by the database; the loser names the holder the same way.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from lakecore.errors import PipelineLockedError
from lakecore.settings import Settings


def _describe(holder: dict[str, object]) -> str:
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} running "
        f"{holder.get('command')!r} since {holder.get('started_at')}"
    )


@contextmanager
def pipeline_lock(settings: Settings, command: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the pipeline lock for the duration of the block.

    Args:
        settings: Where the lakehouse lives.
        command: What this run is doing, shown to anyone who finds the lock taken.
        wait_seconds: How long to keep trying before giving up (0: fail at once).

    Raises:
        PipelineLockedError: Another live process holds the lock.
    """
    if settings.catalog_url is not None:
        from lakecore.pgcatalog import advisory_lock  # noqa: PLC0415 - optional backend

        with advisory_lock(settings, command):
            yield
        return
    settings.meta.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PipelineLockedError(read_holder(settings)) from None
                time.sleep(0.1)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "argv": " ".join(sys.argv[:4]),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def read_holder(settings: Settings) -> str:
    """Describe the current holder from the lock file (best effort)."""
    try:
        holder = json.loads(settings.lock_path.read_text() or "{}")
    except (OSError, ValueError):
        return "holder unknown"
    return _describe(holder) if holder else "holder unknown"
