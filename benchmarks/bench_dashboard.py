"""Measure the revenue dashboard: time to all charts rendered, and each filter's queries.

For a given scale: simulate + ingest + build a lakehouse (or reuse ``--root``), then

1. start ``marimo run notebooks/03_revenue_dashboard.py`` and drive Debian's Chromium
   with Playwright until every chart (``.vega-embed``) has rendered: cold start time;
2. time the metric layer's queries for a set of filter changes
   (``analytics.metrics.fetch_dashboard`` + ``fetch_breakdown``, the queries one filter
   change runs), each repeated and reported as the median, beside one hand-written DuckDB
   query over the published Gold computing the same slice's month bridge, cohort counts
   and 12-month NRR (for the segment and country filters, which need no plan rule), and
   a fresh process's first metric calls (opening the surface, reading Gold's cells and
   compiling the statements, ADR 0016);
3. time three filter changes in the browser on an idle page (segment dropdown -> new KPI
   text visible), reported as the median;
4. the CPU seconds of a dashboard kernel's work in a fresh process (imports of the
   notebook's setup cell, the first options + dashboard calls, every chart's spec as
   ``mo.ui.altair_chart`` builds it, and one filter change up to the KPI cards): CPU time
   hardly moves when other jobs share the cores, so it compares trees where wall times
   cannot (ADR 0025).

The scale is the one the lakehouse was simulated at (from its run ledger), also for
``--root``. Prints a table and writes JSON under ``benchmarks/results/``. Not part of
``make test``.

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
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import PROJECT, verdict, write_results

NOTEBOOK = PROJECT / "notebooks" / "03_revenue_dashboard.py"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
IDLE_S = 3.0  # a user reads the page before the next click
#: The issue's targets for one browser filter change (scale 10, scale 100).
FILTER_TARGET_S, FILTER_TARGET_S_AT_100 = 0.3, 1.0
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


#: The same slice's month bridge, cohort counts and 12-month NRR, by hand, over Gold rows.
HAND_SQL = """
with
    accounts as (select account_id from gold.dim_accounts where {column} = $value),
    facts as (
        select f.* from gold.fct_account_mrr_monthly f semi join accounts using (account_id)
    ),
    bridge as (
        select month_start, sum(previous_mrr_usd) as opening, sum(mrr_usd) as closing,
            sum(case when movement = 'new' then mrr_usd else 0 end) as new,
            sum(case when movement = 'churn' then previous_mrr_usd else 0 end) as churned,
            count_if(mrr_usd > 0) as customers
        from facts group by month_start
    ),
    nrr as (
        select cur.month_start, sum(cur.mrr_usd) / sum(base.mrr_usd) as nrr_12m
        from facts base join facts cur
            on cur.account_id = base.account_id
            and cur.month_start = base.month_start + interval 12 month
        where base.mrr_usd > 0 group by cur.month_start
    ),
    cohorts as (
        select cohort_month, datediff('month', cohort_month, month_start) as age,
            count(*) as accounts, count_if(mrr_usd > 0) as retained, sum(mrr_usd) as mrr
        from facts group by all
    )
select
    (select list(b order by b.month_start) from (
        select * from bridge left join nrr using (month_start)) b) as bridge,
    (select list(c) from cohorts c) as cohorts
"""


def lakehouse_scale(root: Path) -> float | None:
    """The scale the lakehouse at ``root`` was simulated at, from its run ledger."""
    ledger = root / "_meta" / "ledger.sqlite"
    if not ledger.exists():
        return None
    with closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as con:
        row = con.execute("select detail from run_steps where step = 'simulate' "
                          "order by rowid desc limit 1").fetchone()
    scale = json.loads(row[0]).get("scale") if row and row[0] else None
    return float(scale) if scale is not None else None


def time_hand_sql(root: Path, cases: dict[str, tuple[str, str]], repeats: int
                  ) -> dict[str, float]:
    """Median time of ``HAND_SQL`` per (column, value) case on a trusted connection."""
    from lakecore.settings import Settings
    from transform.warehouse import connect_readonly

    timings = {}
    with connect_readonly(Settings.from_env(root=root)) as con:
        for name, (column, value) in cases.items():
            sql = HAND_SQL.format(column=column)
            con.execute(sql, {"value": value}).fetchall()  # warm
            runs = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                con.execute(sql, {"value": value}).fetchall()
                runs.append(time.perf_counter() - t0)
            timings[name] = statistics.median(runs)
    return timings


#: A fresh process's first metric calls on a publication (surface, cells, statements).
FIRST_CALL = """
import sys, time
from analytics import metrics
from lakecore.settings import Settings
settings = Settings.from_env(root=sys.argv[1])
t0 = time.perf_counter()
metrics.fetch_filter_options(settings)
metrics.fetch_dashboard(settings)
print(time.perf_counter() - t0)
"""


#: A dashboard kernel's work in a fresh process, as CPU seconds per phase (ADR 0025).
KERNEL_CPU = """
import sys, time
c0 = time.process_time()
import marimo as mo
from analytics import charts, metrics
from analytics.explain import explain_mrr
from lakecore.settings import Settings
from saaslake.notebook import filter_options
c1 = time.process_time()
settings = Settings.from_env(root=sys.argv[1])
options, _problem = filter_options(settings)
data = metrics.fetch_dashboard(settings)
c2 = time.process_time()
def page(data, filters):
    breakdown = metrics.fetch_breakdown(settings, "segment", options.last_month, filters)
    mo.ui.altair_chart(charts.breakdown_chart(breakdown, "segment"), legend_selection=False)
    return charts.kpi_cards(data)
