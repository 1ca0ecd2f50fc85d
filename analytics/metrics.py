"""The metric layer: SaaS metrics over Gold as lazy Ibis expressions, with filters.

Gold's metric tables (``mrr_movements_monthly``, ``saas_kpis_monthly``,
``cohort_retention``) hold the metrics of the whole business. Dashboards also need them
for a slice (a segment, a country, a plan tier, a billing interval, a currency, a date
range). This module recomputes every metric of docs/reference/gold-metrics.md from the rounded
account MRRs of ``gold.fct_account_mrr_monthly`` with the same formulas as the dbt models, so that

* unfiltered, every figure equals the dbt table exactly (to the cent, the same floats);
* filtered, a figure is the metric of the accounts that match (see "Filters").

Everything is an Ibis expression compiled to one SQL query that DuckDB runs; nothing is
pulled into Python before the final, small result.

Filters
-------
Filters select *accounts*, never single subscriptions or rows, so every identity of
docs/reference/gold-metrics.md (the MRR bridge, opening = previous closing, cohort sizes) holds
within a slice, and the slices of one dimension add up to the whole. ``segment`` and ``country``
come from ``gold.dim_accounts``. ``tier``, ``billing_interval`` and ``currency`` come
from the account's *primary plan*: the plan of its subscription that contributes most
MRR in the as-of month, else of its most recently started subscription (ties: the
subscription id). Allowed dimensions are a fixed allow-list (``DIMENSIONS``); values
reach SQL only as Ibis literals (RELIABILITY B14). The date range limits the months
shown (and, for cohort retention, the cohorts and months shown); metrics that look back
(opening MRR, NRR/GRR over 12 months) still see the months before the range.

Connections
-----------
``open_metrics(settings)`` is a context manager: a read-only DuckDB connection on the
last *published* build (``transform.readonly.shared_readonly``), wrapped for Ibis,
closed on exit. The ``fetch_*`` functions take one cursor per call from a connection the
process shares per published build (``transform.readonly.shared_readonly``), so only the
first call after a build pays for attaching the catalogs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from analytics.filters import DIMENSIONS, MetricFilterError, MetricFilters, month_of
from lakecore.settings import Settings
from transform.readonly import shared_readonly

#: Movements of ``fct_account_mrr_monthly`` in bridge order.
MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churn")

MONEY = ibis.dtype("decimal(18, 2)")
CENT = ibis.literal(Decimal("0.01"), type="decimal(18, 2)")


# Connections -----------------------------------------------------------------------------
@contextmanager
def open_metrics(settings: Settings) -> Iterator[ibis.BaseBackend]:
    """An Ibis backend over the last published Silver/Gold (read-only).

    It runs on a cursor of the process's shared connection for the current publication
    (``transform.readonly.shared_readonly``), closed on exit: attaching the catalogs once
    per publication instead of once per query keeps a filter change fast.

    Raises:
        transform.warehouse.WarehouseNotBuiltError: Nothing was built yet.
    """
    with shared_readonly(settings) as con:
        yield ibis.duckdb.from_connection(con)


def gold_table(backend: ibis.BaseBackend, name: str) -> ir.Table:
    """A published Gold table as an Ibis table."""
    return backend.table(name, database="gold")


# Expressions -----------------------------------------------------------------------------
def account_attributes(backend: ibis.BaseBackend) -> ir.Table:
    """One row per account: segment, country and its primary plan's tier, interval, currency."""
    accounts = gold_table(backend, "dim_accounts")
    subscriptions = gold_table(backend, "fct_subscriptions")
    plans = gold_table(backend, "dim_plans")
    ranked = subscriptions.mutate(
        _rank=ibis.row_number().over(
            group_by=subscriptions.account_id,
            order_by=[
                ibis.desc(subscriptions.is_contributing_mrr.fill_null(False)),
                ibis.desc(subscriptions.current_mrr_usd.fill_null(0)),
                ibis.desc(subscriptions.started_at),
                ibis.desc(subscriptions.subscription_id),
            ],
        )
    )
    primary = ranked.filter(ranked._rank == 0).select("account_id", "plan_id")
    primary_plan = primary.left_join(plans, primary.plan_id == plans.plan_id).select(
        primary.account_id, plans.tier, plans.billing_interval, plans.currency
    )
    return accounts.left_join(
        primary_plan, accounts.account_id == primary_plan.account_id
    ).select(
        accounts.account_id,
        accounts.segment,
        country=accounts.country_code,
        tier=primary_plan.tier,
        billing_interval=primary_plan.billing_interval,
        currency=primary_plan.currency,
    )


