"""The revenue dashboard's charts, KPI cards and number formats, built with Altair.

They live here, not in the notebook, so that the live dashboard
(``notebooks/03_revenue_dashboard.py``) and the offline report (``analytics.report``)
show the same pictures from the same metric layer (``analytics.metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import altair as alt
import pandas as pd
import pyarrow as pa

from analytics.metrics import DIMENSIONS, MOVEMENTS, DashboardData, money_as_float
from lakecore.errors import LakehouseError

#: Colours of the movements, shared by every chart that shows them.
MOVEMENT_COLORS = {
    "new": "#2e7d32",
    "expansion": "#66bb6a",
    "reactivation": "#26a69a",
    "contraction": "#ffa726",
    "churn": "#e53935",
}
BRIDGE_COLUMNS = {
    "new": "new_mrr_usd",
    "expansion": "expansion_mrr_usd",
    "reactivation": "reactivation_mrr_usd",
    "contraction": "contraction_mrr_usd",
    "churn": "churned_mrr_usd",
}
WIDTH = 560


# Formatting ------------------------------------------------------------------------------
def format_money(value: Decimal | float | None) -> str:
    """``$12,345.67`` (two decimals, thousands separators); ``n/a`` for None."""
    if value is None:
        return "n/a"
    return f"${Decimal(value):,.2f}"


def format_rate(value: float | None) -> str:
    """``12.3%``; ``n/a`` for None (a ratio whose denominator is 0)."""
    return "n/a" if value is None else f"{value:.1%}"


def format_count(value: int | None) -> str:
    """``12,345`` (thousands separators); ``n/a`` for None."""
    return "n/a" if value is None else f"{value:,}"


@dataclass(frozen=True)
class Kpi:
    """One KPI card: its label, the value shown and the change against the month before."""

    key: str
    label: str
    value: Any
    text: str
    change: str | None
    direction: str | None  # "increase", "decrease" or None
    good_direction: str  # which direction is good news


_KPI_SPEC = (
    ("mrr_usd", "MRR", format_money, "increase"),
    ("arr_usd", "ARR", format_money, "increase"),
    ("paying_customers", "Paying customers", format_count, "increase"),
    ("arpa_usd", "ARPA", format_money, "increase"),
    ("nrr_12m", "NRR (12 months)", format_rate, "increase"),
    ("grr_12m", "GRR (12 months)", format_rate, "increase"),
    ("logo_churn_rate", "Logo churn", format_rate, "decrease"),
    ("gross_mrr_churn_rate", "Gross MRR churn", format_rate, "decrease"),
    ("net_mrr_churn_rate", "Net MRR churn", format_rate, "decrease"),
)


def kpi_cards(data: DashboardData) -> list[Kpi]:
    """The KPI cards of the last month shown, each with its change vs the month before."""
    latest = data.latest()
    if latest is None:
        return []
    previous = data.previous()
    cards = []
    for key, label, fmt, good in _KPI_SPEC:
        value = latest[key]
        before = previous[key] if previous else None
        change, direction = None, None
        if value is not None and before is not None:
            delta = value - before
            if fmt is format_rate:
                change = f"{delta * 100:+.1f} pp vs previous month"
            elif fmt is format_money:
                change = f"{'+' if delta >= 0 else '-'}{format_money(abs(delta))} vs previous month"
            else:
                change = f"{delta:+,} vs previous month"
            if delta:
                direction = "increase" if delta > 0 else "decrease"
        cards.append(Kpi(key, label, value, fmt(value), change, direction, good))
    return cards


# Chart data ------------------------------------------------------------------------------
def frame(table: pa.Table) -> pd.DataFrame:
    """A chart-ready frame: money as float, dates as timestamps."""
    return money_as_float(table).to_pandas(date_as_object=False)


def waterfall_frame(movements: pa.Table, month: date | None = None) -> pd.DataFrame:
    """Opening, the five movements and closing of one month as floating bars.

    Args:
        movements: ``analytics.metrics.mrr_movements`` rows.
        month: The month (first day); the last month when None or not present.
    """
    rows = movements.to_pylist()
    if not rows:
        return pd.DataFrame(columns=["step", "order", "start", "end", "amount", "kind"])
    by_month = {r["month_start"]: r for r in rows}
    row = by_month.get(month) if month is not None else None
    row = row or rows[-1]
    steps: list[dict[str, Any]] = []
    level = float(row["opening_mrr_usd"])
    steps.append({"step": "opening", "start": 0.0, "end": level, "amount": level,
                  "kind": "total"})
    for name in MOVEMENTS:
        amount = float(row[BRIDGE_COLUMNS[name]])
        signed = -amount if name in ("contraction", "churn") else amount
        steps.append({"step": name, "start": level, "end": level + signed, "amount": signed,
                      "kind": name})
        level += signed
    closing = float(row["closing_mrr_usd"])
    steps.append({"step": "closing", "start": 0.0, "end": closing, "amount": closing,
                  "kind": "total"})
    result = pd.DataFrame(steps)
    result["order"] = range(len(result))
    result["month"] = row["month_start"].isoformat()
    return result


def movements_long(movements: pa.Table) -> pd.DataFrame:
    """One row per month and movement; contraction and churn negative."""
    data = frame(movements)
    parts = []
    for name in MOVEMENTS:
        sign = -1.0 if name in ("contraction", "churn") else 1.0
        parts.append(pd.DataFrame({"month_start": data["month_start"], "movement": name,
                                   "mrr_usd": sign * data[BRIDGE_COLUMNS[name]]}))
    if not parts:
        return pd.DataFrame(columns=["month_start", "movement", "mrr_usd"])
    return pd.concat(parts, ignore_index=True)


def churn_long(kpis: pa.Table) -> pd.DataFrame:
    """One row per month and churn rate (logo, gross and net MRR); missing rates dropped."""
    data = frame(kpis)
    names = {"logo_churn_rate": "logo churn", "gross_mrr_churn_rate": "gross MRR churn",
             "net_mrr_churn_rate": "net MRR churn"}
    long = data.melt(id_vars=["month_start"], value_vars=list(names), var_name="rate",
                     value_name="value")
    long["rate"] = long["rate"].map(names)
    return long.dropna(subset=["value"])


# Charts ----------------------------------------------------------------------------------
def mrr_trend_chart(kpis: pa.Table) -> alt.Chart:
    """MRR per month (bars, click one to pick the month of the bridge) with customers."""
    data = frame(kpis)
    pick = alt.selection_point(name="month_pick", fields=["month_start"], on="click")
    return (
        alt.Chart(data, title="MRR by month")
        .mark_bar()
        .encode(
            x=alt.X("yearmonth(month_start):T", title="month"),
            y=alt.Y("mrr_usd:Q", title="MRR (USD)"),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.4)),
            tooltip=[alt.Tooltip("yearmonth(month_start):T", title="month"),
                     alt.Tooltip("mrr_usd:Q", format="$,.2f", title="MRR"),
                     alt.Tooltip("paying_customers:Q", title="paying customers")],
        )
        .add_params(pick)
        .properties(width=WIDTH, height=220)
    )


def waterfall_chart(movements: pa.Table, month: date | None = None) -> alt.Chart:
    """The MRR bridge of one month as a waterfall."""
    data = waterfall_frame(movements, month)
    label = data["month"].iloc[0] if len(data) else "no data"
    colors = {**MOVEMENT_COLORS, "total": "#1565c0"}
    return (
        alt.Chart(data, title=f"MRR bridge, {label[:7]}")
        .mark_bar()
        .encode(
            x=alt.X("step:N", sort=alt.SortField("order"), title=None,
                    axis=alt.Axis(labelAngle=0)),
            y=alt.Y("start:Q", title="MRR (USD)"),
            y2="end:Q",
            color=alt.Color("kind:N", legend=None,
                            scale=alt.Scale(domain=list(colors), range=list(colors.values()))),
            tooltip=["step:N", alt.Tooltip("amount:Q", format="$,.2f")],
        )
        .properties(width=WIDTH, height=220)
    )


def movements_chart(movements: pa.Table) -> alt.Chart:
    """New, expansion and reactivation up, contraction and churn down, per month."""
    data = movements_long(movements)
    return (
        alt.Chart(data, title="MRR movements by month")
        .mark_bar()
        .encode(
            x=alt.X("yearmonth(month_start):T", title="month"),
            y=alt.Y("sum(mrr_usd):Q", title="MRR change (USD)"),
            color=alt.Color("movement:N", scale=alt.Scale(
                domain=list(MOVEMENT_COLORS), range=list(MOVEMENT_COLORS.values()))),
            tooltip=[alt.Tooltip("yearmonth(month_start):T", title="month"), "movement:N",
                     alt.Tooltip("mrr_usd:Q", format="$,.2f")],
        )
        .properties(width=WIDTH, height=220)
    )


def churn_chart(kpis: pa.Table) -> alt.Chart:
    """Logo, gross and net MRR churn rates per month."""
    data = churn_long(kpis)
    return (
        alt.Chart(data, title="Churn rates by month")
        .mark_line(point=True)
        .encode(
            x=alt.X("yearmonth(month_start):T", title="month"),
            y=alt.Y("value:Q", title="rate", axis=alt.Axis(format="%")),
            color=alt.Color("rate:N"),
            tooltip=[alt.Tooltip("yearmonth(month_start):T", title="month"), "rate:N",
                     alt.Tooltip("value:Q", format=".1%")],
        )
        .properties(width=WIDTH, height=220)
    )


def cohort_heatmap(cohorts: pa.Table, measure: str = "logo_retention_rate") -> alt.Chart:
    """Cohort x months since start, coloured by a retention rate."""
    titles = {"logo_retention_rate": "Logo retention by cohort",
              "net_mrr_retention_rate": "Net MRR retention by cohort"}
    if measure not in titles:
        raise LakehouseError(f"unknown cohort measure {measure!r}; "
                             f"choose one of {', '.join(titles)}")
    data = frame(cohorts)
    return (
        alt.Chart(data, title=titles[measure])
        .mark_rect()
        .encode(
            x=alt.X("months_since_start:O", title="months since start"),
            y=alt.Y("yearmonth(cohort_month):O", title="cohort"),
            color=alt.Color(f"{measure}:Q", title="retention",
                            scale=alt.Scale(scheme="blues"),
                            legend=alt.Legend(format="%")),
            tooltip=[alt.Tooltip("yearmonth(cohort_month):O", title="cohort"),
                     "months_since_start:O", "cohort_customers:Q", "retained_customers:Q",
                     alt.Tooltip(f"{measure}:Q", format=".1%")],
        )
        .properties(width=WIDTH, height=320)
    )


def breakdown_chart(breakdown: pa.Table, dimension: str) -> alt.Chart:
    """Closing MRR by the values of one dimension; click bars to filter the dashboard."""
    if dimension not in DIMENSIONS:
        raise LakehouseError(f"unknown dimension {dimension!r}")
    data = frame(breakdown)
    pick = alt.selection_point(name="dimension_pick", fields=[dimension])
    return (
        alt.Chart(data, title=f"MRR by {dimension.replace('_', ' ')} (last month)")
        .mark_bar()
        .encode(
            y=alt.Y(f"{dimension}:N", sort="-x", title=None),
            x=alt.X("mrr_usd:Q", title="MRR (USD)"),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.4)),
            tooltip=[f"{dimension}:N", alt.Tooltip("mrr_usd:Q", format="$,.2f"),
                     "paying_customers:Q"],
        )
        .add_params(pick)
        .properties(width=WIDTH, height=160)
    )


def dashboard_charts(data: DashboardData, month: date | None = None) -> dict[str, alt.Chart]:
    """Every chart of the report, by file name stem."""
    return {
        "mrr_trend": mrr_trend_chart(data.kpis),
        "mrr_bridge": waterfall_chart(data.movements, month),
        "mrr_movements": movements_chart(data.movements),
        "churn_rates": churn_chart(data.kpis),
        "cohort_logo_retention": cohort_heatmap(data.cohorts, "logo_retention_rate"),
        "cohort_net_mrr_retention": cohort_heatmap(data.cohorts, "net_mrr_retention_rate"),
    }


# Offline rendering -----------------------------------------------------------------------


def forecast_chart(forecast: pa.Table, title: str = "MRR forecast") -> alt.Chart:
    """Actual MRR (solid), the forecast (dashed) and its band (shaded).

    ``forecast`` is ``analytics.forecast.ForecastResult.table()``: month_start, kind
    (actual or forecast), mrr_usd, lower_usd, upper_usd.
    """
    data = frame(forecast)
    base = alt.Chart(data, title=title).encode(
        x=alt.X("yearmonth(month_start):T", title="month"))
    band = base.transform_filter(alt.datum.kind == "forecast").mark_area(
        opacity=0.25, color="#4c78a8").encode(
        y=alt.Y("lower_usd:Q", title="MRR (USD)"), y2="upper_usd:Q")
    lines = base.mark_line(point=True).encode(
        y=alt.Y("mrr_usd:Q", title="MRR (USD)"),
        color=alt.Color("kind:N", title=None,
                        scale=alt.Scale(domain=["actual", "forecast"],
                                        range=["#222222", "#4c78a8"])),
        strokeDash=alt.StrokeDash("kind:N", legend=None,
                                  scale=alt.Scale(domain=["actual", "forecast"],
                                                  range=[[1, 0], [6, 4]])),
        tooltip=[alt.Tooltip("yearmonth(month_start):T", title="month"),
                 alt.Tooltip("kind:N"),
                 alt.Tooltip("mrr_usd:Q", format="$,.0f", title="MRR"),
                 alt.Tooltip("lower_usd:Q", format="$,.0f", title="band low"),
                 alt.Tooltip("upper_usd:Q", format="$,.0f", title="band high")],
    )
    return (band + lines).properties(width=WIDTH, height=260)
