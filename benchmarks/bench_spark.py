"""Benchmark the Spark engine (local mode) beside DuckDB on the same data (ADR 0022).

For each scale, in a fresh lakehouse (every phase is its own ``lakehouse`` process):

1. simulate the default business and ingest it (not reported);
2. **duckdb**: ``build --full-refresh --models-only`` after one warm-up build (dbt's
   parse for this root);
3. **spark**: ``build --engine spark --models-only`` twice (the first also creates the
   metastore and parses the project); the second is reported, with the Spark session's
   start-up as the build reports it;
4. **gold check**: one query on both engines (``saas_kpis_monthly``'s closing MRR of the
   last month) must print the same value.

Peak memory is the whole process tree's resident set (the Python process and Spark's JVM,
sampled every 0.2 s from /proc), since the JVM is a child the CLI does not wait for.
Prints one line per engine and writes JSON under ``benchmarks/results/``.

Usage: ``python benchmarks/bench_spark.py --scale 1 [--workdir DIR] [--keep] [--reuse]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import CLI, PROJECT, lakehouse_env, run_phase, write_results

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def _tree_rss_mb(root_pid: int) -> float:
    """Resident MB of ``root_pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            statm = (entry / "statm").read_text().split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(stat[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(statm[1]) * PAGE_MB
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


def run_tree(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``args``; wall seconds, peak MB of its process tree, and its output."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_mb(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.stdout.read() if proc.stdout else ""
    code = proc.wait()
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"{' '.join(args)} failed ({code}):\n{out[-4000:]}")
    return round(time.perf_counter() - started, 2), round(peak), out


def _json_rows(args: list[str], env: dict[str, str]) -> list[dict[str, str]]:
    """The JSON rows a ``lakehouse sql --format json`` prints (stdout only: no JVM lines)."""
    done = subprocess.run(args, cwd=PROJECT, env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr[-2000:]}")
    rows: list[dict[str, str]] = json.loads(done.stdout)
    return rows


def bench(scale: float, workdir: Path, *, reuse: bool = False) -> dict[str, object]:
    root = workdir / f"scale-{scale:g}"
    env = lakehouse_env(root)
    if not (reuse and (root / "_meta" / "manifest.sqlite").exists()):
        shutil.rmtree(root, ignore_errors=True)
        run_phase([*CLI, "simulate", "--scale", str(scale)], env)
        run_phase([*CLI, "ingest"], env)

    run_phase([*CLI, "build", "--models-only"], env)
    duck_s, duck_mb, _ = run_tree([*CLI, "build", "--full-refresh", "--models-only"], env)
    run_tree([*CLI, "build", "--engine", "spark", "--models-only"], env)
    spark_s, spark_mb, out = run_tree(
        [*CLI, "build", "--engine", "spark", "--models-only"], env)
    ready = re.search(r"session ready \(([\d.]+) s\)", out)

    query = ("select cast(mrr_usd as string) as mrr from gold.saas_kpis_monthly "
             "order by month_start desc limit 1")
    duck_mrr = _json_rows([*CLI, "sql", "--format", "json", query], env)
    spark_mrr = _json_rows([*CLI, "sql", "--engine", "spark", "--format", "json", query], env)
    if duck_mrr != spark_mrr:
        raise SystemExit(f"Gold differs: duckdb {duck_mrr} spark {spark_mrr}")
    return {"scale": scale, "duckdb_build_s": duck_s, "duckdb_peak_mb": duck_mb,
            "spark_build_s": spark_s, "spark_peak_mb": spark_mb,
            "spark_session_start_s": float(ready.group(1)) if ready else None,
            "closing_mrr_usd": duck_mrr[0]["mrr"], "cpus": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, nargs="+", default=[1.0])
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "lakehouse-bench" / "spark")
    parser.add_argument("--keep", action="store_true", help="keep the lakehouses")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse an ingested lakehouse left in --workdir by --keep")
    args = parser.parse_args()
    for scale in args.scale:
        result = bench(scale, args.workdir, reuse=args.reuse)
        print(f"scale {scale:g}: duckdb {result['duckdb_build_s']} s "
              f"{result['duckdb_peak_mb']} MB | spark (local) {result['spark_build_s']} s "
              f"{result['spark_peak_mb']} MB, session start {result['spark_session_start_s']} s"
              f" | Gold equal (closing MRR {result['closing_mrr_usd']})")
        print(f"  results: {write_results('spark', scale, result)}")
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
