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
#: Cohorts with fewer accounts are drawn faded and marked in the tooltip.
SMALL_COHORT = 10


# Formatting ------------------------------------------------------------------------------
def format_money(value: Decimal | float | None) -> str:
    """``$12,345.67`` (two decimals, thousands separators); ``n/a`` for None."""
    if value is None:
        return "n/a"
    return f"${Decimal(value):,.2f}"


def format_money_short(value: Decimal | float | None) -> str:
    """``$5.39M``, ``$12.3K``, ``$512.40`` (for cards; tables keep every cent)."""
    if value is None:
        return "n/a"
    amount = float(value)
    sign = "-" if amount < 0 else ""
    size = abs(amount)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= limit:
            shown = size / limit
            digits = 2 if shown < 10 else 1 if shown < 100 else 0
            return f"{sign}${shown:.{digits}f}{suffix}"
    return f"{sign}${size:,.2f}"


def format_ratio(value: float | None) -> str:
    """``3.2x`` (a ratio of amounts, such as the quick ratio); ``n/a`` for None."""
    return "n/a" if value is None else f"{value:.1f}x"


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
    ("mrr_usd", "MRR", format_money_short, "increase"),
    ("arr_usd", "ARR", format_money_short, "increase"),
    ("net_new_mrr_usd", "Net new MRR", format_money_short, "increase"),
    ("paying_customers", "Paying customers", format_count, "increase"),
    ("arpa_usd", "ARPA", format_money_short, "increase"),
    ("ltv_usd", "Customer lifetime value", format_money_short, "increase"),
    ("quick_ratio", "Quick ratio", format_ratio, "increase"),
    ("trial_conversion_3m", "Trial conversion (3 months)", format_rate, "increase"),
    ("nrr_12m", "NRR (12 months)", format_rate, "increase"),
    ("grr_12m", "GRR (12 months)", format_rate, "increase"),
    ("logo_churn_rate", "Logo churn", format_rate, "decrease"),
    ("gross_mrr_churn_rate", "Gross MRR churn", format_rate, "decrease"),
    ("net_mrr_churn_rate", "Net MRR churn", format_rate, "decrease"),
)


def headline_values(data: DashboardData, month: date) -> dict[str, Any]:
    """Every KPI card's value for one month (see ``headline_table``)."""
    return headline_table(data)[month]


def headline_table(data: DashboardData) -> dict[date, dict[str, Any]]:
    """Every KPI card's value for one month: Gold's KPIs and the figures derived from them.

    Besides ``saas_kpis_monthly``'s columns: ``net_new_mrr_usd`` (closing minus opening
    MRR), ``ltv_usd`` (ARPA / logo churn rate: the MRR an average customer brings over the
    expected ``1 / churn`` months of its life; None when nobody churned) and
    ``trial_conversion_3m`` (trials converted / closed trials, for trials started in the
    month and the two before). Definitions: docs/reference/gold-metrics.md. Every month of
    ``data.kpis``, from one pass over each table.
    """
    bridges = {r["month_start"]: r for r in data.movements.to_pylist()}
    trials = data.trials.to_pylist()
    table = {}
    for row in data.kpis.to_pylist():
        month = row["month_start"]
        values = dict(row)
        bridge = bridges.get(month)
        values["net_new_mrr_usd"] = (bridge["closing_mrr_usd"] - bridge["opening_mrr_usd"]
                                     if bridge else None)
        churn, arpa = values["logo_churn_rate"], values["arpa_usd"]
        values["ltv_usd"] = (Decimal(float(arpa) / churn).quantize(Decimal("0.01"))
                             if arpa is not None and churn else None)
        first = date(month.year - (month.month <= 2), (month.month - 3) % 12 + 1, 1)
        window = [r for r in trials if first <= r["month_start"] <= month]
        converted = sum(r["trials_converted"] for r in window)
        closed = converted + sum(r["trials_lapsed"] for r in window)
        values["trial_conversion_3m"] = converted / closed if closed else None
        table[month] = values
    return table