page(data, metrics.MetricFilters())
for chart in (charts.kpi_trends_chart(data), *charts.dashboard_charts(data).values()):
    mo.ui.altair_chart(chart, legend_selection=False)
c3 = time.process_time()
smb = metrics.MetricFilters(segment=("smb",))
breakdown = metrics.fetch_breakdown(settings, "segment", options.last_month, smb)
mo.ui.altair_chart(charts.breakdown_chart(breakdown, "segment"), legend_selection=False)
charts.kpi_cards(metrics.fetch_dashboard(settings, smb))
c4 = time.process_time()
print(c1 - c0, c2 - c1, c3 - c2, c4 - c3)
"""


def kernel_cpu(root: Path, repeats: int) -> dict[str, float]:
    """Median CPU seconds per phase of ``KERNEL_CPU`` over ``repeats`` fresh processes."""
    runs = [[float(v) for v in subprocess.run(
        [sys.executable, "-c", KERNEL_CPU, str(root)], cwd=PROJECT, capture_output=True,
        text=True, check=True).stdout.split()] for _ in range(repeats)]
    names = ("imports_cpu_s", "first_calls_cpu_s", "charts_cpu_s", "filter_change_cpu_s")
    return {name: statistics.median(run[i] for run in runs) for i, name in enumerate(names)}


def time_queries(root: Path, repeats: int) -> dict[str, Any]:
    from analytics import metrics
    from lakecore.settings import Settings

    first_call = float(subprocess.run(
        [sys.executable, "-c", FIRST_CALL, str(root)], cwd=PROJECT, capture_output=True,
        text=True, check=True).stdout.strip().splitlines()[-1])
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
    hand_cases = {name: (("segment" if name.startswith("segment") else "country_code"),
                         name.split("=", 1)[1])
                  for name in timings if name.startswith(("segment=", "country="))}
    hand = time_hand_sql(root, hand_cases, repeats)
    ratios = {name: timings[name] / hand[name] for name in hand}
    return {"first_call_s": first_call, "metric_queries_median_s": timings,
            "hand_sql_median_s": hand, "metric_vs_hand_sql": ratios}


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
                has=page.locator("option[value]", has_text="mid_market")).first
            from analytics import metrics
            from analytics.charts import format_money_short
            from lakecore.settings import Settings

            settings = Settings.from_env(root=root)

            def mrr_text(segment: str | None) -> str:
                filters = metrics.MetricFilters(segment=(segment,) if segment else ())
                latest = metrics.fetch_dashboard(settings, filters).latest()
                return format_money_short(latest["mrr_usd"]) if latest else "No month"

            # The first change is taken once the page is idle (the cells below the charts,
            # the drill-down table, finish after the charts show); then three changes.
            page.get_by_text(mrr_text(None), exact=True).first.wait_for(timeout=120_000)
            time.sleep(IDLE_S)
            changes = []
            for segment in ("smb", "enterprise", "smb"):
                expected = mrr_text(segment)
                t1 = time.perf_counter()
                select.select_option(label=segment)
                page.get_by_text(expected, exact=True).first.wait_for(timeout=120_000)
                changes.append(time.perf_counter() - t1)
                time.sleep(IDLE_S)
            t_filter = statistics.median(changes)
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
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        root = args.root or Path(tmp) / "lakehouse"
        figures: dict[str, Any] = {}
        if args.root is None:
            figures["setup"] = build_lakehouse(root, args.scale)
        scale = lakehouse_scale(root) if args.root else args.scale
        figures["scale"] = scale
        figures["browser"] = time_browser(root)
        figures["queries"] = time_queries(root, args.repeats)
        figures["kernel"] = kernel_cpu(root, args.repeats)
    label = f"{scale:g}" if scale is not None else "unknown"
    print(f"dashboard benchmark, scale {label} ({root})")
    for section in ("setup", "browser", "kernel"):
        for key, value in (figures.get(section) or {}).items():
            print(f"  {section:8} {key:32} {value:8.3f} s")
    browser = figures["browser"]
    change_target = FILTER_TARGET_S_AT_100 if (scale or 0) >= 100 else FILTER_TARGET_S
    print(f"  target   start to all charts <= 3 s: {verdict(browser['all_charts_rendered_s'], 3)}"
          f"; browser filter change <= {change_target:g} s: "
          f"{verdict(browser['browser_filter_change_s'], change_target)}")
    queries = figures["queries"]
    print(f"  query    {'first options+dashboard, fresh':32} {queries['first_call_s']:8.3f} s")
    for name, value in queries["metric_queries_median_s"].items():
        hand = queries["hand_sql_median_s"].get(name)
        extra = (f"   hand SQL {hand:6.3f} s, ratio {value / hand:5.2f} "
                 f"(target 2: {verdict(value / hand, 2)})" if hand else "")
        print(f"  query    {name:32} {value:8.3f} s{extra}")
    print(f"results: {write_results('dashboard', scale or args.scale, figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
