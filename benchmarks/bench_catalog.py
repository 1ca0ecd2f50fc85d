"""Benchmark the build with SQLite catalogs against a PostgreSQL catalog, 1 and 2 dbt threads.

One simulated landing zone (``--scale``, default 1) is ingested into two roots: one with
the default SQLite catalogs, one with ``LAKEHOUSE_CATALOG`` on a throwaway PostgreSQL
cluster (started here, stopped by PID at the end, as in the tests). For each catalog and
each thread count (``LAKEHOUSE_DBT_MODEL_THREADS``) it times, each as its own
``lakehouse`` process: a **full build** (``build --full-refresh``, data tests included)
and a **no-new-data daily build** (``build`` right after, nothing new landed). A failed
build is reported with its first error line instead of a time.

Usage: ``python benchmarks/bench_catalog.py [--scale 1] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.postgres import start_cluster

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def _run(args: list[str], env: dict[str, str]) -> tuple[float, str | None]:
    started = time.perf_counter()
    proc = subprocess.run([LAKEHOUSE, "--quiet", *args], env=env, capture_output=True,
                          text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).splitlines()
                 if "rror" in line] or proc.stderr.splitlines() or ["failed"]
        return seconds, lines[0][:200]
    return seconds, None


def main() -> None:
    """Simulate once, then time each catalog and thread count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    landing = work / "landing"
    base = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    base["LAKEHOUSE_LANDING"] = str(landing)
    if not landing.exists():
        subprocess.run([LAKEHOUSE, "--quiet", "simulate", "--scale", str(args.scale)],
                       env={**base, "LAKEHOUSE_ROOT": str(work / "sim")}, check=True)
    cluster = start_cluster()
    results = []
    try:
        catalogs = {"sqlite": None, "postgresql": cluster.url(cluster.create_database())}
        for kind, url in catalogs.items():
            env = {**base, "LAKEHOUSE_ROOT": str(work / kind)}
            if url:
                env["LAKEHOUSE_CATALOG"] = url
            seconds, error = _run(["ingest"], env)
            print(f"{kind}: ingest {seconds:.1f}s {error or ''}", flush=True)
            for threads in (1, 2):
                env["LAKEHOUSE_DBT_MODEL_THREADS"] = str(threads)
                for phase, cmd in (("full", ["build", "--full-refresh"]),
                                   ("daily, no new data", ["build"])):
                    seconds, error = _run(cmd, env)
                    row = {"catalog": kind, "threads": threads, "build": phase,
                           "seconds": round(seconds, 1), "error": error}
                    results.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        cluster.stop()
    print("| catalog | dbt threads | full build | daily, no new data |")
    print("|---|---|---|---|")
    for kind in ("sqlite", "postgresql"):
        for threads in (1, 2):
            cells = []
            for phase in ("full", "daily, no new data"):
                row = next(r for r in results if (r["catalog"], r["threads"], r["build"])
                           == (kind, threads, phase))
                cells.append(f"{row['seconds']} s" if not row["error"]
                             else f"failed after {row['seconds']} s: {row['error']}")
            print(f"| {kind} | {threads} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
