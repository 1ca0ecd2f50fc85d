"""Additive cells: Gold pre-summed by slice, once per publication, for fast filtered metrics.

A dashboard filter selects *accounts* by five attributes (``DIMENSIONS``), and every
SaaS metric of the metric layer is a ratio of sums over accounts. So the account rows can
be summed once into cells keyed by month (or cohort and age) and the five attributes, and
the metrics of any slice are sums over the cells it selects: the same decimals added in
another order, hence exactly the same numbers (ADR 0016).

- ``attributes``: one row per account, its segment, country and primary plan's tier,
  interval and currency (the rule is in ``analytics.metrics``'s module docstring).
- ``mrr``: month x attributes: the bridge sums (opening, movements, closing, customer
  counts) and the 12-month retention sums (base, retained and capped MRR of the accounts
  that paid twelve months before).
- ``cohorts``: cohort month x age x attributes: accounts, retained accounts, MRR.
- ``trials``: one row per trial with its account's attributes (a median is not additive,
  so these stay rows; there are few of them).

``materialize`` computes all four from a cursor of the read-only surface and returns them
as Arrow tables; ``analytics.metrics.open_metrics`` keeps them per publication in the
process (``transform.readonly.Surface.memo``) and registers them on every cursor it hands
out under ``TABLES``. They are Arrow held by Python, registered per cursor, so no SQL
text run on another cursor of the surface can change them.
"""

from __future__ import annotations

from decimal import Decimal

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from analytics.filters import DIMENSIONS

#: Registered name of each cell table on a metric-layer cursor.
TABLES = {
    "attributes": "_metric_cells__attributes",
    "mrr": "_metric_cells__mrr",
    "cohorts": "_metric_cells__cohorts",
    "trials": "_metric_cells__trials",
}
#: The attribute columns of every cell table (the filterable dimensions).
KEYS = tuple(DIMENSIONS)

ZERO = ibis.literal(Decimal("0.00"), type="decimal(18, 2)")


def gold_table(backend: ibis.BaseBackend, name: str) -> ir.Table:
    """A published Gold table as an Ibis table."""
    return backend.table(name, database="gold")


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


def _with_attributes(facts: ir.Table, attributes: ir.Table) -> ir.Table:
    """``facts`` with the five attributes of their account (NULL for an unknown account)."""
    joined = facts.left_join(attributes, facts.account_id == attributes.account_id)
    return joined.select(*[facts[c] for c in facts.columns],
                         *[attributes[k] for k in KEYS])


def mrr_cells(backend: ibis.BaseBackend, attributes: ir.Table) -> ir.Table:
    """Month x attributes: the MRR bridge sums and the 12-month retention sums."""
    facts = gold_table(backend, "fct_account_mrr_monthly")
    earlier = facts.filter(facts.mrr_usd > 0).select(
        "account_id",
        base_month=(facts.month_start + ibis.interval(months=12)).cast("date"),
        base_mrr=facts.mrr_usd)
    with_base = facts.left_join(
        earlier, (facts.account_id == earlier.account_id)
        & (facts.month_start == earlier.base_month)
    ).select(*[facts[c] for c in facts.columns], earlier.base_mrr)
    rows = _with_attributes(with_base, attributes)
    movement = rows.movement
    has_base = rows.base_mrr.notnull()
    return rows.group_by(["month_start", *KEYS]).aggregate(
        opening_mrr_usd=rows.previous_mrr_usd.sum(),
        new_mrr_usd=ibis.cases((movement == "new", rows.mrr_usd), else_=ZERO).sum(),
        expansion_mrr_usd=ibis.cases((movement == "expansion", rows.mrr_change_usd),
                                     else_=ZERO).sum(),
        reactivation_mrr_usd=ibis.cases((movement == "reactivation", rows.mrr_usd),
                                        else_=ZERO).sum(),
        contraction_mrr_usd=ibis.cases((movement == "contraction", -rows.mrr_change_usd),
                                       else_=ZERO).sum(),
        churned_mrr_usd=ibis.cases((movement == "churn", rows.previous_mrr_usd),
                                   else_=ZERO).sum(),
        closing_mrr_usd=rows.mrr_usd.sum(),
        customers_opening=(rows.previous_mrr_usd > 0).sum().cast("int64"),
        customers_new=(movement == "new").sum().cast("int64"),
        customers_reactivated=(movement == "reactivation").sum().cast("int64"),
        customers_churned=(movement == "churn").sum().cast("int64"),
        customers_closing=(rows.mrr_usd > 0).sum().cast("int64"),
        # NULL (not 0) where no account of the cell paid twelve months before, so that a
        # slice without any such account has no NRR/GRR, as per account rows.
        base_mrr_usd=rows.base_mrr.sum(),
        retained_mrr_usd=ibis.cases((has_base, rows.mrr_usd)).sum(),
        capped_mrr_usd=ibis.cases((has_base, ibis.least(rows.mrr_usd, rows.base_mrr))).sum(),
    )


def cohort_cells(backend: ibis.BaseBackend, attributes: ir.Table) -> ir.Table:
    """Cohort month x months since start x attributes: accounts, retained accounts, MRR."""
    facts = gold_table(backend, "fct_account_mrr_monthly")
    facts = facts.mutate(
        months_since_start=facts.month_start.delta(facts.cohort_month, unit="month"))
    rows = _with_attributes(facts, attributes)
    return rows.group_by(["cohort_month", "months_since_start", *KEYS]).aggregate(
        cohort_customers=rows.count().cast("int64"),
        retained_customers=(rows.mrr_usd > 0).sum().cast("int64"),
        cohort_mrr_usd=rows.mrr_usd.sum(),
    )


def trial_rows(backend: ibis.BaseBackend, attributes: ir.Table) -> ir.Table:
    """One row per trial: the month it began, its outcome, and its account's attributes."""
    subscriptions = gold_table(backend, "fct_subscriptions")
    trials = subscriptions.filter(subscriptions.had_trial)
    began = trials.trial_start_at.fill_null(trials.started_at)
    trials = trials.select(
        "account_id",
        month_start=began.truncate("M").date(),
        converted=trials.is_trial_converted,
        is_open=~trials.is_trial_converted & (trials.status == "trialing"),
        days_to_convert=trials.trial_converted_at.delta(began, unit="day"),
    )
    return _with_attributes(trials, attributes).drop("account_id")


def materialize(backend: ibis.BaseBackend) -> dict[str, pa.Table]:
    """Compute every cell table of the backend's publication, as Arrow (keys of ``TABLES``)."""
    out = {"attributes": account_attributes(backend).to_pyarrow()}
    attributes = ibis.memtable(out["attributes"])
    out["mrr"] = mrr_cells(backend, attributes).to_pyarrow()
    out["cohorts"] = cohort_cells(backend, attributes).to_pyarrow()
    out["trials"] = trial_rows(backend, attributes).to_pyarrow()
    return out
