"""A throwaway PostgreSQL cluster for the shared-catalog tests (tests/transform/test_pg_catalog.py).

``initdb`` into a temporary folder and ``postgres`` on a free port of 127.0.0.1, started
with ``pg_ctl`` and stopped by the postmaster's PID. As root (initdb refuses root) the
cluster runs as the ``postgres`` OS user through ``runuser``. Loopback connections are
trusted, except for the role ``PASSWORD_ROLE``, which must give its password (SCRAM), so
the tests can cover a wrong password and a catalog URL that carries one.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

#: A role that must log in with a password (the others are trusted on loopback).
PASSWORD_ROLE = "lakehouse_pw"  # noqa: S105 - a role name, not a secret
PASSWORD = "s3cret-Pa55word"  # noqa: S105 - a throwaway test cluster's password


def pg_bin(name: str) -> str:
    """The path of a PostgreSQL server binary: /usr/lib/postgresql/*/bin, then PATH."""
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return candidate
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found under /usr/lib/postgresql/*/bin or on PATH: "
                           "`make setup` installs Debian's postgresql")
    return found


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """A running throwaway cluster."""

    directory: Path
    port: int
    pid: int

    def url(self, database: str, *, user: str = "postgres", password: str | None = None
            ) -> str:
        """A ``postgresql://`` URL of one of its databases."""
        secret = f":{password}" if password else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, owner: str = "postgres") -> str:
        """A new empty database (one per test); returns its name."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as con:
            con.execute(f'create database {name} owner "{owner}"')
        return name

    def stop(self) -> None:
        """Stop the postmaster by its PID (fast shutdown) and remove the folder."""
        try:
            os.kill(self.pid, signal.SIGINT)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        except ProcessLookupError:
            pass
        shutil.rmtree(self.directory, ignore_errors=True)


def _as_owner(argv: list[str]) -> list[str]:
    """Run as the ``postgres`` OS user when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def start_cluster() -> Cluster:
    """initdb + pg_ctl start on a free port; the caller stops it (``Cluster.stop``)."""
    directory = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    data = directory / "data"
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    subprocess.run(_as_owner([pg_bin("initdb"), "-D", str(data), "-U", "postgres",
                              "-A", "trust", "--no-sync", "-E", "UTF8"]),
                   check=True, capture_output=True)
    hba = data / "pg_hba.conf"
    rules = (f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
             "host all all 127.0.0.1/32 trust\n"
             "local all all trust\n")
    hba.write_text(rules)
    port = free_port()
    options = (f"-p {port} -h 127.0.0.1 -k {directory} -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    subprocess.run(_as_owner([pg_bin("pg_ctl"), "-D", str(data), "-o", options,
                              "-l", str(directory / "server.log"), "-w", "start"]),
                   check=True, capture_output=True)
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    cluster = Cluster(directory, port, pid)
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                         autocommit=True) as con:
        con.execute(f"create role {PASSWORD_ROLE} login createdb password '{PASSWORD}'")
    return cluster
