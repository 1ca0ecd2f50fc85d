import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Revenue dashboard")

with app.setup:
    from dataclasses import replace

    import marimo as mo

    from analytics import charts, metrics
    from analytics.explain import explain_mrr, explanation_table
    from lakecore.errors import LakehouseError
    from lakecore.settings import Settings
    from saaslake.notebook import chosen, dimension_dropdowns, filter_options, gold_unavailable


@app.cell
def _():
    mo.md("""
    # Revenue dashboard

    MRR, customers, churn and retention from the last **published** Gold build
    (`analytics.metrics` over `gold.fct_account_mrr_monthly`). Filters select
    accounts; click bars in *MRR by segment* to filter everything below, a month in
    *MRR by month* to see its bridge, and a bar of the bridge or of the movements, or a
    cohort cell, to list the accounts behind it. Read-only: a pipeline run never blocks
    this page and this page never sees a half-built Gold.
    """)


@app.cell
def _():
    settings = Settings.from_env()
    options, gold_problem = filter_options(settings)
    return gold_problem, options, settings


@app.cell
def _(gold_problem):
    gold_unavailable(gold_problem)


@app.cell
def _(options):
    months = mo.ui.date_range(
        start=options.first_month if options else None,
        stop=options.last_month if options else None,
        value=(options.first_month, options.last_month) if options else None,
        label="Months",
    )
    dimensions = dimension_dropdowns(options)
    return dimensions, months


@app.cell
def _(dimensions, months, options):
    mo.hstack([months, *dimensions.values()], justify="start", wrap=True) if options else None


@app.cell
def _(dimensions, months, options):
    base_filters = metrics.MetricFilters(
        start=months.value[0] if options else None,
        end=months.value[1] if options else None,
        **{name: chosen(value) for name, value in dimensions.value.items()},
    )
    return (base_filters,)


@app.cell
def _(data):
    _cards = charts.kpi_cards(data) if data else []
    mo.vstack([
        mo.md(f"**{data.latest()['month_start']:%B %Y}** — {data.filters.describe()}")
        if data and not data.is_empty else mo.md("_No month matches these filters._"),
        mo.hstack(
            [mo.stat(k.text, label=k.label, caption=k.change, direction=k.direction,
                     target_direction=k.good_direction, bordered=True) for k in _cards],
            wrap=True, justify="start"),
    ]) if data else None


@app.cell
def _(base_filters, options, settings):
    segment_mrr = (
        metrics.fetch_breakdown(settings, "segment", base_filters.end or options.last_month,
                                base_filters)
        if options else None
    )
    return (segment_mrr,)


@app.cell
def _(segment_mrr):
    segment_chart = mo.ui.altair_chart(charts.breakdown_chart(segment_mrr, "segment"),
                                       legend_selection=False) if segment_mrr is not None else None
    segment_chart
    return (segment_chart,)


@app.cell
def _(base_filters, segment_chart):
    _picked = ()
    if segment_chart is not None and len(segment_chart.value):
        _picked = tuple(sorted(segment_chart.value["segment"].unique()))
    filters = replace(base_filters, segment=_picked) if _picked else base_filters
    return (filters,)


@app.cell
def _(filters, options, settings):
    data = metrics.fetch_dashboard(settings, filters) if options else None
    return (data,)


@app.cell
def _(data):
    mo.ui.altair_chart(charts.kpi_trends_chart(data), chart_selection=False,
                       legend_selection=False) if data and not data.is_empty else None


@app.cell
def _(data):
    trend = mo.ui.altair_chart(charts.mrr_trend_chart(data.kpis),
                               legend_selection=False) if data else None
    trend
    return (trend,)


@app.cell
def _(data, trend):
    bridge_month = None
    if trend is not None and len(trend.value):
        bridge_month = trend.value["month_start"].max().date()
    bridge = mo.ui.altair_chart(charts.waterfall_chart(data.movements, bridge_month),
                                legend_selection=False) if data else None
    bridge
    return bridge, bridge_month


