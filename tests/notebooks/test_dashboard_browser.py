"""The revenue dashboard in a real Chromium: KPIs equal Gold, a filter changes them.

Chromium comes from Debian (`apt-get install chromium`, done by `make setup`); Playwright
only drives it (never `playwright install`). Without /usr/bin/chromium this test fails.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics import metrics
from analytics.charts import format_count, format_money, format_money_short
from lakecore.settings import Settings
from tests.helpers.notebooks import NOTEBOOKS, free_port, start_marimo, stop
from transform.warehouse import connect_readonly

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 90_000


@pytest.fixture
def dashboard(notebook_env: dict[str, str]) -> Iterator[str]:
    process, url = start_marimo(NOTEBOOKS / "03_revenue_dashboard.py", notebook_env,
                                free_port(), secrets.token_urlsafe(16))
    try:
        yield url
    finally:
        stop(process)


def gold_last_month(settings: Settings) -> dict[str, object]:
    with connect_readonly(settings) as con:
        relation = con.sql("select * from gold.saas_kpis_monthly order by month_start desc "
                           "limit 1")
        return dict(zip(relation.columns, relation.fetchone(), strict=True))


@pytest.mark.browser
@pytest.mark.slow
def test_dashboard_shows_gold_kpis_and_filters_them(dashboard: str, lakehouse: Settings,
                                                    output_dir: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM.exists(), "install Chromium: apt-get install -y chromium (make setup)"
    gold = gold_last_month(lakehouse)
    smb = metrics.fetch_dashboard(lakehouse, metrics.MetricFilters(segment=("smb",))).latest()
    assert smb is not None
    assert smb["mrr_usd"] != gold["mrr_usd"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            # Given the dashboard, rendered
            page.goto(dashboard)
            page.wait_for_selector(".vega-embed", timeout=TIMEOUT_MS)
            # Then the KPI cards show Gold's last month
            for text in (format_money_short(gold["mrr_usd"]),
                         format_money_short(gold["arr_usd"]),
                         format_money_short(gold["arpa_usd"])):
                expect(page.get_by_text(text, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
            card = page.get_by_text(format_count(gold["paying_customers"]), exact=True)
            expect(card.first).to_be_visible()
            page.screenshot(path=str(output_dir / "dashboard_all.png"))
            # When the segment filter is set to smb
            segment = page.locator("select").filter(
                has=page.locator("option[value]", has_text="mid_market")).first
            segment.select_option(label="smb")
            # Then the cards show what the metric layer computes for smb
            expect(page.get_by_text(format_money_short(smb["mrr_usd"]), exact=True)
                   ).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.get_by_text(format_money_short(smb["arpa_usd"]), exact=True)
                   ).to_be_visible()
            expect(page.get_by_text(format_money_short(gold["mrr_usd"]), exact=True)
                   ).to_have_count(0)
            page.wait_for_selector(".vega-embed", timeout=TIMEOUT_MS)
            page.screenshot(path=str(output_dir / "dashboard_smb.png"))
        finally:
            browser.close()


#: Finds the bottom-most run of the churn colour in a chart's canvas and returns a point
#: just above its middle, in CSS pixels relative to the canvas (churn bars hang lowest in
#: the movements chart, so this is inside the churn bar of the month with most churn).
LOWEST_CHURN_PIXEL = """canvas => {
  const isChurn = (p, i) => Math.abs(p[i] - 229) < 8 && Math.abs(p[i + 1] - 57) < 8
    && Math.abs(p[i + 2] - 53) < 8 && p[i + 3] > 200;
  const ctx = canvas.getContext('2d');
  const {width, height} = canvas;
  const pixels = ctx.getImageData(0, 0, width, height).data;
  for (let y = height - 1; y >= 0; y--) {
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      if (isChurn(pixels, i)) {
        let end = x;
        while (end + 1 < width && isChurn(pixels, 4 * (y * width + end + 1))) end++;
        const scale = width / canvas.clientWidth;
        return {x: (x + end) / 2 / scale, y: y / scale - 4};
      }
    }
  }
  return null;
}"""


def gold_churned_accounts(settings: Settings, month: str) -> set[str]:
    with connect_readonly(settings) as con:
        return {a for (a,) in con.execute(
            "select account_id from gold.fct_account_mrr_monthly where movement = 'churn' "
            "and strftime(month_start, '%Y-%m') = ?", [month]).fetchall()}


#: The movements chart is the dashboard's fifth chart canvas (segment, trends, MRR by
#: month, bridge, movements, ...): marimo draws charts on canvas, not SVG.
MOVEMENTS_CANVAS = 4


@pytest.mark.browser
@pytest.mark.slow
def test_a_click_on_a_churn_bar_lists_exactly_gold_churned_accounts(
        dashboard: str, lakehouse: Settings, output_dir: Path) -> None:
    """Given the dashboard, when the lowest churn bar of the movements chart is clicked, then
    the accounts table lists exactly the accounts whose movement is churn in that month in
    Gold, and selecting one shows its MRR history."""
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM.exists(), "install Chromium: apt-get install -y chromium (make setup)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            # Given the dashboard, rendered, with its top accounts listed
            page.goto(dashboard)
            expect(page.get_by_role("heading", name=re.compile("Top accounts by MRR"))
                   ).to_be_visible(
                timeout=TIMEOUT_MS)
            canvases = page.locator(".vega-embed canvas")
            expect(canvases).to_have_count(7, timeout=TIMEOUT_MS)
            movements = canvases.nth(MOVEMENTS_CANVAS)
            movements.scroll_into_view_if_needed()
            point = movements.evaluate(LOWEST_CHURN_PIXEL)
            assert point is not None, "no churn bar drawn in the movements chart"
            # When the lowest churn bar is clicked
            movements.click(position=point)
            heading = page.get_by_role("heading", name=re.compile(
                r"Accounts with movement 'churn' in \d{4}-\d{2}"))
            expect(heading).to_be_visible(timeout=TIMEOUT_MS)
            found = re.search(r"\d{4}-\d{2}", heading.inner_text())
            assert found is not None
            # Then the table lists exactly Gold's churned accounts of that month
            expected = gold_churned_accounts(lakehouse, found.group(0))
            assert 0 < len(expected) <= 25
            cells = page.get_by_role("cell").filter(has_text=re.compile(r"^acc_\d+$"))
            expect(cells).to_have_count(len(expected), timeout=TIMEOUT_MS)
            assert set(cells.all_inner_texts()) == expected
            page.screenshot(path=str(output_dir / "dashboard_churn_drill.png"), full_page=True)
            # and selecting one account draws its MRR history
            page.get_by_role("row").filter(has_text=sorted(expected)[0]).get_by_role(
                "checkbox").click()
            expect(page.get_by_text("Select an account above")).to_have_count(
                0, timeout=TIMEOUT_MS)
            expect(canvases).to_have_count(8, timeout=TIMEOUT_MS)
        finally:
            browser.close()


def served(notebook: str, env: dict[str, str]) -> Iterator[str]:
    """Serve ``notebooks/<notebook>.py`` with `marimo run` on 127.0.0.1; yield its URL."""
    process, url = start_marimo(NOTEBOOKS / f"{notebook}.py", env, free_port(),
                                secrets.token_urlsafe(16))
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture
def forecast_page(notebook_env: dict[str, str]) -> Iterator[str]:
    yield from served("06_forecast", notebook_env)


@pytest.mark.browser
@pytest.mark.slow
def test_forecast_shows_the_library_forecast_and_a_lever_moves_it(
        forecast_page: str, lakehouse: Settings, output_dir: Path) -> None:
    """Given the forecast notebook served by `marimo run`, when it renders and the churn slider
    moves one step down, then the headline shows the library's forecast before and after."""
    from playwright.sync_api import expect, sync_playwright

    from analytics import forecast

    assert CHROMIUM.exists(), "install Chromium: apt-get install -y chromium (make setup)"
    model = forecast.fit_forecast(lakehouse)
    before = format_money(model.project().mrr[-1])
    after = format_money(model.project(forecast.Levers(churn_change=-0.25)).mrr[-1])
    assert before != after
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            # Given the forecast notebook, rendered
            page.goto(forecast_page)
            page.wait_for_selector(".vega-embed", timeout=TIMEOUT_MS)
            # Then its headline is the library's twelve-month forecast
            expect(page.get_by_text(f"MRR {before} in")).to_be_visible(timeout=TIMEOUT_MS)
            # and the back-test table, the last cell to run, is there
            expect(page.get_by_text("Every cut-off")).to_be_visible(
                timeout=TIMEOUT_MS)
            page.screenshot(path=str(output_dir / "forecast.png"))
            # When the churn slider (the third: months ahead, growth, churn) moves one step down
            slider = page.get_by_role("slider").nth(2)
            slider.focus()
            started = time.monotonic()
            slider.press("ArrowLeft")
            # Then the headline shows the forecast with a quarter point less churn
            expect(page.get_by_text(f"MRR {after} in")).to_be_visible(timeout=TIMEOUT_MS)
            print(f"lever change to updated headline: {time.monotonic() - started:.3f} s")
            page.screenshot(path=str(output_dir / "forecast_less_churn.png"))
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_notebook_run_killed_midway_shows_no_success_and_leaves_nothing_half_done(
        tmp_path: Path, output_dir: Path) -> None:
    """Given 00_start_here served by `marimo run` over simulated exports, when its pipeline button
    is pressed and the kernel is killed while the run holds the lock (paused just before the
    manifest commit, F4), then the page shows the lost kernel and never "Pipeline finished", the
    lock is free, nothing was committed or published, and a rerun loads everything once."""
    import os
    import signal
    import subprocess
    import time

    from playwright.sync_api import expect, sync_playwright

    from analytics.query import run_query
    from ingestion.simulator import simulate
    from lakecore.lock import pipeline_lock
    from saaslake.pipeline import run
    from tests.helpers.notebooks import PROJECT, VENV_BIN

    assert CHROMIUM.exists(), "install Chromium: apt-get install -y chromium (make setup)"
    # Given simulated exports and 00_start_here served, pausing any run before its commit
    settings = Settings.from_env(root=tmp_path / "lakehouse")
    simulate(settings.landing, scale=0.02, daily_days=2)
    env = {**os.environ, "LAKEHOUSE_ROOT": str(settings.root),
           "LAKEHOUSE_PAUSE_AT": "before_commit"}
    port = free_port()
    server = subprocess.Popen(
        [str(VENV_BIN / "marimo"), "run", str(NOTEBOOKS / "00_start_here.py"), "--headless",
         "--host", "127.0.0.1", "--port", str(port), "--token-password", "f4-token"],
        cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)  # the kernel and its children die with the group
    marker = settings.meta / "paused-at-before_commit"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 2400})
                deadline = time.monotonic() + 60
                while True:
                    try:
                        page.goto(f"http://127.0.0.1:{port}/?access_token=f4-token")
                        break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.5)
                # When the pipeline button is pressed and the kernel is killed mid-run
                page.get_by_role("button", name=re.compile("Run the whole pipeline")).click(
                    timeout=TIMEOUT_MS)
                while not marker.exists():
                    assert time.monotonic() < deadline + 120, "the run never reached its commit"
                    time.sleep(0.2)
                os.killpg(server.pid, signal.SIGKILL)
                # Then the page shows the lost kernel and never a success
                expect(page.get_by_text("kernel not found")).to_be_visible(timeout=TIMEOUT_MS)
                expect(page.get_by_text("Pipeline finished")).to_have_count(0)
                page.screenshot(path=str(output_dir / "start_here_killed.png"), full_page=True)
            finally:
                browser.close()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    # and the lock is free, nothing was committed and nothing published
    with pipeline_lock(settings, "check after F4"):
        pass
    assert run_query(settings, "select count(*) as n from meta.batches").to_pylist() == [
        {"n": 0}]
    assert not settings.published_path.exists()
    # and a rerun removes the orphans of the killed run and loads every file once
    marker.unlink()
    result = run(settings, tests=False)
    assert result.ingest.orphans_removed
    landing_files = [p for p in settings.landing.rglob("*") if p.is_file()]
    assert result.ingest.count("loaded") + result.ingest.count("empty") == len(landing_files)
    assert settings.published_path.exists()