def kpi_cards(data: DashboardData) -> list[Kpi]:
    """The KPI cards of the last month shown, each with its change vs the month before."""
    latest_row = data.latest()
    if latest_row is None:
        return []
    previous_row = data.previous()
    table = headline_table(data)
    latest = table[latest_row["month_start"]]
    previous = table[previous_row["month_start"]] if previous_row else None
    cards = []
    for key, label, fmt, good in _KPI_SPEC:
        value = latest[key]
        before = previous[key] if previous else None
        change, direction = None, None
        if value is not None and before is not None:
            delta = value - before
            if fmt is format_rate:
                change = f"{delta * 100:+.1f} pp vs previous month"
            elif fmt is format_money_short:
                change = (f"{'+' if delta >= 0 else '-'}{format_money_short(abs(delta))} "
                          "vs previous month")
            elif fmt is format_ratio:
                change = f"{delta:+.1f}x vs previous month"
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
            opacity=alt.OpacityValue(**alt.condition(pick, alt.value(1.0), alt.value(0.4))),
            tooltip=[alt.Tooltip("yearmonth(month_start):T", title="month"),
                     alt.Tooltip("mrr_usd:Q", format="$,.2f", title="MRR"),
                     alt.Tooltip("paying_customers:Q", title="paying customers")],
        )
        .add_params(pick)
        .properties(width=WIDTH, height=220)
    )


