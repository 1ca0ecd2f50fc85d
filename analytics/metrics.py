"""The metric layer: SaaS metrics over Gold as lazy Ibis expressions, with filters.

Gold's metric tables (``mrr_movements_monthly``, ``saas_kpis_monthly``,
``cohort_retention``, ``trial_conversion_monthly``) hold the metrics of the whole
business. Dashboards also need them for a slice (a segment, a country, a plan tier, a
billing interval, a currency, a date range). This module recomputes every metric of
docs/reference/gold-metrics.md with the same formulas as the dbt models from Gold's
*additive cells* (ADR 0016): ``metric_mrr_cells_monthly`` and ``metric_cohort_cells`` hold
the sums of the rounded account MRRs of ``fct_account_mrr_monthly`` per month (or cohort
and age) and per combination of the five filter attributes, and ``metric_trials`` one row
per trial. A slice's metric is a sum over the cells it selects, so that

* unfiltered, every figure equals the dbt table exactly (to the cent, the same floats);
* filtered, a figure is the metric of the accounts that match (see "Filters").

Everything is an Ibis expression compiled to SQL that DuckDB runs; nothing is pulled into
Python before the final, small result. ``fetch_dashboard`` and ``fetch_breakdown`` run
the same expressions compiled once per publication, on the cells filtered in Arrow.

Filters
-------
Filters select *accounts*, never single subscriptions or rows, so every identity of
docs/reference/gold-metrics.md (the MRR bridge, opening = previous closing, cohort sizes) holds
within a slice, and the slices of one dimension add up to the whole. ``segment`` and ``country``
come from ``gold.dim_accounts``. ``tier``, ``billing_interval`` and ``currency`` come
from the account's *primary plan*: the plan of its subscription that contributes most
MRR in the as-of month, else of its most recently started subscription (ties: the
subscription id); ``gold.dim_account_attributes`` holds all five per account.
Allowed dimensions are a fixed allow-list (``DIMENSIONS``); values reach SQL only as Ibis
literals or bound parameters (RELIABILITY B14). The date range limits the months shown
(and, for cohort retention, the cohorts and months shown); metrics that look back
(opening MRR, NRR/GRR over 12 months) still see the months before the range.

Connections
-----------
``open_metrics(settings)`` is a context manager: a read-only DuckDB connection on the
last *published* build (``transform.readonly.shared_readonly``), wrapped for Ibis,
closed on exit. The ``fetch_*`` functions take one cursor per call from a connection the
process shares per published build (``transform.readonly.shared_surface``), so only the
first call after a build pays for attaching the catalogs; that connection shows only the
Gold tables the dashboard reads (``DASHBOARD_TABLES``), so opening it lists five tables'
files instead of every Silver and Gold table's (ADR 0025).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot

from analytics.filters import DIMENSIONS, MetricFilterError, MetricFilters, month_of
from lakecore.settings import Settings
from transform.readonly import Surface, shared_readonly, shared_surface

#: Movements of ``fct_account_mrr_monthly`` in bridge order.
MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churn")

MONEY = ibis.dtype("decimal(18, 2)")
CENT = ibis.literal(Decimal("0.01"), type="decimal(18, 2)")


# Connections -----------------------------------------------------------------------------
@contextmanager
def open_metrics(settings: Settings) -> Iterator[ibis.BaseBackend]:
    """An Ibis backend over the last published Silver/Gold (read-only).

    It runs on a cursor of the process's shared surface for the current publication
    (``transform.readonly.shared_readonly``), closed on exit: attaching the catalogs once
    per publication instead of once per query keeps a filter change fast.

    Raises:
        transform.warehouse.WarehouseNotBuiltError: Nothing was built yet.
    """
    with shared_readonly(settings) as con:
        yield ibis.duckdb.from_connection(con)


@contextmanager
def open_spark_metrics(settings: Settings) -> Iterator[ibis.BaseBackend]:
    """An Ibis backend over the Spark-built Silver/Gold (``lakehouse build --engine spark``).

    Ibis's pyspark backend on the process's local Spark session (``lakecore.spark``): the
    metric functions of this module run on it unchanged and give the same numbers as on
    DuckDB (ADR 0022).

    Raises:
        lakecore.errors.EngineUnavailableError: The spark extra or Java is missing.
        transform.warehouse.WarehouseNotBuiltError: Nothing was built on Spark yet.
    """
    from transform.spark_build import spark_gold_session  # noqa: PLC0415 - Spark only (ADR 0025)

    session = spark_gold_session(settings)
    yield ibis.pyspark.connect(session)


#: The Gold tables the ``fetch_*`` functions read: the shared surface they use shows only
#: these (ADR 0025).
DASHBOARD_TABLES = tuple(f"gold.{name}" for name in (
    "metric_mrr_cells_monthly", "metric_cohort_cells", "metric_trials",
    "dim_account_attributes", "fct_account_mrr_monthly"))


@contextmanager
def _dashboard_metrics(settings: Settings) -> Iterator[ibis.BaseBackend]:
    """``open_metrics`` on the shared surface of ``DASHBOARD_TABLES`` only."""
    with shared_surface(settings, tables=DASHBOARD_TABLES) as (_surface, cursor):
        yield ibis.duckdb.from_connection(cursor)


def gold_table(backend: ibis.BaseBackend, name: str) -> ir.Table:
    """A published Gold table as an Ibis table."""
    return backend.table(name, database="gold")


#: The Gold tables of additive cells (ADR 0016) the slice metrics are sums over.
CELLS = {"mrr": "metric_mrr_cells_monthly", "cohorts": "metric_cohort_cells",
         "trials": "metric_trials"}


def _cells(backend: ibis.BaseBackend, kind: str) -> ir.Table:
    """The Gold cell table ``kind`` (``CELLS``)."""
    return gold_table(backend, CELLS[kind])


def account_attributes(backend: ibis.BaseBackend) -> ir.Table:
    """One row per account: segment, country and its primary plan's tier, interval, currency.

    ``gold.dim_account_attributes`` (the primary-plan rule is in its model).
    """
    return gold_table(backend, "dim_account_attributes")


def _selected(table: ir.Table, filters: MetricFilters) -> ir.Table:
    """The rows (accounts or cells) whose attributes the filters accept."""
    predicates = [table[name].isin(list(values))
                  for name, values in filters.dimension_values().items()]
    return table.filter(*predicates) if predicates else table


def account_mrr(backend: ibis.BaseBackend, filters: MetricFilters | None = None) -> ir.Table:
    """``gold.fct_account_mrr_monthly`` restricted to the accounts the filters select.

    All months are kept (look-back metrics need them); callers cut the date range.
    """
    filters = filters or MetricFilters()
    facts = gold_table(backend, "fct_account_mrr_monthly")
    if not filters.restricts_accounts:
        return facts
    selected = _selected(account_attributes(backend), filters).select("account_id")
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


def _bridge(mrr_cells: ir.Table) -> ir.Table:
    """The MRR bridge and 12-month retention sums of every month the cells cover."""
    c = mrr_cells
    return c.group_by("month_start").aggregate(
        opening_mrr_usd=_money(c.opening_mrr_usd.sum()),
        new_mrr_usd=_money(c.new_mrr_usd.sum()),
        expansion_mrr_usd=_money(c.expansion_mrr_usd.sum()),
        reactivation_mrr_usd=_money(c.reactivation_mrr_usd.sum()),
        contraction_mrr_usd=_money(c.contraction_mrr_usd.sum()),
        churned_mrr_usd=_money(c.churned_mrr_usd.sum()),
        closing_mrr_usd=_money(c.closing_mrr_usd.sum()),
        customers_opening=c.customers_opening.sum().cast("int64"),
        customers_new=c.customers_new.sum().cast("int64"),
        customers_reactivated=c.customers_reactivated.sum().cast("int64"),
        customers_churned=c.customers_churned.sum().cast("int64"),
        customers_closing=c.customers_closing.sum().cast("int64"),
        base_mrr_usd=c.base_mrr_usd.sum(),
        retained_mrr_usd=c.retained_mrr_usd.sum(),
        capped_mrr_usd=c.capped_mrr_usd.sum(),
    )


#: The columns of ``gold.mrr_movements_monthly``, in its order.
BRIDGE_COLUMNS = ("month_start", "opening_mrr_usd", "new_mrr_usd", "expansion_mrr_usd",
                  "reactivation_mrr_usd", "contraction_mrr_usd", "churned_mrr_usd",
                  "closing_mrr_usd", "customers_opening", "customers_new",
                  "customers_reactivated", "customers_churned", "customers_closing")


def mrr_movements(backend: ibis.BaseBackend, filters: MetricFilters | None = None
                  ) -> ir.Table:
    """The MRR bridge per month (columns of ``gold.mrr_movements_monthly``)."""
    filters = filters or MetricFilters()
    bridge = _movements_of(_selected(_cells(backend, "mrr"), filters))
    return _where(bridge, _in_range(bridge.month_start, filters)).order_by("month_start")


def _movements_of(mrr_cells: ir.Table) -> ir.Table:
    return _bridge(mrr_cells).select(*BRIDGE_COLUMNS)


def _ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    return numerator.cast("float64") / denominator.cast("float64").nullif(0.0)


def saas_kpis(backend: ibis.BaseBackend, filters: MetricFilters | None = None) -> ir.Table:
    """KPIs per month (columns of ``gold.saas_kpis_monthly``)."""
    filters = filters or MetricFilters()
    kpis = _kpis_of(_selected(_cells(backend, "mrr"), filters))
    return _where(kpis, _in_range(kpis.month_start, filters)).order_by("month_start")


def _kpis_of(mrr_cells: ir.Table) -> ir.Table:
    joined = bridge = _bridge(mrr_cells)
    first_month = bridge.month_start.min().as_scalar()
    customers = joined.customers_closing
    arpa_cents = ibis.cases(
        (customers > 0,
         (2 * (joined.closing_mrr_usd * 100).cast("int64") + customers) // (2 * customers)),
        else_=ibis.null("int64"),
    )
    looks_back = (joined.month_start - ibis.interval(months=12)).cast("date") >= first_month
    return joined.select(
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


def cohort_retention(backend: ibis.BaseBackend, filters: MetricFilters | None = None
                     ) -> ir.Table:
    """Logo and net MRR retention per cohort and month (``gold.cohort_retention``).

    The date range keeps the cohorts that start in it and the months up to its end.
    """
    filters = filters or MetricFilters()
    result = _cohorts_of(_selected(_cells(backend, "cohorts"), filters))
    predicates = _in_range(result.cohort_month, filters)
    if filters.end is not None:
        last = ibis.literal(month_of(filters.end), type="date")
        predicates.append(
            (result.cohort_month + result.months_since_start.as_interval("M")).cast("date")
            <= last)
    return _where(result, predicates).order_by("cohort_month", "months_since_start")


def _cohorts_of(cohort_cells: ir.Table) -> ir.Table:
    by_month = cohort_cells.group_by("cohort_month", "months_since_start").aggregate(
        cohort_customers=cohort_cells.cohort_customers.sum(),
        retained_customers=cohort_cells.retained_customers.sum(),
        cohort_mrr_usd=cohort_cells.cohort_mrr_usd.sum(),
    )
    starting = by_month.cohort_mrr_usd.first().over(
        group_by=by_month.cohort_month, order_by=by_month.months_since_start)
    with_start = by_month.mutate(cohort_starting_mrr_usd=starting)
    return with_start.select(
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


def trial_conversion(backend: ibis.BaseBackend, filters: MetricFilters | None = None
                     ) -> ir.Table:
    """Trials by the month they started (columns of ``gold.trial_conversion_monthly``).

    A trial converts when a later version of its subscription pays (``active`` or
    ``past_due``); it is open while the subscription is still ``trialing``. The
    conversion rate is converted over closed (converted or lapsed) trials.
    """
    filters = filters or MetricFilters()
    monthly = _trials_of(_selected(_cells(backend, "trials"), filters))
    return _where(monthly, _in_range(monthly.month_start, filters)).order_by("month_start")


def _trials_of(trials: ir.Table) -> ir.Table:
    closed = ~trials.is_open
    return trials.group_by("month_start").aggregate(
        trials_started=trials.count().cast("int64"),
        trials_converted=trials.converted.sum().cast("int64"),
        trials_lapsed=(~trials.converted & closed).sum().cast("int64"),
        trials_open=trials.is_open.sum().cast("int64"),
        conversion_rate=_ratio(trials.converted.sum(), closed.sum()),
        median_days_to_convert=trials.days_to_convert.median().cast("float64"),
    )


def mrr_by_dimension(backend: ibis.BaseBackend, dimension: str, month: date,
                     filters: MetricFilters | None = None) -> ir.Table:
    """Closing MRR and paying customers of one month, by a dimension's values."""
    _dimension(dimension)
    filters = filters or MetricFilters()
    mrr_cells = _selected(_cells(backend, "mrr"), filters)
    mrr_cells = mrr_cells.filter(
        mrr_cells.month_start == ibis.literal(month_of(month), type="date"),
        mrr_cells.customers_closing > 0)
    return _breakdown_of(mrr_cells, dimension)