def account_mrr(backend: ibis.BaseBackend, filters: MetricFilters | None = None) -> ir.Table:
    """``gold.fct_account_mrr_monthly`` restricted to the accounts the filters select.

    All months are kept (look-back metrics need them); callers cut the date range.
    """
    filters = filters or MetricFilters()
    facts = gold_table(backend, "fct_account_mrr_monthly")
    if not filters.restricts_accounts:
        return facts
    attributes = account_attributes(backend)
    predicates = [attributes[name].isin(list(values))
                  for name, values in filters.dimension_values().items()]
    selected = attributes.filter(*predicates).select("account_id")
    return facts.semi_join(selected, "account_id")


def _in_range(column: ir.DateValue, filters: MetricFilters) -> list[ir.BooleanValue]:
    predicates = []
    if filters.start is not None:
        predicates.append(column >= ibis.literal(month_of(filters.start), type="date"))
    if filters.end is not None:
        predicates.append(column <= ibis.literal(month_of(filters.end), type="date"))
    return predicates


def _where(table: ir.Table, predicates: list[ir.BooleanValue]) -> ir.Table:
    return table.filter(*predicates) if predicates else table


def _money(value: ir.NumericValue) -> ir.NumericValue:
    return value.fill_null(0).cast(MONEY)


def _bridge(facts: ir.Table) -> ir.Table:
    """The MRR bridge of every month the facts cover (no date cut)."""
    zero = ibis.literal(Decimal("0.00"), type="decimal(18, 2)")
    movement = facts.movement
    return facts.group_by("month_start").aggregate(
        opening_mrr_usd=_money(facts.previous_mrr_usd.sum()),
        new_mrr_usd=_money(ibis.cases((movement == "new", facts.mrr_usd), else_=zero).sum()),
        expansion_mrr_usd=_money(
            ibis.cases((movement == "expansion", facts.mrr_change_usd), else_=zero).sum()),
        reactivation_mrr_usd=_money(
            ibis.cases((movement == "reactivation", facts.mrr_usd), else_=zero).sum()),
        contraction_mrr_usd=_money(
            ibis.cases((movement == "contraction", -facts.mrr_change_usd), else_=zero).sum()),
        churned_mrr_usd=_money(
            ibis.cases((movement == "churn", facts.previous_mrr_usd), else_=zero).sum()),
        closing_mrr_usd=_money(facts.mrr_usd.sum()),
        customers_opening=(facts.previous_mrr_usd > 0).sum().cast("int64"),
        customers_new=(movement == "new").sum().cast("int64"),
        customers_reactivated=(movement == "reactivation").sum().cast("int64"),
        customers_churned=(movement == "churn").sum().cast("int64"),
        customers_closing=(facts.mrr_usd > 0).sum().cast("int64"),
    )


def mrr_movements(backend: ibis.BaseBackend, filters: MetricFilters | None = None
                  ) -> ir.Table:
    """The MRR bridge per month (columns of ``gold.mrr_movements_monthly``)."""
    filters = filters or MetricFilters()
    bridge = _bridge(account_mrr(backend, filters))
    return _where(bridge, _in_range(bridge.month_start, filters)).order_by("month_start")


def _ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    return numerator.cast("float64") / denominator.cast("float64").nullif(0.0)


def _retention_12m(facts: ir.Table) -> ir.Table:
    base = facts.filter(facts.mrr_usd > 0).select(
        "account_id", base_month="month_start", base_mrr="mrr_usd")
    current = facts.select("account_id", "month_start", current_mrr="mrr_usd")
    joined = base.join(
        current,
        (base.account_id == current.account_id)
        & (current.month_start == (base.base_month + ibis.interval(months=12)).cast("date")),
    )
    current_mrr = joined.current_mrr.fill_null(0)
    return joined.group_by("month_start").aggregate(
        base_mrr_usd=joined.base_mrr.sum(),
        retained_mrr_usd=current_mrr.sum(),
        capped_mrr_usd=ibis.least(current_mrr, joined.base_mrr).sum(),
    )


