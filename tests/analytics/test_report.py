"""The offline report: charts rendered by vl-convert, one HTML file that needs no network."""

from __future__ import annotations

import re
from pathlib import Path

from analytics import charts, metrics, report
from lakecore.settings import Settings


def test_report_is_self_contained_and_shows_gold(lakehouse: Settings, tmp_path: Path) -> None:
    """Given the built lakehouse, when the offline report is written for the whole business, then
    every chart is inline SVG with PNG and SVG files beside it, nothing is loaded from the network,
    and the KPI cards show the metric layer's last month."""
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
    assert charts.format_money(latest["mrr_usd"]) in page


def test_report_of_a_slice_names_its_filters(lakehouse: Settings, tmp_path: Path) -> None:
    """Given a filter to the smb segment, when the report of that slice is written without image
    files, then the page names the filter and shows the slice's MRR, and no PNG is written."""
    # Given a filter to the smb segment
    filters = metrics.MetricFilters(segment=("smb",))
    # When the report of that slice is written without image files
    index = report.write_report(lakehouse, filters, out_dir=tmp_path, formats=())
    page = index.read_text()
    # Then the page names the filter and shows the slice's MRR, and no PNG is written
    assert "segment in (smb)" in page
    smb = metrics.fetch_dashboard(lakehouse, filters).latest()
    assert smb is not None
    assert charts.format_money(smb["mrr_usd"]) in page
    assert not list(tmp_path.glob("*.png"))
