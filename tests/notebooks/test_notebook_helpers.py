"""The library calls the notebooks show: Bronze layout, dbt artifacts, notebook helpers.

``ingestion.bronze_layout`` (01_ingest), ``transform.artifacts`` (02_transform) and
``saaslake.notebook`` (progress log of 00-02, dashboard labels of 03), against a small
ingested lakehouse, the session's built lakehouse and hand-written dbt artifacts.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import marimo as mo
import pyarrow.parquet as pq
import pytest

from analytics import metrics
from ingestion.bronze_layout import PartitionInfo, partition_layout
from ingestion.loader import ingest
from ingestion.manifest import Manifest
from lakecore.settings import Settings
from saaslake import notebook
from transform import artifacts

KITCHEN_SINK = Path(__file__).resolve().parents[1] / "fixtures" / "metrics" / "kitchen_sink" \
    / "landing"

#: (source, entity, ingestion_date) -> (files, rows) of the kitchen-sink landing zone once
#: ingested: one Bronze file per landing file, one row per data line (none quarantined).
KITCHEN_SINK_LAYOUT = {
    ("app", "accounts", "2025-03-14"): (1, 10),
    ("app", "accounts", "2025-03-16"): (1, 1),
    ("app", "events", "2025-03-14"): (1, 3),
    ("app", "users", "2025-03-14"): (1, 3),
    ("billing", "fx_rates", "2025-03-14"): (1, 34),
    ("billing", "fx_rates", "2025-03-15"): (1, 3),
    ("billing", "fx_rates", "2025-03-16"): (1, 2),
    ("billing", "fx_rates", "2025-03-17"): (1, 2),
    ("billing", "invoices", "2025-03-14"): (1, 3),
    ("billing", "plans", "2025-03-14"): (1, 9),
    ("billing", "subscriptions", "2025-03-14"): (1, 39),
    ("billing", "subscriptions", "2025-03-15"): (1, 1),
    ("billing", "subscriptions", "2025-03-16"): (1, 2),
    ("billing", "subscriptions", "2025-03-17"): (2, 2),
}


def parquet_rows(settings: Settings, part: PartitionInfo) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows
               for f in (settings.root / part.folder).glob("*.parquet"))


# Bronze layout ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kitchen_sink(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The hand-made kitchen-sink landing zone, ingested into Bronze (no dbt build)."""
    settings = Settings.from_env(root=tmp_path_factory.mktemp("layout") / "lakehouse")
    shutil.copytree(KITCHEN_SINK, settings.landing)
    report = ingest(settings)
    assert report.summary().startswith("ingest: 15 new batch(es), 114 rows landed, "
                                       "0 quarantined")
    return settings


def test_partition_layout_lists_every_partition_with_its_files_and_rows(
        kitchen_sink: Settings) -> None:
    # Given the kitchen-sink landing zone ingested into Bronze
    # When the layout is listed
    layout = partition_layout(kitchen_sink)
    # Then there is one entry per source, entity and export date, sorted by folder,
    # each with the files the loader wrote and the rows in them
    assert {(p.source, p.entity, p.ingestion_date): (p.files, parquet_rows(kitchen_sink, p))
            for p in layout} == KITCHEN_SINK_LAYOUT
    assert [p.folder for p in layout] == sorted(p.folder for p in layout)
    assert layout[0] == PartitionInfo(
        source="app", entity="accounts", ingestion_date="2025-03-14",
        folder="bronze/app/accounts/ingestion_date=2025-03-14", files=1,
        bytes=next((kitchen_sink.bronze / "app/accounts/ingestion_date=2025-03-14")
                   .glob("*.parquet")).stat().st_size)
    # And the bytes are the files' sizes on disk
    for part in layout:
        files = list((kitchen_sink.root / part.folder).glob("*.parquet"))
        assert part.bytes == sum(f.stat().st_size for f in files) > 0


def test_partition_layout_row_is_what_the_notebook_table_shows(kitchen_sink: Settings
                                                               ) -> None:
    part = partition_layout(kitchen_sink)[-1]
    assert part.as_row() == {"folder": "bronze/billing/subscriptions/ingestion_date=2025-03-17",
                             "files": 2, "bytes": part.bytes}


