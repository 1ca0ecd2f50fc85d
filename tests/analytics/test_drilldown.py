"""The dashboard's staples and drill-down: derived KPIs, the accounts behind a bar or a cell,
an account's history, and readable numbers, against Gold and by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

from analytics import charts, metrics
from analytics.query import format_table
from lakecore.settings import Settings
from transform.warehouse import connect_readonly


def gold(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    with connect_readonly(settings) as con:
        return con.execute(sql, params or []).fetchall()


def busiest_churn_month(settings: Settings) -> date:
    return gold(settings, "select month_start from gold.mrr_movements_monthly "
                          "order by customers_churned desc, month_start limit 1")[0][0]


def test_accounts_behind_a_churn_bar_are_gold_churned_accounts(lakehouse: Settings) -> None:
    """Given the month with most churned accounts, when its churn bar is drilled into, then the
    accounts are exactly Gold's accounts with movement churn that month, with their previous MRR,
    ordered by the size of the change."""
    month = busiest_churn_month(lakehouse)
    want = gold(lakehouse, "select account_id, previous_mrr_usd, mrr_usd, mrr_change_usd "
                           "from gold.fct_account_mrr_monthly where movement = 'churn' and "
                           "month_start = ? order by abs(mrr_change_usd) desc, account_id",
                [month])
    got = metrics.fetch_accounts(lakehouse, month, movement="churn").to_pylist()
    assert len(want) >= 2
    assert [(r["account_id"], r["previous_mrr_usd"], r["mrr_usd"], r["mrr_change_usd"])
            for r in got] == want
    assert {r["movement"] for r in got} == {"churn"}
    assert all(r["mrr_usd"] == Decimal("0.00") for r in got)
    # the churned MRR of the bridge is the sum of the listed previous MRR
    churned = gold(lakehouse, "select churned_mrr_usd from gold.mrr_movements_monthly "
                              "where month_start = ?", [month])[0][0]
    assert sum(r["previous_mrr_usd"] for r in got) == churned


def test_accounts_behind_a_cohort_cell_are_its_retained_accounts(lakehouse: Settings) -> None:
    """Given a cohort cell of gold.cohort_retention, when it is drilled into, then as many accounts
    are listed as the cell's retained_customers, all of that cohort, their MRR summing to the
    cell's cohort MRR."""
    cohort, k, retained, mrr = gold(
        lakehouse, "select cohort_month, months_since_start, retained_customers, cohort_mrr_usd "
                   "from gold.cohort_retention where months_since_start = 3 "
                   "order by retained_customers desc limit 1")[0]
    drill = charts.picked_drill(cohort_pick=pd.DataFrame(
        {"cohort_month": [pd.Timestamp(cohort)], "months_since_start": [k]}))
    assert drill is not None
    months = cohort.month - 1 + k
    assert drill.month == date(cohort.year + months // 12, months % 12 + 1, 1)
    got = metrics.fetch_accounts(lakehouse, drill.month, cohort=drill.cohort).to_pylist()
    assert len(got) == retained
    assert {r["cohort_month"] for r in got} == {cohort}
    assert sum(r["mrr_usd"] for r in got) == mrr


def test_top_accounts_and_an_account_history(lakehouse: Settings) -> None:
    """Given the last month, when the top accounts are listed and the first one's history is
    fetched, then they are Gold's largest MRRs and the history is its Gold rows, month by month."""
    month, = gold(lakehouse, "select max(month_start) from gold.fct_account_mrr_monthly")[0]
    top = metrics.fetch_accounts(lakehouse, month, limit=5).to_pylist()
    want = gold(lakehouse, "select account_id, mrr_usd from gold.fct_account_mrr_monthly "
                           "where month_start = ? and movement <> 'inactive' "
                           "order by mrr_usd desc, account_id limit 5", [month])
    assert [(r["account_id"], r["mrr_usd"]) for r in top] == want
    history = metrics.fetch_account_history(lakehouse, top[0]["account_id"]).to_pylist()
    rows = gold(lakehouse, "select month_start, mrr_usd, movement from "
                           "gold.fct_account_mrr_monthly where account_id = ? order by 1",
                [top[0]["account_id"]])
    assert [(r["month_start"], r["mrr_usd"], r["movement"]) for r in history] == rows


def test_an_unknown_movement_is_one_clear_error(lakehouse: Settings) -> None:
    with pytest.raises(metrics.MetricFilterError, match="unknown movement 'gone'"):
        metrics.fetch_accounts(lakehouse, date(2025, 1, 1), movement="gone")


def test_derived_kpis_equal_their_definitions_on_gold(lakehouse: Settings) -> None:
    """Given the dashboard data of a real build, when the derived KPIs of a month with churn are
    computed, then net new MRR is closing minus opening, LTV is ARPA / logo churn, and trial
    conversion is converted / closed trials of that month and the two before, from Gold."""
    data = metrics.fetch_dashboard(lakehouse)
    month = busiest_churn_month(lakehouse)
    values = charts.headline_values(data, month)
    opening, closing = gold(lakehouse, "select opening_mrr_usd, closing_mrr_usd from "
                                       "gold.mrr_movements_monthly where month_start = ?",
                            [month])[0]
    arpa, churn = gold(lakehouse, "select arpa_usd, logo_churn_rate from gold.saas_kpis_monthly "
                                  "where month_start = ?", [month])[0]
    converted, closed = gold(lakehouse, "select sum(trials_converted), "
                                        "sum(trials_converted + trials_lapsed) from "
                                        "gold.trial_conversion_monthly where month_start "
                                        "between ? - interval 2 month and ?", [month, month])[0]
    assert values["net_new_mrr_usd"] == closing - opening
    assert values["ltv_usd"] == Decimal(float(arpa) / churn).quantize(Decimal("0.01"))
    assert values["trial_conversion_3m"] == (converted / closed if closed else None)
    cards = {k.key: k for k in charts.kpi_cards(data)}
    assert {"net_new_mrr_usd", "quick_ratio", "trial_conversion_3m", "ltv_usd",
            "arpa_usd", "paying_customers"} <= set(cards)


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("5390123.45"), "$5.39M"), (Decimal("41885.30"), "$41.9K"),
    (Decimal("503000"), "$503K"), (Decimal("910.55"), "$910.55"), (-9486.49, "-$9.49K"),
    (None, "n/a"), (2.5e9, "$2.50B"),
])
def test_short_money_for_cards(value: Decimal | float | None, text: str) -> None:
    assert charts.format_money_short(value) == text


