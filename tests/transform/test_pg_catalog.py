"""The shared catalog on PostgreSQL (``LAKEHOUSE_CATALOG``, ADR 0021), on a real cluster.

One throwaway cluster per session (``tests.helpers.postgres``), one database per test. The
scenario test runs the kitchen-sink landing zone through two concurrent ``lakehouse run``
processes with different roots (two machines sharing one catalog): one builds, the other
names it and exits 3; then eight metric-layer readers read while a second build
publishes, and Gold equals the SQLite-catalog build table by table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ingestion.manifest import BatchRecord, Manifest
from lakecore import logs, pgcatalog
from lakecore.errors import ConfigError, PipelineLockedError
from lakecore.settings import Settings, parse_catalog_url
from tests.helpers import KITCHEN_SINK
from tests.helpers.lakehouse import GOLD_TABLES, read_gold
from tests.helpers.postgres import PASSWORD, PASSWORD_ROLE, Cluster, free_port

#: One worker runs this module under `pytest -n 2 --dist loadgroup`: one cluster.
pytestmark = pytest.mark.xdist_group("postgres")

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
#: The kitchen sink's last export day: landed only for the second build.
LAST_DAY = "2025-03-17"


@pytest.fixture
def catalog_url(pg_cluster: Cluster) -> str:
    """A fresh database of the session's cluster, as a URL with a password."""
    database = pg_cluster.create_database(owner=PASSWORD_ROLE)
    return pg_cluster.url(database, user=PASSWORD_ROLE, password=PASSWORD)


@pytest.fixture
def pg_settings(catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                ) -> Settings:
    """An empty lakehouse root whose catalog is a fresh PostgreSQL database."""
    monkeypatch.setenv("LAKEHOUSE_CATALOG", catalog_url)
    return Settings.from_env(root=tmp_path / "lakehouse")