@pytest.fixture
def health_page(notebook_env: dict[str, str]) -> Iterator[str]:
    yield from served("05_pipeline_health", notebook_env)


@pytest.mark.browser
@pytest.mark.slow
def test_pipeline_health_shows_the_ledger_and_runs_the_checks(
        health_page: str, lakehouse: Settings, output_dir: Path) -> None:
    """Given the health notebook served by `marimo run`, then it shows the latest checks and
    the pipeline run of the ledger with its charts; when "Run the health checks now" is
    pressed, the checks' headline appears with the library's status."""
    from playwright.sync_api import expect, sync_playwright

    from transform import health

    assert CHROMIUM.exists(), "install Chromium: apt-get install -y chromium (make setup)"
    status = health.compute(lakehouse).status.upper()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(health_page)
            page.wait_for_selector(".vega-embed", timeout=TIMEOUT_MS)
            expect(page.get_by_role("heading", name="Latest health checks")).to_be_visible(
                timeout=TIMEOUT_MS)
            expect(page.get_by_text("freshness_today").first).to_be_visible(timeout=TIMEOUT_MS)
            # Step durations, rows per layer, volume, quarantine (the session build ran no
            # tests, so the tests chart is a note instead)
            expect(page.locator(".vega-embed")).to_have_count(4, timeout=TIMEOUT_MS)
            page.get_by_role("button", name="Run the health checks now").click()
            expect(page.get_by_text(re.compile(rf"health {status} at"))).to_be_visible(
                timeout=TIMEOUT_MS)
            page.screenshot(path=str(output_dir / "pipeline_health.png"))
        finally:
            browser.close()
