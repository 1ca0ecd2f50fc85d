"""Measure simulate and ingest at given scales, against a plain DuckDB COPY (the floor).

Each phase runs in its own subprocess so its peak RSS is its own (``os.wait4``). Prints one
table and writes it as JSON under ``benchmarks/results/``. Not part of ``make test``.

    python benchmarks/bench_ingest.py --scales 1 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import CLI, PROJECT, lakehouse_env, run_phase, verdict, write_results

FLOOR_SCRIPT = r"""
import sys, duckdb, pathlib
landing, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
con = duckdb.connect(config={"threads": 2, "memory_limit": "4GB"})
for source in sorted(p for p in landing.iterdir() if p.is_dir()):
    for entity in sorted(p for p in source.iterdir() if p.is_dir()):
        files = sorted(str(f) for f in entity.glob("*/*") if f.is_file())
        if not files:
            continue
        reader = "read_json" if files[0].endswith(".jsonl") else "read_csv"
        (out / source.name).mkdir(parents=True, exist_ok=True)
        target = str(out / source.name / f"{entity.name}.parquet")
        con.execute(
            f"copy (select * from {reader}($files, union_by_name = true)) to '{target}' "
            "(format parquet, compression zstd)",
            {"files": files},
        )
"""


def dir_stats(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def bench(scale: float, workdir: Path) -> dict[str, Any]:
    root = workdir / f"scale-{scale:g}"
    shutil.rmtree(root, ignore_errors=True)
    env = lakehouse_env(root)
    sim = run_phase([*CLI, "simulate", "--scale", str(scale)], env)
    files, landing_bytes = dir_stats(root / "landing")
    ing = run_phase([*CLI, "ingest"], env)
    sim_s, sim_rss, ing_s, ing_rss = sim.seconds, sim.peak_rss_mb, ing.seconds, ing.peak_rss_mb
    rows = int(subprocess.run(
        [*CLI, "sql", "select sum(input_rows) from meta.batches", "--format", "csv"],
        cwd=PROJECT, env=env, capture_output=True, text=True, check=True,
    ).stdout.splitlines()[1])
    floor_dir = workdir / f"floor-{scale:g}"
    shutil.rmtree(floor_dir, ignore_errors=True)
    floor = run_phase(
        [sys.executable, "-c", FLOOR_SCRIPT, str(root / "landing"), str(floor_dir)], env)
    floor_s, floor_rss = floor.seconds, floor.peak_rss_mb
    _, bronze_bytes = dir_stats(root / "bronze")
    shutil.rmtree(floor_dir, ignore_errors=True)
    return {
        "scale": scale,
        "landing_files": files,
        "landing_mb": round(landing_bytes / 1e6, 1),
        "rows": rows,
        "simulate_s": round(sim_s, 2),
        "simulate_rows_per_s": round(rows / sim_s),
        "simulate_peak_rss_mb": round(sim_rss),
        "ingest_s": round(ing_s, 2),
        "ingest_rows_per_s": round(rows / ing_s),
        "ingest_peak_rss_mb": round(ing_rss),
        "floor_copy_s": round(floor_s, 2),
        "floor_peak_rss_mb": round(floor_rss),
        "ingest_vs_floor": round(ing_s / floor_s, 2),
        "simulate_plus_ingest_s": round(sim_s + ing_s, 2),
        "bronze_mb": round(bronze_bytes / 1e6, 1),
        "targets": {
            "ingest_vs_floor <= 1.5": verdict(ing_s / floor_s, 1.5),
            "simulate_plus_ingest_s < 60 (scale 10)": verdict(sim_s + ing_s, 60),
        },
        "ingest_summary": ing.output.strip().splitlines()[-1] if ing.output.strip() else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to build the lakehouses (default: a temp dir, removed)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lakehouse-bench-"))
    results = []
    try:
        for scale in args.scales:
            result = bench(scale, workdir)
            results.append(result)
            print(json.dumps(result, indent=1), flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    keys = ["scale", "rows", "landing_mb", "simulate_s", "simulate_peak_rss_mb", "ingest_s",
            "ingest_rows_per_s", "ingest_peak_rss_mb", "floor_copy_s", "ingest_vs_floor",
            "simulate_plus_ingest_s"]
    print(" | ".join(keys))
    for r in results:
        print(" | ".join(str(r[k]) for k in keys))
    for r in results:
        for target, outcome in r["targets"].items():
            print(f"scale {r['scale']:g}: {target}: {outcome}")
        print(f"results: {write_results('ingest', float(r['scale']), r)}")


if __name__ == "__main__":
    main()