def test_partition_layout_of_a_lakehouse_without_bronze_is_empty(tmp_path: Path) -> None:
    assert partition_layout(Settings.from_env(root=tmp_path / "nothing")) == []


def test_partition_layout_counts_only_parquet_files_in_partition_folders(tmp_path: Path
                                                                         ) -> None:
    # Given a Bronze tree with a partition of two Parquet files and a stray text file,
    # an empty partition, and a folder that is not a partition
    settings = Settings.from_env(root=tmp_path / "lake")
    full = settings.bronze / "billing" / "plans" / "ingestion_date=2025-01-02"
    full.mkdir(parents=True)
    (full / "a.parquet").write_bytes(b"x" * 10)
    (full / "b.parquet").write_bytes(b"y" * 32)
    (full / "notes.txt").write_bytes(b"z" * 1000)
    (settings.bronze / "app" / "users" / "ingestion_date=2025-01-01").mkdir(parents=True)
    (settings.bronze / "app" / "users" / "not_a_partition").mkdir()
    # When the layout is listed, then only the partitions appear, with exact counts
    assert partition_layout(settings) == [
        PartitionInfo("app", "users", "2025-01-01", "bronze/app/users/ingestion_date=2025-01-01",
                      files=0, bytes=0),
        PartitionInfo("billing", "plans", "2025-01-02",
                      "bronze/billing/plans/ingestion_date=2025-01-02", files=2, bytes=42),
    ]


@pytest.mark.slow
def test_partition_layout_agrees_with_the_manifest(lakehouse: Settings) -> None:
    # Given the session's simulated and ingested lakehouse (a little dirty data)
    batches = Manifest(lakehouse.manifest_path).batches()
    files: Counter[tuple[str, str, str]] = Counter()
    rows: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    for b in batches:
        if b.bronze_file is not None:
            files[(b.source, b.entity, b.export_date)] += 1
            rows[(b.source, b.entity, b.export_date)] += b.landed_rows
    # When the layout is listed
    layout = partition_layout(lakehouse)
    # Then each partition holds exactly the committed batches' files and landed rows
    assert {(p.source, p.entity, p.ingestion_date): p.files for p in layout} == dict(files)
    assert {(p.source, p.entity, p.ingestion_date): parquet_rows(lakehouse, p)
            for p in layout} == dict(rows)


# dbt artifacts ---------------------------------------------------------------------------
RUN_RESULTS: dict[str, Any] = {
    "metadata": {"dbt_version": "1.10.0"},
    "results": [
        {"status": "success", "unique_id": "operation.saaslake.saaslake-on-run-start-0",
         "execution_time": 0.2, "failures": 0, "message": "on-run-start passed"},
        {"status": "success", "unique_id": "model.saaslake.stg_billing__plans",
         "execution_time": 0.123456, "failures": None, "message": "OK"},
        {"status": "fail", "unique_id": "test.saaslake.not_null_dim_plans_plan_id.5c3e9a1b2c",
         "execution_time": 0.051, "failures": 3, "message": "Got 3 results, configured to "
                                                            "fail if != 0"},
        {"status": "pass", "unique_id": "unit_test.saaslake.dim_plans.test_tiers",
         "execution_time": None, "failures": 0, "message": None},
        {"status": "success", "unique_id": "seed.saaslake.country_codes",
         "execution_time": 0.01, "failures": None, "message": "INSERT 3"},
        {"status": "error", "unique_id": "model.saaslake.dim_plans",
         "execution_time": 1.005, "message": "Runtime Error"},
        {"status": "warn", "unique_id": "test.saaslake.accepted_values_x.0a", "failures": 1,
         "execution_time": 0.004, "message": "Got 1 result"},
    ],
}

