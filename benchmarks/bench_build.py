"""Benchmark the dbt build (Silver and Gold) and the daily run, beside the engine's floor.

For each scale, in a fresh lakehouse (every phase is its own ``lakehouse`` process, so its
wall time is what a user waits for and its peak RSS its own):

1. simulate the default business, hold back its last daily export, ingest the rest;
2. one models-only build (dbt parses the project for this root; not reported), then the
   **full build**: ``build --full-refresh --models-only``, and **with tests**:
   ``build --full-refresh`` (data and unit tests);
3. **floor**: the same compiled SQL of every model (the full-refresh build's manifest),
   in dependency order, run by one bare DuckDB process with the same memory limit and
   threads, writing the same tables into two DuckDB database files (``silver`` and
   ``gold``): no dbt, no DuckLake, no tests, no publication;
4. **a day**: put the held-back export back, ``ingest`` it and ``build`` (with tests),
   reported as a share of the full build with tests, with its dbt node profile; then
   the same ``build`` again with nothing new (ADR 0023: no dbt node runs).

Targets (issue "the scale its users have"): full build at most 1.5x the floor; one more
day (ingest + build with tests) at most 15 % of a full build with tests at scale 10 and
10 % at scale 100. Prints a table with each figure beside its target and writes JSON under
``benchmarks/results/``.

Usage: ``python benchmarks/bench_build.py --scales 1 10 [--keep] [--workdir DIR]``;
``python benchmarks/bench_build.py --floor ROOT`` runs step 3 alone on a built root.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import CLI, lakehouse_env, run_phase, verdict, write_results
from lakecore.duck import connect_duckdb, load_extensions
from lakecore.settings import Settings, sql_literal

#: Largest one-day share of a full build with tests, per scale (the issue's targets).
DAILY_TARGET = {10.0: 0.15, 100.0: 0.10}
FLOOR_TARGET = 1.5


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


def duckdb_floor(settings: Settings, workdir: Path) -> dict[str, float]:
    """Run every model's compiled SQL with one bare DuckDB into DuckDB files; seconds."""
    manifest = json.loads((settings.warehouse / "dbt_target" / "manifest.json").read_text())
    models = {uid: node for uid, node in manifest["nodes"].items()
              if node["resource_type"] == "model"}
    order = TopologicalSorter({
        uid: [d for d in node["depends_on"]["nodes"] if d in models]
        for uid, node in models.items()
    }).static_order()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    per_model: dict[str, float] = {}
    with connect_duckdb(settings) as con:
        load_extensions(con, settings)
        started = time.perf_counter()
        _register_bronze(con, settings)
        for layer in ("silver", "gold"):
            con.execute(f"attach {sql_literal(str(workdir / f'{layer}.duckdb'))} as {layer}")
        for uid in order:
            node = models[uid]
            relation = f'"{node["database"]}"."{node["schema"]}"."{node["alias"]}"'
            t0 = time.perf_counter()
            con.execute(f"create or replace table {relation} as {node['compiled_code']}")
            con.execute("checkpoint")
            per_model[node["name"]] = round(time.perf_counter() - t0, 3)
        total = time.perf_counter() - started
    shutil.rmtree(workdir, ignore_errors=True)
    return {"seconds": round(total, 2), **{f"model.{k}": v for k, v in per_model.items()}}


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


def _models_seconds(root: Path) -> dict[str, float]:
    """Per-model seconds of the last dbt invocation (its run_results.json)."""
    results = json.loads((root / "warehouse" / "dbt_target" / "run_results.json").read_text())
    return {r["unique_id"].rsplit(".", 1)[-1]: round(r["execution_time"], 3)
            for r in results["results"] if r["unique_id"].startswith("model.")}


def _node_profile(root: Path) -> dict[str, Any]:
    """Nodes and seconds per resource type of the last dbt invocation, slowest tests first."""
    results = json.loads((root / "warehouse" / "dbt_target" / "run_results.json").read_text())
    profile: dict[str, Any] = {"dbt_elapsed": round(results.get("elapsed_time", 0.0), 2)}
    for kind in ("model", "test", "unit_test"):
        nodes = [r for r in results["results"] if r["unique_id"].startswith(f"{kind}.")]
        profile[kind] = {"count": len(nodes),
                         "seconds": round(sum(r["execution_time"] for r in nodes), 2)}
    tests = sorted((r for r in results["results"] if r["unique_id"].startswith("test.")),
                   key=lambda r: -r["execution_time"])
    profile["slowest_tests"] = {r["unique_id"].rsplit(".", 2)[-2]: round(r["execution_time"], 3)
                                for r in tests[:5]}
    return profile


