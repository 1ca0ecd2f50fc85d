"""Benchmark the dbt build (Silver and Gold) at given simulator scales.

For each scale, in a fresh lakehouse under a temporary directory:

1. simulate the default business, hold back its last daily export, ingest the rest;
2. **full build**: ``transform.build.build(full_refresh=True, tests=False)``, timed, and
   the same again with the data and unit tests;
3. **incremental**: put the held-back export back, ingest it, build again (models only),
   timed; reported as a ratio to the full build;
4. **floor**: the same compiled SQL of every model, in dependency order, run by a bare
   DuckDB connection as plain in-memory tables (no dbt, no DuckLake); reported as a
   ratio to the full build.

Usage: ``python benchmarks/bench_build.py --scales 1 10 [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import tempfile
import time
from contextlib import closing
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from analytics.summary import gold_summary
from ingestion.loader import ingest
from lakecore.duck import connect_duckdb, load_extensions
from lakecore.settings import Settings, sql_literal
from transform.build import build


def _simulate(landing: Path, scale: float, seed: int) -> None:
    from ingestion.simulator import simulate

    simulate(landing, scale=scale, seed=seed)


def _hold_back_last_export(landing: Path, parking: Path) -> str:
    dates = sorted({p.name for p in landing.glob("*/*/*") if p.is_dir()})
    last = dates[-1]
    for folder in landing.glob(f"*/*/{last}"):
        target = parking / folder.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(target))
    return last


def _restore(parking: Path, landing: Path) -> None:
    for folder in parking.glob("*/*/*"):
        target = landing / folder.relative_to(parking)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(target))


def raw_duckdb_floor(settings: Settings) -> float:
    """Seconds to run every model's compiled SQL with bare DuckDB (in-memory tables)."""
    manifest = json.loads((settings.warehouse / "dbt_target" / "manifest.json").read_text())
    models = {uid: node for uid, node in manifest["nodes"].items()
              if node["resource_type"] == "model"}
    order = TopologicalSorter({
        uid: [d for d in node["depends_on"]["nodes"] if d in models]
        for uid, node in models.items()
    }).static_order()
    with connect_duckdb(settings) as con:
        load_extensions(con, settings)
        started = time.perf_counter()
        _register_bronze(con, settings)
        con.execute("attach ':memory:' as silver; attach ':memory:' as gold")
        for uid in order:
            node = models[uid]
            relation = f'"{node["database"]}"."{node["schema"]}"."{node["alias"]}"'
            con.execute(f"create or replace table {relation} as {node['compiled_code']}")
        return time.perf_counter() - started


def _register_bronze(con: Any, settings: Settings) -> None:
    """The Python twin of dbt/macros/register_bronze.sql, for the floor measurement."""
    from ingestion.contract import ENTITIES

    con.execute("create schema if not exists memory.bronze")
    with closing(sqlite3.connect(settings.manifest_path)) as db:
        rows = db.execute("select batch_id, source, entity, export_date, landing_file, "
                          "input_rows, landed_rows, quarantined_rows, bronze_file, "
                          "ingested_at from batches").fetchall()
    con.execute("create table memory.bronze.batches (batch_id varchar, source varchar, "
                "entity varchar, export_date date, landing_file varchar, input_rows bigint, "
                "landed_rows bigint, quarantined_rows bigint, bronze_file varchar, "
                "ingested_at varchar)")
    con.executemany("insert into memory.bronze.batches values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows)
    for ent in ENTITIES.values():
        files = sorted(str(settings.root / r[8]) for r in rows
                       if r[1] == ent.source and r[2] == ent.name and r[8])
        if files:
            listed = ", ".join(sql_literal(f) for f in files)
            scan = (f"select * from read_parquet([{listed}], hive_partitioning = true, "
                    "union_by_name = true, hive_types = {'ingestion_date': date})")
        else:
            empty = settings.meta / "schemas" / ent.source / f"{ent.name}.parquet"
            scan = (f"select *, cast(null as date) as ingestion_date from "
                    f"read_parquet({sql_literal(str(empty))})")
        con.execute(f"create view memory.bronze.{ent.source}__{ent.name} as {scan}")


def bench_scale(scale: float, seed: int, workdir: Path) -> dict[str, Any]:
    settings = Settings.from_env(root=workdir / f"scale-{scale:g}")
    parking = workdir / f"parking-{scale:g}"
    started = time.perf_counter()
    _simulate(settings.landing, scale, seed)
    simulate_s = time.perf_counter() - started
    held_back = _hold_back_last_export(settings.landing, parking)
    started = time.perf_counter()
    ingest(settings)
    ingest_s = time.perf_counter() - started

    build(settings, tests=False)  # warm-up: dbt parses the project for this root
    full = build(settings, full_refresh=True, tests=False)
    with_tests = build(settings, full_refresh=True)
    floor_s = raw_duckdb_floor(settings)  # compiled SQL of the full-refresh build
    _restore(parking, settings.landing)
    started = time.perf_counter()
    ingest(settings)
    daily_ingest_s = time.perf_counter() - started
    incremental = build(settings, tests=False)
    summary = gold_summary(settings)
    return {
        "scale": scale,
        "held_back_export": held_back,
        "simulate_s": round(simulate_s, 2),
        "ingest_s": round(ingest_s, 2),
        "full_build_models_s": round(full.seconds, 2),
        "full_build_with_tests_s": round(with_tests.seconds, 2),
        "tests": with_tests.tests + with_tests.unit_tests,
        "daily_ingest_s": round(daily_ingest_s, 2),
        "incremental_build_s": round(incremental.seconds, 2),
        "incremental_ratio": round(incremental.seconds / full.seconds, 3),
        "raw_duckdb_floor_s": round(floor_s, 2),
        "floor_ratio": round(floor_s / full.seconds, 3),
        "rows": summary["rows"],
        "mrr_usd": str(summary["mrr_usd"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the lakehouses")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-build-"))
    results = []
    try:
        for scale in args.scales:
            result = bench_scale(scale, args.seed, workdir)
            results.append(result)
            print(json.dumps(result))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{'scale':>6} {'full s':>8} {'+tests s':>9} {'incr s':>7} {'incr/full':>9} "
          f"{'floor s':>8} {'floor/full':>10}")
    for r in results:
        print(f"{r['scale']:>6g} {r['full_build_models_s']:>8} {r['full_build_with_tests_s']:>9} "
              f"{r['incremental_build_s']:>7} {r['incremental_ratio']:>9} "
              f"{r['raw_duckdb_floor_s']:>8} {r['floor_ratio']:>10}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