def test_tables_show_money_and_rates_readably() -> None:
    """Given a table with money, a rate and a ratio, when it is made readable, then money is float
    with a dollar format, rates are percentages, and the text table rounds floats."""
    table = pa.table({"mrr_usd": pa.array([Decimal("41885.30")], pa.decimal128(18, 2)),
                      "logo_churn_rate": [0.05405405405405406], "quick_ratio": [45.72806045],
                      "big": [12345678.9], "tiny": [0.000001234]})
    frame, formats = charts.readable_table(table)
    assert frame["mrr_usd"].dtype == "float64"
    assert frame["mrr_usd"].iloc[0] == 41885.30
    assert formats == {"mrr_usd": "${:,.2f}", "logo_churn_rate": "{:.1%}",
                       "quick_ratio": "{:.2f}"}
    row = format_table(table, "table").splitlines()[2].split(" | ")
    assert [c.strip() for c in row] == ["41885.30", "0.0540541", "45.7281", "12345678.90",
                                        "1.234e-06"]
    assert "0.05405405405405406" in format_table(table, "csv")


def test_a_click_on_the_bridge_or_movements_asks_for_its_accounts() -> None:
    """Given chart selections as marimo returns them, then each asks for the right accounts."""
    movements = pd.DataFrame({"month_start": [pd.Timestamp("2025-07-01")],
                              "movement": ["churn"], "mrr_usd": [-9486.49]})
    bridge = pd.DataFrame({"step": ["expansion"], "month": ["2025-03-01"]})
    opening = pd.DataFrame({"step": ["opening"], "month": ["2025-03-01"]})
    assert charts.picked_drill(movements_pick=movements) == charts.Drill(
        date(2025, 7, 1), movement="churn")
    assert charts.picked_drill(bridge_pick=bridge) == charts.Drill(date(2025, 3, 1),
                                                                   movement="expansion")
    assert charts.picked_drill(bridge_pick=opening) == charts.Drill(date(2025, 3, 1))
    assert charts.picked_drill(movements_pick=movements.iloc[:0]) is None
    assert charts.Drill(date(2025, 7, 1), movement="churn").title == (
        "Accounts with movement 'churn' in 2025-07")


def test_every_dashboard_chart_is_a_valid_spec_built_without_from_dict(
        lakehouse: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the dashboard's data, when every chart of the page is built and serialised as
    marimo does, then Altair's ``from_dict`` (two thirds of a chart's CPU, ADR 0025) is never
    called, and every spec is valid Vega-Lite."""
    import altair as alt

    calls: list[str] = []
    from_dict = alt.SchemaBase.from_dict.__func__  # type: ignore[attr-defined]

    def counted(cls: type, *args: object, **kwargs: object) -> object:
        calls.append(cls.__name__)
        return from_dict(cls, *args, **kwargs)

    options = metrics.fetch_filter_options(lakehouse)
    assert options.last_month is not None
    data = metrics.fetch_dashboard(lakehouse)
    breakdown = metrics.fetch_breakdown(lakehouse, "segment", options.last_month)
    monkeypatch.setattr(alt.SchemaBase, "from_dict", classmethod(counted))
    built = [charts.breakdown_chart(breakdown, "segment"), charts.kpi_trends_chart(data),
             *charts.dashboard_charts(data).values()]
    specs = [chart.to_dict(validate=False) for chart in built]
    assert calls == []
    monkeypatch.undo()
    assert all(chart.to_dict(validate=True) == spec for chart, spec in zip(built, specs,
                                                                              strict=True))
