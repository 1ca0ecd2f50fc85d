"""Measure the revenue dashboard: time to all charts rendered, and each filter's queries.

For a given scale: simulate + ingest + build a lakehouse (or reuse ``--root``), then

1. start ``marimo run notebooks/03_revenue_dashboard.py`` and drive Debian's Chromium
   with Playwright until every chart (``.vega-embed``) has rendered: cold start time;
2. time the metric layer's queries for a set of filter changes
   (``analytics.metrics.fetch_dashboard`` + ``fetch_breakdown``, the queries one filter
   change runs), each repeated and reported as the median;
3. time one filter change in the browser (segment dropdown -> new KPI text visible).

Prints a table and writes JSON under ``benchmarks/results/``. Not part of ``make test``.

    python benchmarks/bench_dashboard.py --scale 1
    python benchmarks/bench_dashboard.py --root /path/to/lakehouse   # already built
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT / "benchmarks" / "results"
NOTEBOOK = PROJECT / "notebooks" / "03_revenue_dashboard.py"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
CHARTS = 6  # segment, MRR trend, bridge, movements, churn, the visible cohort heatmap


def build_lakehouse(root: Path, scale: float) -> dict[str, float]:
    from ingestion.simulator import simulate
    from lakecore.settings import Settings
    from saaslake.pipeline import run

    settings = Settings.from_env(root=root)
    t0 = time.perf_counter()
    simulate(settings.landing, scale=scale)
    t1 = time.perf_counter()
    run(settings, tests=False)
    return {"simulate_s": t1 - t0, "ingest_build_s": time.perf_counter() - t1}


def time_queries(root: Path, repeats: int) -> dict[str, float]:
    from analytics import metrics
    from lakecore.settings import Settings

    settings = Settings.from_env(root=root)
    options = metrics.fetch_filter_options(settings)
    last = options.last_month or date.today()
    cases = {"no filter": metrics.MetricFilters()}
    for dimension in ("segment", "country", "tier", "billing_interval", "currency"):
        values = options.values[dimension]
        if values:
            only: dict[str, Any] = {dimension: (values[0],)}
            cases[f"{dimension}={values[0]}"] = metrics.MetricFilters(**only)
    cases["last 12 months"] = metrics.MetricFilters(start=date(last.year - 1, last.month, 1))
    timings = {}
    for name, filters in cases.items():
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            metrics.fetch_breakdown(settings, "segment", filters.end or last, filters)
            metrics.fetch_dashboard(settings, filters)
            runs.append(time.perf_counter() - t0)
        timings[name] = statistics.median(runs)
    return timings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_browser(root: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    token = secrets.token_urlsafe(16)
    env = {**os.environ, "LAKEHOUSE_ROOT": str(root)}
    t0 = time.perf_counter()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "marimo"), "run", str(NOTEBOOK), "--headless",
         "--host", "127.0.0.1", "--port", str(free_port()), "--token-password", token],
        cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        assert server.stdout is not None
        for line in server.stdout:
            match = re.search(r"URL: (http://\S+)", line)
            if match:
                url = match.group(1).replace("localhost", "127.0.0.1")
                break
        if url is None:
            raise RuntimeError("marimo run printed no URL")
        t_server = time.perf_counter() - t0
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(url)
            charts = page.locator(".vega-embed canvas, .vega-embed svg.marks")
            deadline = time.monotonic() + 300
            while charts.count() < CHARTS:  # locators pierce marimo's shadow DOM
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {charts.count()} of {CHARTS} charts rendered")
                time.sleep(0.1)
            t_charts = time.perf_counter() - t0
            select = page.locator("select").filter(
                has=page.locator("option", has_text="mid_market")).first
            from analytics import metrics
            from analytics.charts import format_money
            from lakecore.settings import Settings

            smb = metrics.fetch_dashboard(Settings.from_env(root=root),
                                          metrics.MetricFilters(segment=("smb",))).latest()
            t1 = time.perf_counter()
            select.select_option(label="smb")
            page.get_by_text(format_money(smb["mrr_usd"]) if smb else "No month",
                             exact=False).first.wait_for(timeout=120_000)
            t_filter = time.perf_counter() - t1
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=15)
    return {"server_url_s": t_server, "all_charts_rendered_s": t_charts,
            "browser_filter_change_s": t_filter}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--root", type=Path, help="an already built lakehouse to reuse")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, Any] = {"scale": args.scale}
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        root = args.root or Path(tmp) / "lakehouse"
        if args.root is None:
            figures["setup"] = build_lakehouse(root, args.scale)
        figures["browser"] = time_browser(root)
        figures["queries_median_s"] = time_queries(root, args.repeats)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"dashboard-scale{args.scale:g}.json"
    out.write_text(json.dumps(figures, indent=1))
    print(f"dashboard benchmark, scale {args.scale:g}")
    for section in ("setup", "browser"):
        for key, value in (figures.get(section) or {}).items():
            print(f"  {section:8} {key:28} {value:8.2f} s")
    for name, value in figures["queries_median_s"].items():
        print(f"  query    {name:28} {value:8.3f} s")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