def _breakdown_of(mrr_cells: ir.Table, dimension: str) -> ir.Table:
    """Closing MRR and paying customers by ``dimension`` over cells of one month that pay."""
    value = mrr_cells[dimension].fill_null("(unknown)")
    return (mrr_cells.group_by(value.name(dimension))
            .aggregate(mrr_usd=mrr_cells.closing_mrr_usd.sum().cast(MONEY),
                       paying_customers=mrr_cells.customers_closing.sum().cast("int64"))
            .order_by(ibis.desc("mrr_usd")))


def _dimension(name: str) -> str:
    if name not in DIMENSIONS:
        raise MetricFilterError(f"unknown dimension {name!r}; allowed: {', '.join(DIMENSIONS)}")
    return DIMENSIONS[name]


# One publication's cells and compiled statements (ADR 0016) -----------------------------
#: The name a filtered cell table is registered under while a compiled statement runs.
SLICE = {kind: f"_metric_slice__{kind}" for kind in CELLS}
#: A month-keyed result cut to the date range (``$start``/``$end``: first days of months).
_MONTHS = ("select * from ({sql}) where ($start::date is null or month_start >= $start) "
           "and ($end::date is null or month_start <= $end) order by month_start")
#: Cohort results: cohorts that start in the range, months up to its end.
_COHORTS = ("select * from ({sql}) where ($start::date is null or cohort_month >= $start) "
            "and ($end::date is null or (cohort_month <= $end and "
            "cast(cohort_month + to_months(months_since_start) as date) <= $end)) "
            "order by cohort_month, months_since_start")


