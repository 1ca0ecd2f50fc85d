"""The metric layer (analytics.metrics) against the dbt Gold tables and by hand."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from analytics import metrics
from lakecore.settings import Settings
from tests.helpers import PROJECT
from transform.warehouse import connect_readonly

GOLD_CHECKS = {
    "mrr_movements_monthly": (metrics.mrr_movements, "month_start"),
    "saas_kpis_monthly": (metrics.saas_kpis, "month_start"),
    "cohort_retention": (metrics.cohort_retention, "cohort_month, months_since_start"),
    "trial_conversion_monthly": (metrics.trial_conversion, "month_start"),
}


def gold_rows(settings: Settings, table: str, order: str = "all") -> list[dict[str, Any]]:
    with connect_readonly(settings) as con:
        relation = con.sql(f"select * from gold.{table} order by {order}")
        return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def gold_counts(settings: Settings) -> dict[str, int]:
    with connect_readonly(settings) as con:
        names = [n for (n,) in con.execute(
            "select table_name from duckdb_tables() where database_name = 'gold'").fetchall()]
        return {n: con.execute(f"select count(*) from gold.{n}").fetchone()[0] for n in names}


@pytest.mark.parametrize("table", list(GOLD_CHECKS))
def test_unfiltered_metrics_equal_the_dbt_tables_exactly(lakehouse: Settings, table: str
                                                         ) -> None:
    """Given the published Gold of a real build, when the metric layer recomputes a Gold metric
    table without filters, then every row and value equals the dbt table exactly."""
    # Given the published Gold of a real build
    expected = gold_rows(lakehouse, table, GOLD_CHECKS[table][1])
    # When the metric layer recomputes the table without filters
    build, _order = GOLD_CHECKS[table]
    with metrics.open_metrics(lakehouse) as backend:
        actual = build(backend).to_pyarrow().to_pylist()
    # Then every row and value is identical (decimals to the cent, the same floats)
    assert len(expected) > 10
    assert actual == expected


def backend_rows(expr: Any) -> list[dict[str, Any]]:
    """Execute an Ibis expression; rows as dictionaries (decimals stay Decimal)."""
    return expr.to_pyarrow().to_pylist()


def _hand_bridge(rows: list[dict[str, Any]]) -> dict[date, dict[str, Any]]:
    """MRR, customers, new and churned MRR per month, summed in plain Python."""
    months: dict[date, dict[str, Any]] = defaultdict(
        lambda: {"mrr": Decimal(0), "customers": 0, "new": Decimal(0), "churned": Decimal(0)})
    for r in rows:
        m = months[r["month_start"]]
        m["mrr"] += r["mrr_usd"]
        m["customers"] += r["mrr_usd"] > 0
        if r["movement"] == "new":
            m["new"] += r["mrr_usd"]
        if r["movement"] == "churn":
            m["churned"] += r["previous_mrr_usd"]
    return dict(months)


def test_segment_and_country_filter_equal_a_hand_checked_subset(lakehouse: Settings) -> None:
    """Given the account facts and the accounts' segment and country, when the metric layer filters
    by segment, country and a date range ending mid-month, then the KPIs and movements equal sums by
    hand over the chosen accounts, month by month."""
    # Given the account facts and the accounts' segment and country
    facts = gold_rows(lakehouse, "fct_account_mrr_monthly")
    accounts = {r["account_id"]: r for r in gold_rows(lakehouse, "dim_accounts")}
    country = max(("US", "DE", "GB"), key=lambda c: sum(
        1 for a in accounts.values() if a["country_code"] == c and a["segment"] == "smb"))
    chosen = {a for a, r in accounts.items()
              if r["segment"] == "smb" and r["country_code"] == country}
    start, end = date(2025, 1, 1), date(2025, 12, 1)
    expected = {m: v for m, v in _hand_bridge(
        [r for r in facts if r["account_id"] in chosen]).items() if start <= m <= end}
    # When the metric layer filters segment, country and a date range (a mid-month day)
    filters = metrics.MetricFilters(start=start, end=date(2025, 12, 17), segment=("smb",),
                                    country=(country,))
    with metrics.open_metrics(lakehouse) as backend:
        kpis = backend_rows(metrics.saas_kpis(backend, filters))
        movements = backend_rows(metrics.mrr_movements(backend, filters))
    # Then it equals the hand-computed subset, month by month
    assert [k["month_start"] for k in kpis] == sorted(expected)
    for k, mv in zip(kpis, movements, strict=True):
        hand = expected[k["month_start"]]
        assert (k["mrr_usd"], k["paying_customers"]) == (hand["mrr"], hand["customers"])
        assert (mv["new_mrr_usd"], mv["churned_mrr_usd"]) == (hand["new"], hand["churned"])
        assert k["arr_usd"] == 12 * hand["mrr"]


def test_plan_filters_partition_the_business(lakehouse: Settings) -> None:
    """Given the whole business's last month, when its KPIs are computed for each value of each plan
    and account dimension, and broken down by tier, then no dimension's slices add up to more than
    the whole and the tiers add up to it exactly."""
    # Given the whole business's last month
    total = gold_rows(lakehouse, "saas_kpis_monthly", "month_start")[-1]
    options = metrics.fetch_filter_options(lakehouse)
    # When it is split by each plan dimension's values
    for dimension in ("tier", "billing_interval", "currency", "segment"):
        parts = []
        with metrics.open_metrics(lakehouse) as backend:
            for value in options.values[dimension]:
                filters = metrics.MetricFilters(**{dimension: (value,)})
                rows = backend_rows(metrics.saas_kpis(backend, filters))
                parts += [r for r in rows if r["month_start"] == total["month_start"]]
        # Then the slices add up to the whole (accounts fall in exactly one slice)
        assert sum(p["mrr_usd"] for p in parts) <= total["mrr_usd"], dimension
        assert sum(p["paying_customers"] for p in parts) <= total["paying_customers"]
    with metrics.open_metrics(lakehouse) as backend:
        tiers = backend_rows(metrics.mrr_by_dimension(backend, "tier", total["month_start"]))
    assert sum(t["mrr_usd"] for t in tiers) == total["mrr_usd"]
    assert sum(t["paying_customers"] for t in tiers) == total["paying_customers"]


def test_primary_plan_rule_by_hand(lakehouse: Settings) -> None:
    """Given each account's primary plan picked by hand (contributing first, then the highest MRR,
    the latest start, the highest id), when the metric layer lists the accounts' attributes, then
    their tier, interval and currency are that plan's."""
    # Given subscriptions and plans, the primary plan of every account by the rule
    subs = gold_rows(lakehouse, "fct_subscriptions")
    plans = {p["plan_id"]: p for p in gold_rows(lakehouse, "dim_plans")}
    best: dict[str, dict[str, Any]] = {}
    for s in subs:
        key = (bool(s["is_contributing_mrr"]), s["current_mrr_usd"] or 0, s["started_at"],
               s["subscription_id"])
        if s["account_id"] not in best or key > best[s["account_id"]]["key"]:
            best[s["account_id"]] = {"key": key, "plan": plans.get(s["plan_id"])}
    # When the metric layer lists the accounts' attributes
    with metrics.open_metrics(lakehouse) as backend:
        rows = backend_rows(metrics.account_attributes(backend))
    # Then tier, interval and currency are those of that plan
    checked = 0
    for row in rows:
        plan = best.get(row["account_id"], {}).get("plan")
        expected = (plan["tier"], plan["billing_interval"], plan["currency"]) if plan else (
            None, None, None)
        assert (row["tier"], row["billing_interval"], row["currency"]) == expected
        checked += plan is not None
    assert checked > 50


