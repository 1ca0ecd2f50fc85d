"""An offline report of the revenue dashboard: SVG/PNG charts and one HTML page.

``write_report(settings)`` renders every chart of ``analytics.charts`` with vl-convert to
SVG and PNG and writes a self-contained ``index.html`` (the SVGs inline, no JavaScript,
nothing from a CDN; the page is ``templates/report.html``) under
``$LAKEHOUSE_ROOT/reports/<as-of month>/``: it opens without network, in any browser, and
can be mailed. ``python -m analytics.report`` does the same from a shell (``make report``).
"""

from __future__ import annotations

import argparse
import html
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from string import Template

import altair as alt
import vl_convert as vlc

from analytics.charts import dashboard_charts, format_count, format_money, format_rate, kpi_cards
from analytics.metrics import DIMENSIONS, DashboardData, MetricFilters, fetch_dashboard
from lakecore.errors import LakehouseError
from lakecore.files import replace_text
from lakecore.settings import Settings

#: The report page; ``$title``, ``$filters``, ``$generated_at`` (escaped text) and
#: ``$cards``, ``$charts``, ``$table`` (HTML) are filled in.
REPORT_TEMPLATE = Template(
    (Path(__file__).parent / "templates" / "report.html").read_text(encoding="utf-8"))


#: Room around a rendered chart: vl-convert measures legend labels with its own font
#: metrics, so without a margin on the right the last letters of a legend were clipped.
PADDING = {"left": 5, "top": 5, "right": 30, "bottom": 5}


def chart_svg(chart: alt.Chart) -> str:
    """The chart as SVG text, rendered by vl-convert (no browser, no network)."""
    return vlc.vegalite_to_svg(chart.properties(padding=PADDING).to_json())


def chart_png(chart: alt.Chart, scale: float = 2.0) -> bytes:
    """The chart as PNG bytes, rendered by vl-convert."""
    return vlc.vegalite_to_png(chart.properties(padding=PADDING).to_json(), scale=scale)


def report_html(data: DashboardData, svgs: dict[str, str], *, title: str,
                generated_at: str) -> str:
    """A self-contained HTML page: KPI cards, inline SVG charts, the KPI table."""
    esc = html.escape
    cards = "".join(
        f'<div class="card"><div class="label">{esc(k.label)}</div>'
        f'<div class="value">{esc(k.text)}</div>'
        f'<div class="change">{esc(k.change or "")}</div></div>'
        for k in kpi_cards(data))
    charts = "".join(f'<figure id="{esc(name)}">{svg}</figure>' for name, svg in svgs.items())
    kpis = data.kpis.to_pylist()
    head = ["month", "MRR", "ARR", "paying customers", "ARPA", "logo churn",
            "gross MRR churn", "net MRR churn", "NRR 12m", "GRR 12m"]
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(v)}</td>" for v in (
            r["month_start"].isoformat()[:7], format_money(r["mrr_usd"]),
            format_money(r["arr_usd"]), format_count(r["paying_customers"]),
            format_money(r["arpa_usd"]), format_rate(r["logo_churn_rate"]),
            format_rate(r["gross_mrr_churn_rate"]), format_rate(r["net_mrr_churn_rate"]),
            format_rate(r["nrr_12m"]), format_rate(r["grr_12m"]))) + "</tr>"
        for r in reversed(kpis))
    table = ("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head)
             + f"</tr></thead><tbody>{body}</tbody></table>")
    return REPORT_TEMPLATE.substitute(
        title=esc(title), filters=esc(data.filters.describe()), generated_at=esc(generated_at),
        cards=cards or "<p>No month matches these filters.</p>", charts=charts, table=table)


def write_report(settings: Settings, filters: MetricFilters | None = None, *,
                 out_dir: Path | None = None, formats: Sequence[str] = ("svg", "png")
                 ) -> Path:
    """Render the dashboard offline under ``$LAKEHOUSE_ROOT/reports/`` and return index.html.

    Args:
        settings: The lakehouse (its last published Gold build is reported).
        filters: The slice to report; everything when None.
        out_dir: Where to write; ``reports/<as-of month>`` below the root when None.
        formats: Which chart files to write beside the HTML (``svg``, ``png``).

    Raises:
        transform.warehouse.WarehouseNotBuiltError: Nothing was built yet.
    """
    data = fetch_dashboard(settings, filters)
    latest = data.latest()
    stamp = latest["month_start"].isoformat()[:7] if latest else "empty"
    target = out_dir or settings.root / "reports" / stamp
    target.mkdir(parents=True, exist_ok=True)
    charts = dashboard_charts(data)
    svgs = {}
    for name, chart in charts.items():
        svgs[name] = chart_svg(chart)
        if "svg" in formats:
            (target / f"{name}.svg").write_text(svgs[name])
        if "png" in formats:
            (target / f"{name}.png").write_bytes(chart_png(chart))
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    index = target / "index.html"
    replace_text(index, report_html(data, svgs, title=f"SaaS revenue report, {stamp}",
                                    generated_at=generated))
    return index


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m analytics.report [--segment smb ...]``: write the offline report."""
    parser = argparse.ArgumentParser(prog="python -m analytics.report",
                                     description=__doc__.splitlines()[0])
    for name in DIMENSIONS:
        parser.add_argument(f"--{name.replace('_', '-')}", action="append", default=[],
                            metavar="VALUE", help=f"keep only this {name} (repeatable)")
    parser.add_argument("--start", type=date.fromisoformat, help="first month (YYYY-MM-DD)")
    parser.add_argument("--end", type=date.fromisoformat, help="last month (YYYY-MM-DD)")
    parser.add_argument("--out", type=Path, help="output folder (default: reports/<month>)")
    args = parser.parse_args(argv)
    try:
        filters = MetricFilters(start=args.start, end=args.end,
                                **{name: tuple(getattr(args, name)) for name in DIMENSIONS})
        index = write_report(Settings.from_env(), filters, out_dir=args.out)
    except LakehouseError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"report written to {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