@dataclass(frozen=True)
class _Statement:
    """One metric expression compiled to SQL once, and the Arrow schema of its result."""

    sql: str
    schema: pa.Schema


@dataclass(frozen=True)
class _Published:
    """A publication's cells (Arrow) and the metric statements compiled over their slices."""

    cells: dict[str, pa.Table]
    statements: dict[str, _Statement]


#: The dashboard statements compiled ahead of time (ADR 0025), written by
#: ``python -m analytics.metrics`` (``write_compiled_statements``). They are used only when
#: their fingerprint (this module's source, the cells' Arrow schemas, the Ibis and sqlglot
#: versions) equals the publication's; anything else compiles afresh, so a stale file costs
#: time, never a wrong number.
COMPILED_STATEMENTS = Path(__file__).with_name("compiled_statements.json")


def compile_statements(schemas: dict[str, pa.Schema]) -> dict[str, _Statement]:
    """Compile every dashboard statement over unbound slices of cells with these schemas.

    The statements are the same Ibis expressions as ``saas_kpis`` and the others, over
    an unbound table of the cells' schema (``SLICE``), so a filter change runs SQL that was
    compiled once, on cells filtered in Arrow.

    Args:
        schemas: The Arrow schema of each cell table, by kind (``CELLS``).

    Returns:
        Each statement's SQL and result schema, by name.
    """
    unbound = {kind: ibis.table(ibis.Schema.from_pyarrow(schemas[kind]), name=name)
               for kind, name in SLICE.items()}
    expressions = {
        "kpis": (_kpis_of(unbound["mrr"]), _MONTHS),
        "movements": (_movements_of(unbound["mrr"]), _MONTHS),
        "cohorts": (_cohorts_of(unbound["cohorts"]), _COHORTS),
        "trials": (_trials_of(unbound["trials"]), _MONTHS),
        **{f"breakdown:{name}": (_breakdown_of(unbound["mrr"], name), "{sql}")
           for name in DIMENSIONS},
    }
    return {
        name: _Statement(template.format(sql=ibis.to_sql(expr, dialect="duckdb")),
                         expr.schema().to_pyarrow())
        for name, (expr, template) in expressions.items()
    }