def test_injection_through_a_filter_value_matches_nothing_and_changes_nothing(
        lakehouse: Settings) -> None:
    """Given the row counts of every Gold table, when filter and breakdown values carry SQL, then
    they match no account and every table is intact."""
    # Given the row counts of every Gold table
    before = gold_counts(lakehouse)
    # When a filter value carries SQL
    evil = "x' OR 1=1 --"
    filters = metrics.MetricFilters(segment=(evil,),
                                    country=("'; drop table gold.dim_accounts; --",))
    data = metrics.fetch_dashboard(lakehouse, filters)
    breakdown = metrics.fetch_breakdown(lakehouse, "tier", date(2025, 12, 1),
                                        metrics.MetricFilters(tier=(evil,)))
    # Then it matches no account, and every table is intact
    assert data.kpis.num_rows == 0
    assert data.movements.num_rows == 0
    assert data.cohorts.num_rows == 0
    assert breakdown.num_rows == 0
    assert gold_counts(lakehouse) == before


@pytest.mark.parametrize("mapping", [
    {"segment; drop table x": ["smb"]},
    {"account_name": ["x"]},
])
def test_unknown_filter_dimensions_are_refused(mapping: dict[str, Any]) -> None:
    """Given a filter mapping with an unknown dimension (SQL in its name, or a column that is no
    filter), when MetricFilters are made from it, then MetricFilterError says it is an unknown
    filter dimension."""
    with pytest.raises(metrics.MetricFilterError, match="unknown filter dimension"):
        metrics.MetricFilters.from_mapping(mapping)