def _cli(args: list[str], root: Path, catalog: str, extra_env: dict[str, str] | None = None
         ) -> subprocess.Popen[str]:
    env = {**os.environ, "LAKEHOUSE_ROOT": str(root), "LAKEHOUSE_CATALOG": catalog,
           "LAKEHOUSE_LANDING": str(root / "landing"), **(extra_env or {})}
    return subprocess.Popen([LAKEHOUSE, "--quiet", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# The URL -------------------------------------------------------------------------------
def test_catalog_url_is_parsed_and_never_shows_its_password() -> None:
    url = parse_catalog_url("postgresql://ana:p%40ss%20word@db.example:6543/lake")
    assert url is not None
    assert (url.host, url.port, url.database, url.user, url.password) == (
        "db.example", 6543, "lake", "ana", "p@ss word")
    assert str(url) == "postgresql://ana:***@db.example:6543/lake"
    assert "p@ss" not in repr(url)
    assert url.libpq() == "host=db.example port=6543 dbname=lake user=ana password='p@ss word'"
    assert "password" not in url.libpq(password=False)
    assert parse_catalog_url("") is None
    for bad, words in (("mysql://h/db", "only postgresql://"),
                       ("postgresql://u:pw1234@h:5432/", "name the database"),
                       ("postgresql://u:pw1234@h/db?sslmode=require", "query parameters")):
        with pytest.raises(ConfigError, match=words) as raised:
            parse_catalog_url(bad)
        assert "pw1234" not in str(raised.value)
    secrets = logs.secret_values({"LAKEHOUSE_CATALOG": "postgresql://u:hunter22@h/db"})
    assert "hunter22" in secrets
    assert logs.redact("attach host=h password=hunter22", secrets) == \
        "attach host=h password=***"


def test_settings_of_a_postgresql_catalog(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.delenv("LAKEHOUSE_CATALOG", raising=False)
    monkeypatch.delenv("LAKEHOUSE_DBT_MODEL_THREADS", raising=False)
    local = Settings.from_env(root=tmp_path)
    assert (local.dbt_threads, local.shared_catalog) == (1, False)
    assert local.ducklake_attach("gold").startswith("attach 'ducklake:sqlite:")
    monkeypatch.setenv("LAKEHOUSE_CATALOG", "postgresql://u@127.0.0.1:5/db")
    shared = Settings.from_env(root=tmp_path)
    assert shared.dbt_threads == 1
    assert "ducklake:postgres:host=127.0.0.1 port=5 dbname=db user=u" in \
        shared.ducklake_attach("gold")
    assert "metadata_schema 'gold'" in shared.ducklake_attach("gold")
    monkeypatch.setenv("LAKEHOUSE_DBT_MODEL_THREADS", "2")
    assert Settings.from_env(root=tmp_path).dbt_threads == 2


# Connection failures ---------------------------------------------------------------------
def test_connection_failures_are_one_line_naming_the_server(
        pg_cluster: Cluster, catalog_url: str, tmp_path: Path) -> None:
    database = catalog_url.rsplit("/", 1)[1]
    cases = {
        "server down": (pg_cluster.url("lake", password="pw-down-1", user="ana").replace(  # noqa: S106
            f":{pg_cluster.port}/", f":{free_port()}/"), "Connection refused"),
        "wrong password": (pg_cluster.url(database, user=PASSWORD_ROLE,
                                          password="wrong-pw-2"),  # noqa: S106
                           "password authentication"),
        "missing database": (pg_cluster.url("no_such_db", user=PASSWORD_ROLE,
                                            password=PASSWORD), "does not exist"),
    }
    for case, (url, reason) in cases.items():
        proc = _cli(["status"], tmp_path / case.replace(" ", "_"), url)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, (case, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (case, err)
        parsed = parse_catalog_url(url)
        assert parsed is not None
        assert f"{parsed.host}:{parsed.port}" in lines[0], err
        assert repr(parsed.database) in lines[0], err
        assert reason in lines[0], err
        assert parsed.password is not None
        assert parsed.password not in err


# The manifest ------------------------------------------------------------------------------
def _record(batch_id: str, export_date: str, landed: int) -> BatchRecord:
    return BatchRecord(
        batch_id=batch_id, source="billing", entity="invoices", export_date=export_date,
        landing_file=f"billing/invoices/{export_date}/part-0001.jsonl",
        file_bytes=5_000_000_000, input_rows=landed + 1, landed_rows=landed,
        quarantined_rows=1, blank_lines=0,
        bronze_file=f"bronze/billing/invoices/ingestion_date={export_date}/{batch_id}.parquet",
        bronze_sha256="ab", quarantine_file=None, quarantine_sha256=None, extra_columns="[]",
        run_id="r1", ingested_at="2025-03-15T00:00:00+00:00")


class _Change:
    def __init__(self, change: str, column: str, detail: str) -> None:
        self.change, self.column, self.detail = change, column, detail


def test_one_manifest_api_on_postgres(pg_settings: Settings) -> None:
    assert not Manifest.exists(pg_settings)
    manifest = Manifest.open(pg_settings)
    assert Manifest.exists(pg_settings)
    first, second = _record("b1", "2025-03-14", 3), _record("b2", "2025-03-15", 4)
    manifest.commit([second, first])
    with pytest.raises(psycopg.errors.UniqueViolation):
        manifest.commit([_record("b3", "2025-03-16", 1), first])  # all or none
    assert manifest.committed("b3") is None
    assert manifest.committed("b1") == first  # 5 GB in a 64-bit column
    assert [b.batch_id for b in manifest.batches()] == ["b1", "b2"]
    assert manifest.bronze_files("billing", "invoices") == [first.bronze_file,
                                                            second.bronze_file]
    assert manifest.as_of_date() == "2025-03-15"
    summary = manifest.entity_summary()
    assert [(s["batches"], int(str(s["landed_rows"]))) for s in summary] == [(2, 7)]
    manifest.reject(batch_id="x", source=None, entity=None, export_date=None,
                    landing_file="junk.csv", reason="first", run_id="r1", at="t1")
    manifest.reject(batch_id="x", source=None, entity=None, export_date=None,
                    landing_file="junk.csv", reason="second", run_id="r2", at="t2")
    assert [(r["batch_id"], r["reason"]) for r in manifest.rejected()] == [("x", "second")]
    manifest.record_schema(second, ["id", "amount"], [_Change("new", "amount", "new")], "t")
    manifest.record_schema(second, ["id", "amount"], [_Change("new", "amount", "again")], "t")
    assert manifest.batch_columns("b2") == (("id", "amount"), None)
    assert [c["detail"] for c in manifest.schema_changes()] == ["again"]
    columns, rows = manifest.table_dump("batches")
    assert columns[:2] == [("batch_id", "text"), ("source", "text")]
    assert ("file_bytes", "integer") in columns
    assert sorted(r[0] for r in rows) == ["b1", "b2"]
    reader = Manifest.open(pg_settings, read_only=True)
    assert reader.referenced_files() == {first.bronze_file, second.bronze_file}
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        reader.forget("b1")
    reader.close()
    assert manifest.move_aside("X1").endswith("<table>_damaged_x1")
    assert manifest.batches() == []
    with pgcatalog.connect(pg_settings) as con:
        kept = con.execute("select count(*) from batches_damaged_x1").fetchone()
    assert kept == (2,)
    manifest.close()
    assert not pg_settings.manifest_path.exists()
    assert not pg_settings.meta.exists()


# Two machines, one catalog -------------------------------------------------------------------
def _land(root: Path, *, last_day: bool) -> None:
    """The kitchen sink's landing zone, without or with its last export day."""
    landing = root / "landing"
    shutil.copytree(KITCHEN_SINK, landing, dirs_exist_ok=True,
                    ignore=None if last_day else shutil.ignore_patterns(LAST_DAY))


def _without_ingestion_time(gold: dict[str, list[tuple[Any, ...]]]
                            ) -> dict[str, list[tuple[Any, ...]]]:
    """Gold rows without ``fct_account_daily_usage.last_ingested_at`` (its last column)."""
    return {table: [row[:-1] for row in rows] if table == "fct_account_daily_usage" else rows
            for table, rows in gold.items()}


def _holder_pid(url: str) -> int | None:
    parsed = parse_catalog_url(url)
    assert parsed is not None
    try:
        with pgcatalog.connect(parsed) as con:
            if con.execute("select to_regclass('lock_holder')").fetchone() == (None,):
                return None
            row = con.execute("select pid from lock_holder").fetchone()
    except pgcatalog.CatalogUnavailableError:
        return None
    return None if row is None else int(row[0])


def test_two_machines_share_one_catalog(
        catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        kitchen_sink_lake: Settings) -> None:
    # Two roots stand for two machines: nothing local is shared, only the catalog.
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    _land(machine_a, last_day=False)
    _land(machine_b, last_day=False)
    first = _cli(["run"], machine_a, catalog_url)
    deadline = time.monotonic() + 120
    while _holder_pid(catalog_url) != first.pid:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.2)
    second = _cli(["run"], machine_b, catalog_url)
    _out, err = second.communicate(timeout=120)
    assert second.returncode == 3, err
    assert err.strip().splitlines() == [err.strip()]
    assert f"another pipeline run is in progress (pid {first.pid} on " in err
    assert "running 'run' since" in err
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert "published Gold as of 2025-03-16" in out
    assert _holder_pid(catalog_url) is None  # released and cleared

    # Eight readers through the metric layer while machine A builds the last day.
    from analytics.metrics import fetch_dashboard
    from saaslake.pipeline import run

    monkeypatch.setenv("LAKEHOUSE_CATALOG", catalog_url)
    settings = Settings.from_env(root=machine_a)
    before = fetch_dashboard(settings).kpis
    seen: list[Any] = []
    errors: list[BaseException] = []
    building = threading.Event()
    building.set()

    def read() -> None:
        try:
            while building.is_set():
                seen.append(fetch_dashboard(settings).kpis)
        except BaseException as exc:  # noqa: BLE001 - any failure of a reader fails the test
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(8)]
    for reader in readers:
        reader.start()
    try:
        _land(machine_a, last_day=True)
        result = run(settings, tests=False)
        time.sleep(1.0)  # let every reader see the new publication too
    finally:
        building.clear()
        for reader in readers:
            reader.join(timeout=120)
    after = fetch_dashboard(settings).kpis
    assert not errors, errors[0]
    assert result.build.publication is not None
    assert result.build.publication.as_of_date == LAST_DAY
    assert not before.equals(after)
    assert len(seen) >= 16
    assert all(kpis.equals(before) or kpis.equals(after) for kpis in seen)
    assert any(kpis.equals(after) for kpis in seen)

    # Gold on PostgreSQL equals Gold of the SQLite-catalog build, table by table.
    # (but for when each lakehouse ingested its files: last_ingested_at of the usage facts)
    pg_gold, sqlite_gold = (_without_ingestion_time(read_gold(lake, GOLD_TABLES))
                            for lake in (settings, kitchen_sink_lake))
    assert sorted(pg_gold) == sorted(sqlite_gold) == sorted(GOLD_TABLES)
    for table in GOLD_TABLES:
        assert pg_gold[table] == sqlite_gold[table], table
    assert all(pg_gold[t] for t in ("saas_kpis_monthly", "fct_subscriptions", "dim_accounts"))
    # Nothing that must be shared stayed local.
    for local in (settings.manifest_path, settings.published_path, settings.lock_path,
                  settings.catalog_path("silver"), settings.catalog_path("gold")):
        assert not local.exists(), local
    assert len(pgcatalog.read_publications(settings)) == 2

    # `lakehouse rebuild --manifest`: the tables renamed, the manifest re-created from Bronze.
    from ingestion.integrity import recover_manifest

    reader = Manifest.open(settings, read_only=True)
    files_before = reader.referenced_files()
    reader.close()
    recovered = recover_manifest(settings)
    assert recovered
    reader = Manifest.open(settings, read_only=True)
    assert reader.referenced_files() == files_before
    reader.close()

    # `lakehouse rebuild`'s first step: the schemas renamed, the publications forgotten.
    from transform.catalogs import move_warehouse_aside
    from transform.warehouse import WarehouseNotBuiltError, current_publication

    lines: list[str] = []
    move_warehouse_aside(settings, lines.append)
    assert "renamed the catalog schemas to <layer>_corrupt_" in lines[0]
    with pytest.raises(WarehouseNotBuiltError):
        current_publication(settings)
    with pgcatalog.connect(settings) as con:
        schemas = {name for (name,) in con.execute(
            "select nspname from pg_namespace where nspname like %s", ["%_corrupt_%"])}
    assert {s.split("_corrupt_")[0] for s in schemas} == {"silver", "gold"}


def test_a_run_that_fails_clears_its_holder_row(pg_settings: Settings,
                                                catalog_url: str) -> None:
    from lakecore.lock import pipeline_lock

    def failing_run() -> None:
        with pipeline_lock(pg_settings, "build"):
            assert _holder_pid(catalog_url) == os.getpid()
            raise RuntimeError("the run broke")

    with pytest.raises(RuntimeError, match="the run broke"):
        failing_run()
    assert _holder_pid(catalog_url) is None  # a later loser never names a finished run


def test_a_killed_run_releases_the_lock_and_commits_nothing(
        catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "machine"
    _land(root, last_day=False)
    proc = _cli(["ingest"], root, catalog_url, {"LAKEHOUSE_PAUSE_AT": "before_commit"})
    marker = root / "_meta" / "paused-at-before_commit"
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the ingest never reached its pause point"
        time.sleep(0.1)
    assert _holder_pid(catalog_url) == proc.pid
    proc.kill()  # SIGKILL: no cleanup of any kind
    proc.communicate(timeout=30)
    monkeypatch.setenv("LAKEHOUSE_CATALOG", catalog_url)
    settings = Settings.from_env(root=root)
    from lakecore.lock import pipeline_lock

    deadline = time.monotonic() + 10
    while True:  # the server notices the closed connection within moments
        try:
            with pipeline_lock(settings, "check"):
                assert _holder_pid(catalog_url) == os.getpid()
            break
        except PipelineLockedError:
            assert time.monotonic() < deadline, "the killed run's lock was never released"
            time.sleep(0.1)
    assert Manifest.open(settings, read_only=True).batches() == []