def bench_scale(scale: float, seed: int, workdir: Path) -> dict[str, Any]:
    """Every phase at one scale; the figures as a dict."""
    root = workdir / f"scale-{scale:g}"
    parking = workdir / f"parking-{scale:g}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(parking, ignore_errors=True)
    env = lakehouse_env(root)
    say = lambda msg: print(f"[scale {scale:g}] {msg}", flush=True)  # noqa: E731
    phases: dict[str, Any] = {}

    def phase(name: str, *args: str) -> float:
        result = run_phase([*CLI, *args], env)
        phases[name] = {"seconds": result.seconds, "peak_rss_mb": result.peak_rss_mb}
        say(f"{name}: {result.seconds} s, {result.peak_rss_mb} MB")
        return result.seconds

    phase("simulate", "simulate", "--scale", f"{scale:g}", "--seed", str(seed))
    held_back = _hold_back_last_export(root / "landing", parking)
    phase("ingest_history", "ingest")
    phase("build_warmup", "build", "--models-only")
    full = phase("full_build_models", "build", "--full-refresh", "--models-only")
    full_models = _models_seconds(root)
    with_tests = phase("full_build_with_tests", "build", "--full-refresh")
    floor_run = run_phase([sys.executable, __file__, "--floor", str(root)], env)
    floor = json.loads(floor_run.output.strip().splitlines()[-1])
    phases["floor"] = {"seconds": floor["seconds"], "peak_rss_mb": floor_run.peak_rss_mb}
    say(f"floor: {floor['seconds']} s, {floor_run.peak_rss_mb} MB")
    _restore(parking, root / "landing")
    day_ingest = phase("daily_ingest", "ingest")
    day_build = phase("daily_build_with_tests", "build")
    daily_models = _models_seconds(root)
    daily_profile = _node_profile(root)
    say(f"daily build profile: {daily_profile}")
    # A build with nothing new runs no dbt node (ADR 0023): check, health, no publication.
    phase("no_new_data_build", "build")
    daily_share = (day_ingest + day_build) / with_tests
    return {
        "scale": scale,
        "seed": seed,
        "held_back_export": held_back,
        "phases": phases,
        "full_build_vs_floor": round(full / floor["seconds"], 3),
        "daily_share_of_full_with_tests": round(daily_share, 3),
        "daily_build_profile": daily_profile,
        "model_seconds": {"full": full_models, "daily": daily_models,
                          "floor": {k.removeprefix("model."): v for k, v in floor.items()
                                    if k.startswith("model.")}},
    }


def print_table(results: list[dict[str, Any]]) -> None:
    """Each scale's figures beside their targets."""
    print(f"\n{'scale':>6} {'phase':<24} {'seconds':>9} {'peak MB':>8}")
    for r in results:
        for name, p in r["phases"].items():
            print(f"{r['scale']:>6g} {name:<24} {p['seconds']:>9} {p['peak_rss_mb']:>8}")
    print(f"\n{'scale':>6} {'figure':<44} {'value':>7} {'target':>7}  verdict")
    for r in results:
        ratio = r["full_build_vs_floor"]
        print(f"{r['scale']:>6g} {'full build (models) / DuckDB floor':<44} {ratio:>7} "
              f"{FLOOR_TARGET:>7}  {verdict(ratio, FLOOR_TARGET)}")
        share = r["daily_share_of_full_with_tests"]
        target = DAILY_TARGET.get(r["scale"])
        print(f"{r['scale']:>6g} {'one day (ingest + build + tests) / full+tests':<44} "
              f"{share:>7} {target if target else '-':>7}  "
              f"{verdict(share, target) if target else '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, help="where the lakehouses go (default: a "
                        "temporary folder, removed at the end unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the lakehouses")
    parser.add_argument("--floor", type=Path, metavar="ROOT",
                        help="only run the DuckDB floor on this built root; print JSON")
    args = parser.parse_args()
    if args.floor:
        settings = Settings.from_env(root=args.floor)
        print(json.dumps(duckdb_floor(settings, args.floor / "_floor")))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-build-"))
    results = []
    try:
        for scale in args.scales:
            result = bench_scale(scale, args.seed, workdir)
            results.append(result)
            print(f"written to {write_results('build', scale, result)}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(results)


if __name__ == "__main__":
    main()
