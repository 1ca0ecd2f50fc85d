"""Beyond one machine: the data in a bucket and the catalog in PostgreSQL, together.

ADR 0020 keeps an ``s3://`` root's bookkeeping in a local state folder, which makes it a
one-machine lakehouse; ADR 0021 moves what several machines must share (both DuckLake
catalogs, the Bronze manifest, the publication record and the lock) into PostgreSQL. With
both set, two machines are two state folders pointed at one bucket prefix and one catalog:
a real moto server and a real throwaway PostgreSQL cluster here.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from ingestion.loader import ingest
from lakecore.settings import Settings
from saaslake.cli import main
from tests.helpers.lakehouse import GOLD_TABLES, read_gold
from tests.helpers.postgres import Cluster
from tests.storage.conftest import s3_settings, upload_kitchen_sink

#: The S3 group's worker: one moto server for the session.
pytestmark = [pytest.mark.xdist_group("s3"), pytest.mark.slow]


def _without_ingestion_time(gold: dict[str, list[tuple[Any, ...]]]
                            ) -> dict[str, list[tuple[Any, ...]]]:
    """Gold rows without ``fct_account_daily_usage.last_ingested_at`` (its last column)."""
    return {table: [row[:-1] for row in rows] if table == "fct_account_daily_usage" else rows
            for table, rows in gold.items()}


def test_two_machines_share_one_bucket_and_one_catalog(
        s3_env: dict[str, str], pg_cluster: Cluster, kitchen_sink_lake: Settings,
        tmp_path: Path, *, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Given the kitchen-sink landing zone in a bucket and a PostgreSQL catalog, when machine A
    (its own state folder) runs the pipeline and machine B (another state folder) then ingests
    and queries, then B loads no batch again, both read A's publication, Gold equals the local
    SQLite-catalog build table by table, and nothing shared is kept in either state folder."""
    from saaslake.pipeline import run

    # Given one bucket prefix and one catalog database, and two state folders
    prefix = f"shared-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LAKEHOUSE_CATALOG", pg_cluster.url(pg_cluster.create_database()))
    machine_a = s3_settings(monkeypatch, s3_env, tmp_path / "machine-a", prefix=prefix)
    landing_files = upload_kitchen_sink(machine_a)
    # When machine A runs the whole pipeline
    result = run(machine_a, tests=False)
    assert result.build.publication is not None
    assert result.build.publication.as_of_date == "2025-03-17"
    # And machine B, with an empty state folder of its own, ingests the same landing zone
    machine_b = s3_settings(monkeypatch, s3_env, tmp_path / "machine-b", prefix=prefix)
    assert machine_b.data_root == machine_a.data_root
    assert machine_b.root != machine_a.root
    report = ingest(machine_b)
    # Then every landing file is already a committed batch: nothing lands twice
    assert report.count("duplicate") == landing_files
    assert report.landed_rows == 0
    # And both machines read the same published Gold, equal to the local SQLite-catalog build
    local = _without_ingestion_time(read_gold(kitchen_sink_lake))
    for machine in (machine_a, machine_b):
        shared = _without_ingestion_time(read_gold(machine))
        assert sorted(shared) == sorted(local) == sorted(GOLD_TABLES)
        for table in GOLD_TABLES:
            assert shared[table] == local[table], table
    assert sum(len(rows) for rows in local.values()) > 100
    # And machine B's `lakehouse sql` answers from the shared publication
    monkeypatch.setenv("LAKEHOUSE_ROOT", machine_b.data_root)
    capsys.readouterr()
    assert main(["sql", "--format", "csv", "select count(*) as n from "
                 "gold.fct_account_mrr_monthly"]) == 0
    rows = len(local["fct_account_mrr_monthly"])
    assert capsys.readouterr().out.splitlines() == ["n", str(rows)]
    # And neither state folder holds what machines must share
    for machine in (machine_a, machine_b):
        for path in (machine.manifest_path, machine.published_path, machine.lock_path,
                     machine.catalog_path("silver"), machine.catalog_path("gold")):
            assert not path.exists(), path
    # And the data is in the bucket, not in either state folder
    assert machine_a.store is not None
    objects = machine_a.store.listing()
    assert {name.split("/")[0] for name in objects} >= {"landing", "bronze", "silver", "gold"}
    for machine in (machine_a, machine_b):
        local_data = [p for p in machine.root.rglob("*.parquet")
                      if not p.relative_to(machine.root).as_posix().startswith("_meta/schemas/")]
        assert local_data == []