@app.cell
def _(data):
    movements = mo.ui.altair_chart(charts.movements_chart(data.movements),
                                   legend_selection=False) if data else None
    mo.hstack([
        movements,
        mo.ui.altair_chart(charts.churn_chart(data.kpis), chart_selection=False),
    ], wrap=True) if data else None
    return (movements,)


@app.cell
def _(data):
    logo_cohorts = mo.ui.altair_chart(
        charts.cohort_heatmap(data.cohorts, "logo_retention_rate"),
        legend_selection=False) if data else None
    mrr_cohorts = mo.ui.altair_chart(
        charts.cohort_heatmap(data.cohorts, "net_mrr_retention_rate"),
        legend_selection=False) if data else None
    mo.ui.tabs({"Logo retention": logo_cohorts, "Net MRR retention": mrr_cohorts}) \
        if data else None
    return logo_cohorts, mrr_cohorts


@app.cell
def _(bridge, bridge_month, data, filters, logo_cohorts, movements, mrr_cohorts,
      settings):
    _cohort_pick = next((c.value for c in (logo_cohorts, mrr_cohorts)
                         if c is not None and len(c.value)), None)
    drill = charts.picked_drill(
        movements_pick=movements.value if movements is not None else None,
        bridge_pick=bridge.value if bridge is not None else None,
        bridge_month=bridge_month, cohort_pick=_cohort_pick,
    ) if data and not data.is_empty else None
    if data and not data.is_empty and drill is None:
        drill = charts.Drill(data.latest()["month_start"])
    drilled = metrics.fetch_accounts(
        settings, drill.month, filters, movement=drill.movement, cohort=drill.cohort,
        limit=None if drill.movement or drill.cohort else 20) if drill else None
    _frame, _formats = charts.readable_table(drilled) if drilled is not None else (None, {})
    accounts = mo.ui.table(_frame, selection="single", page_size=25,
                           format_mapping=_formats) \
        if drilled is not None else None
    mo.vstack([mo.md(f"### {drill.title}"), accounts]) if accounts is not None else None
    return accounts, drill


@app.cell
def _(accounts, settings):
    _chosen = accounts.value if accounts is not None else None
    picked_account = str(_chosen["account_id"].iloc[0]) \
        if _chosen is not None and len(_chosen) else None
    mo.ui.altair_chart(
        charts.account_history_chart(metrics.fetch_account_history(settings, picked_account),
                                     picked_account),
        chart_selection=False, legend_selection=False,
    ) if picked_account else mo.md("_Select an account above to see its MRR history._") \
        if accounts is not None else None
    return (picked_account,)


@app.cell
def _(drill, picked_account, settings):
    # Row lineage: the subscription versions, plan terms and fx rates behind the account's
    # MRR in the drilled month, each with its Bronze batch, landing file and line.
    if picked_account and drill is not None:
        try:
            _why = explain_mrr(settings, picked_account, f"{drill.month:%Y-%m}")
            _shown = mo.vstack([
                mo.md(f"#### Why {picked_account} has MRR ${_why.total_usd:,} in "
                      f"{drill.month:%Y-%m} (`lakehouse explain-mrr {picked_account} "
                      f"{drill.month:%Y-%m}`)"),
                mo.ui.table(explanation_table(_why), selection=None, page_size=10),
            ])
        except LakehouseError as err:
            _shown = mo.md(f"_No explanation: {err}_")
    else:
        _shown = None
    _shown


@app.cell
def _(data):
    _tables = {"KPIs": data.kpis, "MRR movements": data.movements,
               "Cohort retention": data.cohorts, "Trial conversion": data.trials} \
        if data else {}
    _shown = {name: charts.readable_table(table) for name, table in _tables.items()}
    mo.ui.tabs({name: mo.ui.table(frame, selection=None, page_size=12, format_mapping=fmt)
                for name, (frame, fmt) in _shown.items()}) if data else None


if __name__ == "__main__":
    app.run()