def test_unknown_breakdown_dimension_is_refused(lakehouse: Settings) -> None:
    """Given the built lakehouse, when a breakdown by a column that is no breakdown dimension is
    asked for, then MetricFilterError says it is an unknown dimension."""
    with pytest.raises(metrics.MetricFilterError, match="unknown dimension"):
        metrics.fetch_breakdown(lakehouse, "account_name", date(2025, 12, 1))


def test_bad_filter_values_are_refused() -> None:
    """Given a filter value that is a bare string instead of a tuple, or a start after the end, when
    MetricFilters are made, then MetricFilterError is raised."""
    with pytest.raises(metrics.MetricFilterError):
        metrics.MetricFilters(segment="smb")  # type: ignore[arg-type]
    with pytest.raises(metrics.MetricFilterError, match="after end"):
        metrics.MetricFilters(start=date(2025, 3, 1), end=date(2025, 1, 31))


def test_the_connection_is_closed_after_use(lakehouse: Settings) -> None:
    """Given a metric-layer backend used inside its context, when the context exits, then its DuckDB
    connection is closed."""
    # Given a backend whose connection answers inside its context
    with metrics.open_metrics(lakehouse) as backend:
        con = backend.con
        assert con.execute("select 1").fetchone() == (1,)
    # When the context has exited, then the connection is closed
    with pytest.raises(duckdb.ConnectionException):
        con.execute("select 1")


def test_the_connection_is_read_only(lakehouse: Settings) -> None:
    """Given the metric layer's connection, when it is sent a DELETE on a Gold table, then DuckDB
    refuses it."""
    with metrics.open_metrics(lakehouse) as backend, pytest.raises(duckdb.Error):
        backend.raw_sql("delete from gold.main.dim_accounts")


def test_queries_share_one_attached_connection_per_publication(lakehouse: Settings) -> None:
    """Given a query through the shared read-only connection, when a second query reads the same
    publication, then the same single connection serves it (no new attach) with the same result."""
    from transform import readonly as warehouse

    # Given a first query through the shared read-only connection
    with warehouse.shared_readonly(lakehouse) as first:
        first_total = first.execute("select count(*) from gold.dim_accounts").fetchone()
    def full_surfaces() -> dict[Any, int]:  # the dashboard's own surface aside (ADR 0025)
        return {k: id(v) for k, v in warehouse._SHARED.items()
                if k[0] == str(lakehouse.root) and k[3] is None}

    shared = full_surfaces()
    # When a second query reads the same publication
    with warehouse.shared_readonly(lakehouse) as second:
        assert second.execute("select count(*) from gold.dim_accounts").fetchone() == first_total
    # Then the same connection serves the second call: no new attach for the same publication
    assert full_surfaces() == shared
    assert len(shared) == 1