def waterfall_chart(movements: pa.Table, month: date | None = None) -> alt.Chart:
    """The MRR bridge of one month as a waterfall; click a movement to list its accounts.

    The axis starts near the smallest level of the month, not at zero, so the movements
    are visible next to a large opening MRR; each bar is labelled with its amount.
    """
    data = waterfall_frame(movements, month)
    label = data["month"].iloc[0] if len(data) else "no data"
    colors = {**MOVEMENT_COLORS, "total": "#1565c0"}
    if len(data):
        levels = data.loc[data["kind"] != "total", ["start", "end"]].to_numpy()
        low, high = float(levels.min()), float(data["end"].max())
        floor = max(0.0, low - 0.25 * max(high - low, 1.0))
        data.loc[data["kind"] == "total", "start"] = floor
        data["label"] = [format_money_short(v) for v in data["amount"]]
        data["top"] = data[["start", "end"]].max(axis=1)
    else:
        floor = 0.0
    pick = alt.selection_point(name="bridge_pick", fields=["step"], on="click")
    bars = alt.Chart(data, title=f"MRR bridge, {label[:7]}").mark_bar().encode(
        x=alt.X("step:N", sort=alt.SortField("order"), title=None,
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("start:Q", title="MRR (USD)", scale=alt.Scale(zero=False, domainMin=floor)),
        y2=alt.Y2("end"),
        color=alt.Color("kind:N", legend=None,
                        scale=alt.Scale(domain=list(colors), range=list(colors.values()))),
        opacity=alt.OpacityValue(**alt.condition(pick, alt.value(1.0), alt.value(0.5))),
        tooltip=[alt.Tooltip("step:N"), alt.Tooltip("amount:Q", format="$,.2f")],
    ).add_params(pick)
    labels = alt.Chart(data).mark_text(dy=-6, fontSize=11).encode(
        x=alt.X("step:N", sort=alt.SortField("order")), y=alt.Y("top:Q"),
        text=alt.Text("label:N"))
    return (bars + labels).properties(width=WIDTH, height=240)


def movements_chart(movements: pa.Table) -> alt.Chart:
    """New, expansion and reactivation up, contraction and churn down, per month."""
    data = movements_long(movements)
    pick = alt.selection_point(name="movement_pick", fields=["month_start", "movement"],
                               on="click")
    return (
        alt.Chart(data, title="MRR movements by month (click a bar: its accounts)")
        .mark_bar()
        .encode(
            x=alt.X("yearmonth(month_start):T", title="month"),
            y=alt.Y("mrr_usd:Q", title="MRR change (USD)", stack="zero"),
            color=alt.Color("movement:N", scale=alt.Scale(
                domain=list(MOVEMENT_COLORS), range=list(MOVEMENT_COLORS.values()))),
            opacity=alt.OpacityValue(**alt.condition(pick, alt.value(1.0), alt.value(0.55))),
            tooltip=[alt.Tooltip("yearmonth(month_start):T", title="month"),
                     alt.Tooltip("movement:N"), alt.Tooltip("mrr_usd:Q", format="$,.2f")],
        )
        .add_params(pick)
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
            tooltip=[alt.Tooltip("yearmonth(month_start):T", title="month"),
                     alt.Tooltip("rate:N"), alt.Tooltip("value:Q", format=".1%")],
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
    data["cohort"] = [f"{m:%Y-%m} (n={n:,})" for m, n in
                      zip(data["cohort_month"], data["cohort_customers"], strict=True)]
    data["note"] = ["small cohort: read with care" if n < SMALL_COHORT else ""
                    for n in data["cohort_customers"]]
    scale = (alt.Scale(domain=[0, 1], scheme="blues", clamp=True)
             if measure == "logo_retention_rate"
             else alt.Scale(domain=[0, 2], domainMid=1, scheme="redblue", clamp=True))
    pick = alt.selection_point(name="cohort_pick", fields=["cohort_month", "months_since_start"],
                               on="click")
    order = sorted(set(data["cohort"]))
    return (
        alt.Chart(data, title=f"{titles[measure]} (click a cell: its accounts)")
        .mark_rect()
        .encode(
            x=alt.X("months_since_start:O", title="months since start"),
            y=alt.Y("cohort:O", title="cohort (accounts)", sort=order),
            color=alt.Color(f"{measure}:Q", title="retention", scale=scale,
                            legend=alt.Legend(format="%")),
            opacity=alt.OpacityValue(**alt.condition(alt.datum.cohort_customers < SMALL_COHORT,
                                                     alt.value(0.35), alt.value(1.0))),
            stroke=alt.StrokeValue(**alt.condition(pick, alt.value("#222222"), alt.value(None),
                                                   empty=False)),
            tooltip=[alt.Tooltip("cohort:N"), alt.Tooltip("months_since_start:O"),
                     alt.Tooltip("cohort_customers:Q"), alt.Tooltip("retained_customers:Q"),
                     alt.Tooltip(f"{measure}:Q", format=".1%"), alt.Tooltip("note:N", title="")],
        )
        .add_params(pick)
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
            opacity=alt.OpacityValue(**alt.condition(pick, alt.value(1.0), alt.value(0.4))),
            tooltip=[alt.Tooltip(f"{dimension}:N"), alt.Tooltip("mrr_usd:Q", format="$,.2f"),
                     alt.Tooltip("paying_customers:Q")],
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
        y=alt.Y("lower_usd:Q", title="MRR (USD)"), y2=alt.Y2("upper_usd"))
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


# Tables, trends and drill-down ----------------------------------------------------------------
RATE_COLUMNS = ("logo_churn_rate", "gross_mrr_churn_rate", "net_mrr_churn_rate", "nrr_12m",
                "grr_12m", "logo_retention_rate", "net_mrr_retention_rate",
                "conversion_rate", "trial_conversion_3m")


def readable_table(table: pa.Table) -> tuple[pd.DataFrame, dict[str, str]]:
    """A table for people: money as float with a ``$`` format, rates as percentages.

    Returns the frame and the format mapping ``mo.ui.table(format_mapping=...)`` takes;
    the values keep every cent (only their display is formatted), so a CSV download from
    the table holds the exact figures.
    """
    data = money_as_float(table).to_pandas()
    formats = {}
    for name in data.columns:
        if name.endswith("_usd"):
            formats[name] = "${:,.2f}"
        elif name in RATE_COLUMNS:
            formats[name] = "{:.1%}"
        elif name == "quick_ratio":
            formats[name] = "{:.2f}"
    return data, formats


def kpi_trends_chart(data: DashboardData) -> alt.VConcatChart:
    """Net new MRR, ARPA, paying customers and the quick ratio per month, side by side."""
    table = headline_table(data)
    months, rows = list(table), list(table.values())
    series = {"net_new_mrr_usd": ("Net new MRR", "$,.0f"), "arpa_usd": ("ARPA", "$,.2f"),
              "paying_customers": ("Paying customers", ",d"),
              "quick_ratio": ("Quick ratio", ".2f")}
    charts = []
    for key, (title, fmt) in series.items():
        frame_ = pd.DataFrame({"month_start": pd.to_datetime(months),
                               "value": [None if r[key] is None else float(r[key])
                                         for r in rows]})
        charts.append(alt.Chart(frame_, title=title).mark_line(point=True).encode(
            x=alt.X("yearmonth(month_start):T", title=None),
            y=alt.Y("value:Q", title=None, axis=alt.Axis(format=fmt.lstrip("$"))),
            tooltip=[alt.Tooltip("yearmonth(month_start):T", title="month"),
                     alt.Tooltip("value:Q", format=fmt, title=title)],
        ).properties(width=WIDTH // 2 - 20, height=140))
    return alt.vconcat(alt.hconcat(*charts[:2]), alt.hconcat(*charts[2:]))


@dataclass(frozen=True)
class Drill:
    """What a click on the dashboard asks for: the accounts of one bar or cell."""

    month: date
    movement: str | None = None
    cohort: date | None = None

    @property
    def title(self) -> str:
        """A heading for the accounts table."""
        if self.cohort is not None:
            return f"Cohort {self.cohort:%Y-%m}: accounts still paying in {self.month:%Y-%m}"
        if self.movement is not None:
            return f"Accounts with movement '{self.movement}' in {self.month:%Y-%m}"
        return f"Top accounts by MRR, {self.month:%Y-%m}"


def _as_date(value: Any) -> date:
    return pd.Timestamp(value).date().replace(day=1)


def picked_drill(*, movements_pick: pd.DataFrame | None = None,
                 bridge_pick: pd.DataFrame | None = None, bridge_month: date | None = None,
                 cohort_pick: pd.DataFrame | None = None) -> Drill | None:
    """The drill-down a chart selection asks for (the first chart with a selection wins).

    Args:
        movements_pick: ``movements_chart``'s selected rows (month_start, movement).
        bridge_pick: ``waterfall_chart``'s selected rows (step, month).
        bridge_month: The month the waterfall shows.
        cohort_pick: ``cohort_heatmap``'s selected rows (cohort_month, months_since_start).
    """
    if movements_pick is not None and len(movements_pick):
        row = movements_pick.iloc[0]
        return Drill(_as_date(row["month_start"]), movement=str(row["movement"]))
    if bridge_pick is not None and len(bridge_pick):
        row = bridge_pick.iloc[0]
        step = str(row["step"])
        month = bridge_month or date.fromisoformat(str(row["month"]))
        return Drill(month, movement=None if step in ("opening", "closing") else step)
    if cohort_pick is not None and len(cohort_pick):
        row = cohort_pick.iloc[0]
        cohort = _as_date(row["cohort_month"])
        months = int(row["months_since_start"]) + cohort.month - 1
        return Drill(date(cohort.year + months // 12, months % 12 + 1, 1), cohort=cohort)
    return None


def account_history_chart(history: pa.Table, account_id: str) -> alt.Chart:
    """One account's MRR per month, coloured by the month's movement."""
    data = frame(history)
    return (
        alt.Chart(data, title=f"MRR history of {account_id}")
        .mark_bar()
        .encode(
            x=alt.X("yearmonth(month_start):T", title="month"),
            y=alt.Y("mrr_usd:Q", title="MRR (USD)"),
            color=alt.Color("movement:N", scale=alt.Scale(
                domain=[*MOVEMENT_COLORS, "unchanged", "inactive"],
                range=[*MOVEMENT_COLORS.values(), "#9e9e9e", "#e0e0e0"])),
            tooltip=[alt.Tooltip("yearmonth(month_start):T", title="month"),
                     alt.Tooltip("movement:N"), alt.Tooltip("mrr_usd:Q", format="$,.2f"),
                     alt.Tooltip("mrr_change_usd:Q", format="$,.2f", title="change")],
        )
        .properties(width=WIDTH, height=180)
    )