def saas_kpis(backend: ibis.BaseBackend, filters: MetricFilters | None = None) -> ir.Table:
    """KPIs per month (columns of ``gold.saas_kpis_monthly``)."""
    filters = filters or MetricFilters()
    facts = account_mrr(backend, filters)
    bridge = _bridge(facts)
    first_month = bridge.month_start.min().as_scalar()
    retention = _retention_12m(facts)
    joined = bridge.left_join(retention, bridge.month_start == retention.month_start)
    customers = joined.customers_closing
    arpa_cents = ibis.cases(
        (customers > 0,
         (2 * (joined.closing_mrr_usd * 100).cast("int64") + customers) // (2 * customers)),
        else_=ibis.null("int64"),
    )
    looks_back = (joined.month_start - ibis.interval(months=12)).cast("date") >= first_month
    kpis = joined.select(
        month_start=bridge.month_start,
        mrr_usd=joined.closing_mrr_usd.cast(MONEY),
        arr_usd=(joined.closing_mrr_usd * 12).cast(MONEY),
        paying_customers=customers.cast("int64"),
        arpa_usd=(arpa_cents.cast(MONEY) * CENT).cast(MONEY),
        logo_churn_rate=joined.customers_churned.cast("float64")
        / joined.customers_opening.nullif(0),
        gross_mrr_churn_rate=_ratio(joined.churned_mrr_usd + joined.contraction_mrr_usd,
                                    joined.opening_mrr_usd),
        net_mrr_churn_rate=_ratio(
            joined.churned_mrr_usd + joined.contraction_mrr_usd
            - joined.expansion_mrr_usd - joined.reactivation_mrr_usd,
            joined.opening_mrr_usd),
        quick_ratio=_ratio(
            joined.new_mrr_usd + joined.expansion_mrr_usd + joined.reactivation_mrr_usd,
            joined.churned_mrr_usd + joined.contraction_mrr_usd),
        nrr_12m=ibis.cases((looks_back, _ratio(joined.retained_mrr_usd, joined.base_mrr_usd)),
                           else_=ibis.null("float64")),
        grr_12m=ibis.cases((looks_back, _ratio(joined.capped_mrr_usd, joined.base_mrr_usd)),
                           else_=ibis.null("float64")),
    )
    return _where(kpis, _in_range(kpis.month_start, filters)).order_by("month_start")


def cohort_retention(backend: ibis.BaseBackend, filters: MetricFilters | None = None
                     ) -> ir.Table:
    """Logo and net MRR retention per cohort and month (``gold.cohort_retention``).

    The date range keeps the cohorts that start in it and the months up to its end.
    """
    filters = filters or MetricFilters()
    facts = account_mrr(backend, filters)
    facts = facts.mutate(
        months_since_start=facts.month_start.delta(facts.cohort_month, unit="month"))
    by_month = facts.group_by("cohort_month", "months_since_start").aggregate(
        cohort_customers=facts.count(),
        retained_customers=(facts.mrr_usd > 0).sum(),
        cohort_mrr_usd=facts.mrr_usd.sum(),
    )
    starting = by_month.cohort_mrr_usd.first().over(
        group_by=by_month.cohort_month, order_by=by_month.months_since_start)
    with_start = by_month.mutate(cohort_starting_mrr_usd=starting)
    result = with_start.select(
        "cohort_month",
        months_since_start=with_start.months_since_start.cast("int32"),
        cohort_customers=with_start.cohort_customers.cast("int64"),
        retained_customers=with_start.retained_customers.cast("int64"),
        logo_retention_rate=with_start.retained_customers.cast("float64")
        / with_start.cohort_customers.nullif(0),
        cohort_starting_mrr_usd=with_start.cohort_starting_mrr_usd.cast(MONEY),
        cohort_mrr_usd=with_start.cohort_mrr_usd.cast(MONEY),
        net_mrr_retention_rate=_ratio(with_start.cohort_mrr_usd,
                                      with_start.cohort_starting_mrr_usd),
    )
    predicates = _in_range(result.cohort_month, filters)
    if filters.end is not None:
        last = ibis.literal(month_of(filters.end), type="date")
        predicates.append(
            (result.cohort_month + result.months_since_start.as_interval("M")).cast("date")
            <= last)
    return _where(result, predicates).order_by("cohort_month", "months_since_start")


def trial_conversion(backend: ibis.BaseBackend, filters: MetricFilters | None = None
                     ) -> ir.Table:
    """Trials by the month they started (columns of ``gold.trial_conversion_monthly``).

    A trial converts when a later version of its subscription pays (``active`` or
    ``past_due``); it is open while the subscription is still ``trialing``. The
    conversion rate is converted over closed (converted or lapsed) trials.
    """
    filters = filters or MetricFilters()
    subscriptions = gold_table(backend, "fct_subscriptions")
    if filters.restricts_accounts:
        attributes = account_attributes(backend)
        predicates = [attributes[name].isin(list(values))
                      for name, values in filters.dimension_values().items()]
        subscriptions = subscriptions.semi_join(
            attributes.filter(*predicates).select("account_id"), "account_id")
    trials = subscriptions.filter(subscriptions.had_trial)
    began = trials.trial_start_at.fill_null(trials.started_at)
    trials = trials.select(
        month_start=began.truncate("M").date(),
        converted=trials.is_trial_converted,
        is_open=~trials.is_trial_converted & (trials.status == "trialing"),
        days_to_convert=trials.trial_converted_at.delta(began, unit="day"),
    )
    closed = ~trials.is_open
    monthly = trials.group_by("month_start").aggregate(
        trials_started=trials.count().cast("int64"),
        trials_converted=trials.converted.sum().cast("int64"),
        trials_lapsed=(~trials.converted & closed).sum().cast("int64"),
        trials_open=trials.is_open.sum().cast("int64"),
        conversion_rate=_ratio(trials.converted.sum(), closed.sum()),
        median_days_to_convert=trials.days_to_convert.median().cast("float64"),
    )
    return _where(monthly, _in_range(monthly.month_start, filters)).order_by("month_start")


def mrr_by_dimension(backend: ibis.BaseBackend, dimension: str, month: date,
                     filters: MetricFilters | None = None) -> ir.Table:
    """Closing MRR and paying customers of one month, by a dimension's values."""
    _dimension(dimension)
    filters = filters or MetricFilters()
    facts = account_mrr(backend, filters)
    facts = facts.filter(facts.month_start == ibis.literal(month_of(month), type="date"),
                         facts.mrr_usd > 0)
    attributes = account_attributes(backend)
    joined = facts.join(attributes, "account_id")
    value = joined[dimension].fill_null("(unknown)")
    return (joined.group_by(value.name(dimension))
            .aggregate(mrr_usd=joined.mrr_usd.sum().cast(MONEY),
                       paying_customers=joined.count())
            .order_by(ibis.desc("mrr_usd")))


def _dimension(name: str) -> str:
    if name not in DIMENSIONS:
        raise MetricFilterError(f"unknown dimension {name!r}; allowed: {', '.join(DIMENSIONS)}")
    return DIMENSIONS[name]


# Results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DashboardData:
    """Every result the revenue dashboard shows, fetched on one short-lived connection."""

    filters: MetricFilters
    kpis: pa.Table
    movements: pa.Table
    cohorts: pa.Table
    trials: pa.Table

    @property
    def is_empty(self) -> bool:
        """Whether the slice has no month of KPIs (nothing matched the filters)."""
        return self.kpis.num_rows == 0

    def latest(self) -> dict[str, Any] | None:
        """The last month's KPI row, or None when no month matches."""
        if self.is_empty:
            return None
        return self.kpis.slice(self.kpis.num_rows - 1).to_pylist()[0]

    def previous(self) -> dict[str, Any] | None:
        """The KPI row of the month before the last one shown, or None."""
        if self.kpis.num_rows < 2:
            return None
        return self.kpis.slice(self.kpis.num_rows - 2, 1).to_pylist()[0]


def fetch_dashboard(settings: Settings, filters: MetricFilters | None = None
                    ) -> DashboardData:
    """KPIs, the MRR bridge, cohort retention and trials for the filters (one connection)."""
    filters = filters or MetricFilters()
    with open_metrics(settings) as backend:
        return DashboardData(
            filters=filters,
            kpis=saas_kpis(backend, filters).to_pyarrow(),
            movements=mrr_movements(backend, filters).to_pyarrow(),
            cohorts=cohort_retention(backend, filters).to_pyarrow(),
            trials=trial_conversion(backend, filters).to_pyarrow(),
        )


def fetch_breakdown(settings: Settings, dimension: str, month: date,
                    filters: MetricFilters | None = None) -> pa.Table:
    """``mrr_by_dimension`` executed on its own connection."""
    with open_metrics(settings) as backend:
        return mrr_by_dimension(backend, dimension, month, filters).to_pyarrow()


@dataclass(frozen=True)
class FilterOptions:
    """What the filter widgets offer: the month range and each dimension's values."""

    first_month: date | None
    last_month: date | None
    values: dict[str, list[str]]


def fetch_filter_options(settings: Settings) -> FilterOptions:
    """The months Gold covers and the distinct values of every filter dimension."""
    with open_metrics(settings) as backend:
        facts = gold_table(backend, "fct_account_mrr_monthly")
        bounds = facts.aggregate(first=facts.month_start.min(),
                                 last=facts.month_start.max()).to_pyarrow().to_pylist()[0]
        attributes = account_attributes(backend)
        values = {}
        for name in DIMENSIONS:
            column = attributes[name]
            distinct = attributes.filter(column.notnull()).select(column).distinct()
            values[name] = sorted(distinct.to_pyarrow().column(0).to_pylist())
    return FilterOptions(bounds["first"], bounds["last"], values)


def money_as_float(table: pa.Table, columns: Sequence[str] | None = None) -> pa.Table:
    """The same table with decimal columns as float64, for charts (never for checks)."""
    arrays = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        wanted = columns is None or name in columns
        is_money = wanted and pa.types.is_decimal(column.type)
        arrays.append(column.cast(pa.float64()) if is_money else column)
    return pa.table(arrays, names=table.column_names)


# Drill-down ------------------------------------------------------------------------------
#: What a drill-down can ask for besides the five bridge movements.
DRILL_MOVEMENTS = (*MOVEMENTS, "unchanged")
ACCOUNT_COLUMNS = ("account_id", "segment", "country", "tier", "billing_interval",
                   "currency", "cohort_month", "movement", "previous_mrr_usd", "mrr_usd",
                   "mrr_change_usd")


def accounts_in_month(backend: ibis.BaseBackend, month: date,
                      filters: MetricFilters | None = None, *, movement: str | None = None,
                      cohort: date | None = None) -> ir.Table:
    """The accounts behind one bar or cell of the dashboard, in one month.

    Args:
        backend: From ``open_metrics``.
        month: The month (any day of it).
        filters: The dashboard's account filters (the date range is not applied).
        movement: Only accounts with this movement in the month (a bridge or movements
            bar); None: every account with MRR in the month or the month before.
        cohort: Only accounts of this cohort still paying in the month (a cohort cell).

    Rows are ordered by the size of the change (a movement) or by MRR (otherwise).

    Raises:
        MetricFilterError: An unknown movement.
    """
    if movement is not None and movement not in DRILL_MOVEMENTS:
        raise MetricFilterError(f"unknown movement {movement!r}; "
                                f"choose one of {', '.join(DRILL_MOVEMENTS)}")
    facts = account_mrr(backend, filters)
    facts = facts.filter(facts.month_start == ibis.literal(month_of(month), type="date"),
                         facts.movement != "inactive")
    if movement is not None:
        facts = facts.filter(facts.movement == movement)
    if cohort is not None:
        facts = facts.filter(facts.cohort_month == ibis.literal(month_of(cohort), type="date"),
                             facts.mrr_usd > 0)
    attributes = account_attributes(backend)
    joined = facts.left_join(attributes, facts.account_id == attributes.account_id).select(
        facts.account_id, attributes.segment, attributes.country, attributes.tier,
        attributes.billing_interval, attributes.currency, facts.cohort_month,
        facts.movement, facts.previous_mrr_usd, facts.mrr_usd, facts.mrr_change_usd)
    order = (ibis.desc(joined.mrr_change_usd.abs()) if movement is not None
             else ibis.desc(joined.mrr_usd))
    return joined.order_by([order, joined.account_id])


def account_history(backend: ibis.BaseBackend, account_id: str) -> ir.Table:
    """One account's MRR, change and movement per month, from its first month with MRR."""
    facts = gold_table(backend, "fct_account_mrr_monthly")
    return facts.filter(facts.account_id == ibis.literal(account_id, type="string")).select(
        "month_start", "mrr_usd", "previous_mrr_usd", "mrr_change_usd", "movement"
    ).order_by("month_start")


def fetch_accounts(settings: Settings, month: date, filters: MetricFilters | None = None, *,
                   movement: str | None = None, cohort: date | None = None,
                   limit: int | None = None) -> pa.Table:
    """``accounts_in_month`` executed on its own connection (at most ``limit`` rows)."""
    with open_metrics(settings) as backend:
        expr = accounts_in_month(backend, month, filters, movement=movement, cohort=cohort)
        return (expr.limit(limit) if limit else expr).to_pyarrow()


def fetch_account_history(settings: Settings, account_id: str) -> pa.Table:
    """``account_history`` executed on its own connection."""
    with open_metrics(settings) as backend:
        return account_history(backend, account_id).to_pyarrow()