EXPECTED_ROWS = [
    {"kind": "model", "name": "stg_billing__plans", "status": "success", "failures": None,
     "seconds": 0.12, "message": "OK"},
    {"kind": "test", "name": "not_null_dim_plans_plan_id.5c3e9a1b2c", "status": "fail",
     "failures": 3, "seconds": 0.05, "message": "Got 3 results, configured to fail if != 0"},
    {"kind": "unit_test", "name": "dim_plans.test_tiers", "status": "pass", "failures": 0,
     "seconds": 0, "message": None},
    {"kind": "model", "name": "dim_plans", "status": "error", "failures": None,
     "seconds": 1.0, "message": "Runtime Error"},
    {"kind": "test", "name": "accepted_values_x.0a", "status": "warn", "failures": 1,
     "seconds": 0.0, "message": "Got 1 result"},
]

MANIFEST: dict[str, Any] = {
    "sources": {
        "source.saaslake.billing.plans": {
            "resource_type": "source", "source_name": "billing", "name": "plans"},
    },
    "nodes": {
        "model.saaslake.stg_billing__plans": {
            "resource_type": "model", "name": "stg_billing__plans",
            "fqn": ["saaslake", "staging", "billing", "stg_billing__plans"],
            "config": {"materialized": "table"}, "description": "Plans, typed.",
            "depends_on": {"nodes": ["source.saaslake.billing.plans"]}},
        "model.saaslake.dim_plans": {
            "resource_type": "model", "name": "dim_plans",
            "fqn": ["saaslake", "marts", "dim_plans"],
            "config": {"materialized": "table"},
            "depends_on": {"nodes": ["model.saaslake.stg_billing__plans",
                                     "seed.saaslake.country_codes"]}},
        "model.saaslake.int_as_of_date": {
            "resource_type": "model", "name": "int_as_of_date",
            "fqn": ["saaslake", "intermediate", "int_as_of_date"],
            "config": {"materialized": "view"}, "description": "",
            "depends_on": {"nodes": []}},
        "model.saaslake.scratch": {
            "resource_type": "model", "name": "scratch", "fqn": ["saaslake", "scratch"],
            "config": {}, "description": "x"},
        "test.saaslake.not_null_dim_plans_plan_id.5c3e9a1b2c": {
            "resource_type": "test", "name": "not_null_dim_plans_plan_id",
            "depends_on": {"nodes": ["model.saaslake.dim_plans"]}},
    },
}


def test_run_rows_keeps_models_and_tests_with_status_failures_and_seconds() -> None:
    assert artifacts.run_rows(RUN_RESULTS) == EXPECTED_ROWS
    assert artifacts.run_rows({}) == []


def test_not_passing_keeps_errors_failures_and_warnings() -> None:
    rows = artifacts.run_rows(RUN_RESULTS)
    assert [(r["kind"], r["name"], r["status"]) for r in artifacts.not_passing(rows)] == [
        ("test", "not_null_dim_plans_plan_id.5c3e9a1b2c", "fail"),
        ("model", "dim_plans", "error"),
        ("test", "accepted_values_x.0a", "warn"),
    ]


def test_lineage_edges_and_mermaid_of_a_small_manifest() -> None:
    assert list(artifacts.lineage_nodes(MANIFEST)) == [
        "source.saaslake.billing.plans", "model.saaslake.stg_billing__plans",
        "model.saaslake.dim_plans", "model.saaslake.int_as_of_date", "model.saaslake.scratch"]
    # A seed parent is not a node of the graph, so it has no edge
    assert artifacts.lineage_edges(MANIFEST) == [
        ("model.saaslake.stg_billing__plans", "model.saaslake.dim_plans"),
        ("source.saaslake.billing.plans", "model.saaslake.stg_billing__plans"),
    ]
    assert artifacts.lineage_mermaid(MANIFEST) == "\n".join([
        "graph LR",
        '  n0["dim_plans"]',
        '  n1["int_as_of_date"]',
        '  n2["scratch"]',
        '  n3["stg_billing__plans"]',
        '  n4[("billing.plans")]',
        "  n3 --> n0",
        "  n4 --> n3",
    ])
    assert artifacts.lineage_mermaid({}) == "graph LR"