def statements_fingerprint(schemas: dict[str, pa.Schema]) -> str:
    """What compiled statements depend on: this module, the cells' schemas, Ibis, sqlglot."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for kind in sorted(schemas):
        digest.update(kind.encode())
        digest.update(schemas[kind].serialize().to_pybytes())
    digest.update(f"ibis {ibis.__version__} sqlglot {sqlglot.__version__}".encode())
    return digest.hexdigest()


def _stored_statements(fingerprint: str) -> dict[str, _Statement] | None:
    """The committed statements when they were compiled for ``fingerprint``, else None."""
    try:
        stored = json.loads(COMPILED_STATEMENTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("fingerprint") != fingerprint:
        return None
    return {name: _Statement(entry["sql"], pa.ipc.read_schema(
                pa.py_buffer(base64.b64decode(entry["schema"]))))
            for name, entry in stored["statements"].items()}


def write_compiled_statements(settings: Settings, path: Path = COMPILED_STATEMENTS) -> Path:
    """Compile the dashboard statements for the published cells' schemas and store them.

    A developer step (``python -m analytics.metrics``), run after changing a metric
    expression or Gold's cell tables; readers only read the file.

    Returns:
        The file written.
    """
    with shared_surface(settings, tables=DASHBOARD_TABLES) as (_surface, cursor):
        schemas = {kind: _read_cells(cursor, kind).schema for kind in SLICE}
    statements = compile_statements(schemas)
    document = {
        "fingerprint": statements_fingerprint(schemas),
        "statements": {name: {"sql": st.sql, "schema": base64.b64encode(
            st.schema.serialize().to_pybytes()).decode("ascii")}
            for name, st in sorted(statements.items())},
    }
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path


def _read_cells(cursor: duckdb.DuckDBPyConnection, kind: str) -> pa.Table:
    """The Gold cell table ``kind`` (``CELLS``) as Arrow, read on a surface cursor."""
    return cursor.execute(f'select * from gold."{CELLS[kind]}"').to_arrow_table()


@contextmanager
def _published(settings: Settings
               ) -> Iterator[tuple[duckdb.DuckDBPyConnection, _Published]]:
    """A cursor on the current publication's shared surface, and its cells and statements.

    The cursor sees no view: it reads only the slices its caller registers.
    """
    with shared_surface(settings, views=False, tables=DASHBOARD_TABLES) as (surface, cursor):
        yield cursor, surface.memo("metric_cells", lambda: _prepared(surface))


def _prepared(surface: Surface) -> _Published:
    """Read the publication's cells; its statements from the committed file or compiled.

    Without Ibis's DuckDB backend: the cells are read on a plain surface cursor, and when
    the committed statements fit (``COMPILED_STATEMENTS``) nothing is compiled, so a fresh
    dashboard process does not load Ibis's SQL compilers (ADR 0025).
    """
    cursor = surface.cursor()
    try:
        tables = {kind: _read_cells(cursor, kind) for kind in SLICE}
    finally:
        cursor.close()
    schemas = {kind: table.schema for kind, table in tables.items()}
    statements = _stored_statements(statements_fingerprint(schemas))
    return _Published(tables, statements if statements is not None
                      else compile_statements(schemas))


def _slice_of(table: pa.Table, filters: MetricFilters) -> pa.Table:
    """The rows of a cell table whose attributes the filters accept (as ``_selected``)."""
    mask = None
    for name, values in filters.dimension_values().items():
        column = table[name]
        accepted = pc.is_in(column, value_set=pa.array(values, type=pa.string()).cast(
            column.type))
        mask = accepted if mask is None else pc.and_(mask, accepted)
    return table if mask is None else table.filter(mask)


def _execute(cursor: duckdb.DuckDBPyConnection, statement: _Statement,
             params: dict[str, object] | None = None) -> pa.Table:
    """Run a compiled statement; its result with the schema the Ibis expression has."""
    result = cursor.execute(statement.sql, params or {}).fetch_arrow_table()
    return result.cast(statement.schema)


def _range_params(filters: MetricFilters) -> dict[str, object]:
    return {"start": month_of(filters.start) if filters.start else None,
            "end": month_of(filters.end) if filters.end else None}


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
    """KPIs, the MRR bridge, cohort retention and trials for the filters (one connection).

    The same results as ``saas_kpis``, ``mrr_movements``, ``cohort_retention`` and
    ``trial_conversion``, from statements compiled once per publication (ADR 0016).
    """
    filters = filters or MetricFilters()
    params = _range_params(filters)
    with _published(settings) as (cursor, published):
        statements = published.statements
        results: dict[str, pa.Table] = {}
        for kind, names in (("mrr", ("kpis", "movements")), ("cohorts", ("cohorts",)),
                            ("trials", ("trials",))):
            cursor.register(SLICE[kind], _slice_of(published.cells[kind], filters))
            for name in names:
                results[name] = _execute(cursor, statements[name], params)
        return DashboardData(filters=filters, kpis=results["kpis"],
                             movements=results["movements"], cohorts=results["cohorts"],
                             trials=results["trials"])


def fetch_breakdown(settings: Settings, dimension: str, month: date,
                    filters: MetricFilters | None = None) -> pa.Table:
    """``mrr_by_dimension`` from its statement compiled once per publication."""
    _dimension(dimension)
    filters = filters or MetricFilters()
    with _published(settings) as (cursor, published):
        mrr = _slice_of(published.cells["mrr"], filters)
        mrr = mrr.filter(pc.and_(
            pc.equal(mrr["month_start"], pa.scalar(month_of(month), type=pa.date32())),
            pc.greater(mrr["customers_closing"], 0)))
        cursor.register(SLICE["mrr"], mrr)
        return _execute(cursor, published.statements[f"breakdown:{dimension}"])


@dataclass(frozen=True)
class FilterOptions:
    """What the filter widgets offer: the month range and each dimension's values."""

    first_month: date | None
    last_month: date | None
    values: dict[str, list[str]]