@pytest.mark.parametrize("filters", [
    metrics.MetricFilters(),
    metrics.MetricFilters(segment=("smb",)),
    metrics.MetricFilters(start=date(2024, 6, 3), end=date(2025, 9, 30),
                          segment=("smb", "mid_market"), billing_interval=("month",)),
    metrics.MetricFilters(end=date(2025, 3, 1), tier=("growth", "scale"), currency=("usd",)),
    metrics.MetricFilters(start=date(2025, 1, 1), country=("US", "DE")),
], ids=["whole", "segment", "range-segments-interval", "end-tiers-currency", "start-countries"])
def test_the_dashboard_statements_equal_the_metric_expressions(
        lakehouse: Settings, filters: metrics.MetricFilters) -> None:
    """Given a slice (dimensions and a date range), when the dashboard fetches it through the
    statements compiled once per publication, then every table equals the metric layer's Ibis
    expression for the same slice exactly, and so does the breakdown by every dimension."""
    # When the dashboard fetches the slice
    data = metrics.fetch_dashboard(lakehouse, filters)
    month = filters.end or date(2025, 12, 1)
    breakdowns = {d: metrics.fetch_breakdown(lakehouse, d, month, filters).to_pylist()
                  for d in metrics.DIMENSIONS}
    # Then each table equals the Ibis expression's rows, value for value
    with metrics.open_metrics(lakehouse) as backend:
        expected = {
            "kpis": backend_rows(metrics.saas_kpis(backend, filters)),
            "movements": backend_rows(metrics.mrr_movements(backend, filters)),
            "cohorts": backend_rows(metrics.cohort_retention(backend, filters)),
            "trials": backend_rows(metrics.trial_conversion(backend, filters)),
        }
        expected_breakdowns = {
            d: backend_rows(metrics.mrr_by_dimension(backend, d, month, filters))
            for d in metrics.DIMENSIONS}
    assert expected["kpis"], "the slice must hold months"
    for name, rows in expected.items():
        assert getattr(data, name).to_pylist() == rows, name
    for d, rows in expected_breakdowns.items():
        # ties in MRR may come in either order
        def key(row: dict[str, Any], d: str = d) -> tuple[Any, Any]:
            return (row["mrr_usd"], row[d])
        assert sorted(breakdowns[d], key=key) == sorted(rows, key=key), d


#: A fresh process's first dashboard calls, reporting whether Ibis's SQL backend was loaded.
FRESH_DASHBOARD = """
import sys
from analytics import metrics
from lakecore.settings import Settings
settings = Settings.from_env(root=sys.argv[1])
metrics.fetch_filter_options(settings)
latest = metrics.fetch_dashboard(settings).latest()
print(latest["mrr_usd"], "ibis.backends.duckdb" in sys.modules)
"""


def test_committed_statements_are_current_and_spare_a_fresh_process_ibis(
        lakehouse: Settings) -> None:
    """Given the dashboard statements committed beside the metric layer (ADR 0025), then they
    were compiled for this module and Gold's cell schemas (else: run `python -m
    analytics.metrics` on a built lakehouse and commit the file), equal a fresh compile, and a
    fresh process's first dashboard calls give Gold's MRR without loading Ibis's backend."""
    from transform.readonly import shared_surface

    with shared_surface(lakehouse, tables=metrics.DASHBOARD_TABLES) as (_surface, cursor):
        schemas = {kind: cursor.execute(f"select * from gold.{name} limit 0").to_arrow_table()
                   .schema for kind, name in metrics.CELLS.items()}
    stored = metrics._stored_statements(metrics.statements_fingerprint(schemas))
    assert stored is not None, ("analytics/compiled_statements.json is stale: run "
                                "`python -m analytics.metrics` on a built lakehouse")
    assert stored == metrics.compile_statements(schemas)
    result = subprocess.run([sys.executable, "-c", FRESH_DASHBOARD, str(lakehouse.root)],
                            cwd=PROJECT, capture_output=True, text=True, check=True)
    mrr, backend_loaded = result.stdout.split()
    assert Decimal(mrr) == gold_rows(lakehouse, "saas_kpis_monthly", "month_start")[-1]["mrr_usd"]
    assert backend_loaded == "False"