def test_model_rows_give_layer_and_materialization_sorted() -> None:
    assert artifacts.model_rows(MANIFEST) == [
        {"model": "dim_plans", "layer": "Gold", "materialized": "table", "description": ""},
        {"model": "int_as_of_date", "layer": "Silver", "materialized": "view",
         "description": ""},
        {"model": "stg_billing__plans", "layer": "Silver", "materialized": "table",
         "description": "Plans, typed."},
        {"model": "scratch", "layer": "scratch", "materialized": None, "description": "x"},
    ]
    assert artifacts.model_rows({}) == []


def test_load_artifact_reads_the_warehouse_target_first(tmp_path: Path) -> None:
    settings = Settings.from_env(root=tmp_path / "lake")
    assert artifacts.artifact_dirs(settings)[0] == settings.warehouse / "dbt_target"
    assert artifacts.load_artifact(settings, "no_such_artifact.json") is None
    target = settings.warehouse / "dbt_target"
    target.mkdir(parents=True)
    (target / artifacts.RUN_RESULTS).write_text(json.dumps(RUN_RESULTS))
    assert artifacts.load_artifact(settings, artifacts.RUN_RESULTS) == RUN_RESULTS


@pytest.mark.slow
def test_artifacts_of_a_real_build(lakehouse: Settings) -> None:
    # Given the session's lakehouse, built with `pipeline.run(tests=False)`
    run_results = artifacts.load_artifact(lakehouse, artifacts.RUN_RESULTS)
    manifest = artifacts.load_artifact(lakehouse, artifacts.MANIFEST)
    assert run_results is not None
    assert manifest is not None
    rows = artifacts.run_rows(run_results)
    models = artifacts.model_rows(manifest)
    # Then every model ran and passed, and no test ran
    assert {r["kind"] for r in rows} == {"model"}
    assert {r["status"] for r in rows} == {"success"}
    assert artifacts.not_passing(rows) == []
    assert sorted(r["name"] for r in rows) == sorted(m["model"] for m in models)
    # And the models are Silver (staging, intermediate) or Gold (marts)
    layers = {m["model"]: m["layer"] for m in models}
    assert layers["stg_billing__plans"] == layers["int_as_of_date"] == "Silver"
    assert layers["dim_plans"] == layers["saas_kpis_monthly"] == "Gold"
    assert set(layers.values()) == {"Silver", "Gold"}
    # And the lineage runs from the source through staging to the mart
    edges = artifacts.lineage_edges(manifest)
    assert ("source.saaslake.billing.plans", "model.saaslake.stg_billing__plans") in edges
    assert ("model.saaslake.stg_billing__plans", "model.saaslake.dim_plans") in edges
    nodes = artifacts.lineage_nodes(manifest)
    assert all(parent in nodes and child in nodes for parent, child in edges)
    assert artifacts.lineage_mermaid(manifest).count(" --> ") == len(edges)


# Notebook helpers ------------------------------------------------------------------------
def test_live_log_shows_the_title_and_the_last_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given marimo's output calls recorded instead of rendered
    shown: list[Any] = []
    monkeypatch.setattr(mo.output, "replace", shown.append)
    monkeypatch.setattr(mo, "vstack", list)
    monkeypatch.setattr(mo, "md", lambda text: ("md", text))
    monkeypatch.setattr(mo, "plain_text", lambda text: ("plain", text))
    # When a step reports 30 lines through a log that keeps 25
    say = notebook.live_log("dbt build", lines=25)
    for i in range(30):
        say(f"line {i}")
    # Then each line replaced the output, and the last shows lines 5 to 29
    assert len(shown) == 30
    assert shown[0] == [("md", "**dbt build** (running)"), ("plain", "line 0")]
    assert shown[-1] == [("md", "**dbt build** (running)"),
                         ("plain", "\n".join(f"line {i}" for i in range(5, 30)))]


def test_dimension_labels_of_the_metric_layer() -> None:
    assert [notebook.dimension_label(d) for d in metrics.DIMENSIONS] == [
        "Segment", "Country", "Tier", "Billing interval", "Currency"]
