"""The revenue dashboard in a real Chromium: KPIs equal Gold, a filter changes them.

Chromium comes from Debian (`apt-get install chromium`, done by `make setup`); Playwright
only drives it (never `playwright install`). Without /usr/bin/chromium this test fails.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics import metrics
from analytics.charts import format_count, format_money
from lakecore.settings import Settings
from tests.helpers.notebooks import NOTEBOOKS, PROJECT, VENV_BIN, free_port
from transform.warehouse import connect_readonly

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 90_000


def start_marimo(notebook: Path, env: dict[str, str], port: int, token: str
                 ) -> tuple[subprocess.Popen[str], str]:
    """Serve a notebook with `marimo run` on 127.0.0.1 and return (process, URL)."""
    process = subprocess.Popen(
        [str(VENV_BIN / "marimo"), "run", str(notebook), "--headless", "--host", "127.0.0.1",
         "--port", str(port), "--token-password", token],
        cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    for line in process.stdout:
        match = re.search(r"URL: (http://\S+)", line)
        if match:
            return process, match.group(1).replace("localhost", "127.0.0.1")
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError("marimo run printed no URL")


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


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
            for text in (format_money(gold["mrr_usd"]), format_money(gold["arr_usd"]),
                         format_money(gold["arpa_usd"])):
                expect(page.get_by_text(text, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
            card = page.get_by_text(format_count(gold["paying_customers"]), exact=True)
            expect(card.first).to_be_visible()
            page.screenshot(path=str(output_dir / "dashboard_all.png"))
            # When the segment filter is set to smb
            segment = page.locator("select").filter(
                has=page.locator("option[value]", has_text="mid_market")).first
            segment.select_option(label="smb")
            # Then the cards show what the metric layer computes for smb
            expect(page.get_by_text(format_money(smb["mrr_usd"]), exact=True)).to_be_visible(
                timeout=TIMEOUT_MS)
            expect(page.get_by_text(format_money(smb["arpa_usd"]), exact=True)
                   ).to_be_visible()
            expect(page.get_by_text(format_money(gold["mrr_usd"]), exact=True)
                   ).to_have_count(0)
            page.wait_for_selector(".vega-embed", timeout=TIMEOUT_MS)
            page.screenshot(path=str(output_dir / "dashboard_smb.png"))
        finally:
            browser.close()


@pytest.fixture
def forecast_page(notebook_env: dict[str, str]) -> Iterator[str]:
    process, url = start_marimo(NOTEBOOKS / "06_forecast.py", notebook_env, free_port(),
                                secrets.token_urlsafe(16))
    try:
        yield url
    finally:
        stop(process)


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