def fetch_filter_options(settings: Settings) -> FilterOptions:
    """The months Gold covers and the distinct values of every filter dimension.

    Two fixed queries on the dashboard's surface (no Ibis backend: ADR 0025); the columns
    are the allow-listed ``DIMENSIONS``.
    """
    with shared_surface(settings, tables=DASHBOARD_TABLES) as (_surface, cursor):
        first, last = cursor.execute(
            "select min(month_start), max(month_start) "
            "from gold.fct_account_mrr_monthly").fetchone() or (None, None)
        values = {}
        for name in DIMENSIONS:
            rows = cursor.execute(f'select distinct "{name}" from gold.dim_account_attributes '
                                  f'where "{name}" is not null').fetchall()
            values[name] = sorted(value for (value,) in rows)
    return FilterOptions(first, last, values)


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
    with _dashboard_metrics(settings) as backend:
        expr = accounts_in_month(backend, month, filters, movement=movement, cohort=cohort)
        return (expr.limit(limit) if limit else expr).to_pyarrow()


def fetch_account_history(settings: Settings, account_id: str) -> pa.Table:
    """``account_history`` executed on its own connection."""
    with _dashboard_metrics(settings) as backend:
        return account_history(backend, account_id).to_pyarrow()


if __name__ == "__main__":
    print(f"wrote {write_compiled_statements(Settings.from_env())}")
