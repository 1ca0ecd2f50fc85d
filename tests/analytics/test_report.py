"""The offline report: charts rendered by vl-convert, one HTML file that needs no network."""

from __future__ import annotations

import re
from pathlib import Path

from analytics import metrics, report
from lakecore.settings import Settings


def test_report_is_self_contained_and_shows_gold(lakehouse: Settings, tmp_path: Path) -> None:
    # When the report is written for the whole business
    index = report.write_report(lakehouse, out_dir=tmp_path / "report")
    page = index.read_text()
    # Then every chart is inline SVG and also a PNG/SVG file beside it
    for name in ("mrr_trend", "mrr_bridge", "mrr_movements", "churn_rates",
                 "cohort_logo_retention", "cohort_net_mrr_retention"):
        assert f'<figure id="{name}"><svg' in page
        assert (index.parent / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (index.parent / f"{name}.svg").exists()
    # And nothing is loaded from anywhere: no scripts, no remote URLs
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
    # And the KPI cards equal the metric layer (= Gold) for the last month
    latest = metrics.fetch_dashboard(lakehouse).latest()
    assert latest is not None
    assert report.format_money(latest["mrr_usd"]) in page


def test_report_of_a_slice_names_its_filters(lakehouse: Settings, tmp_path: Path) -> None:
    filters = metrics.MetricFilters(segment=("smb",))
    index = report.write_report(lakehouse, filters, out_dir=tmp_path, formats=())
    page = index.read_text()
    assert "segment in (smb)" in page
    smb = metrics.fetch_dashboard(lakehouse, filters).latest()
    assert smb is not None
    assert report.format_money(smb["mrr_usd"]) in page
    assert not list(tmp_path.glob("*.png"))
