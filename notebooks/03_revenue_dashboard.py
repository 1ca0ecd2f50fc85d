import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Revenue dashboard")

with app.setup:
    from dataclasses import replace

    import marimo as mo

    from analytics import charts, metrics
    from lakecore.errors import LakehouseError
    from lakecore.settings import Settings
    from saaslake.notebook import dimension_label

    ALL = "(all)"


@app.function
def chosen(value: str) -> tuple[str, ...]:
    """A dropdown's value as filter values: nothing for "(all)"."""
    return () if value in (None, ALL) else (value,)


@app.cell
def _():
    mo.md("""
    # Revenue dashboard

    MRR, customers, churn and retention from the last **published** Gold build
    (`analytics.metrics` over `gold.fct_account_mrr_monthly`). Filters select
    accounts; click bars in *MRR by segment* to filter everything below, click a
    month in *MRR by month* to see its bridge. Read-only: a pipeline run never
    blocks this page and this page never sees a half-built Gold.
    """)


@app.cell
def _():
    settings = Settings.from_env()
    try:
        options = metrics.fetch_filter_options(settings)
        gold_problem = None
    except LakehouseError as err:
        options, gold_problem = None, str(err)
    return gold_problem, options, settings


@app.cell
def _(gold_problem):
    mo.callout(
        mo.md(f"**Gold is not available yet.** {gold_problem}\n\n"
              "Run the pipeline from `00_start_here` (or `make full-pipeline`)."),
        kind="warn",
    ) if gold_problem else None


@app.cell
def _(options):
    _values = options.values if options else {}
    months = mo.ui.date_range(
        start=options.first_month if options else None,
        stop=options.last_month if options else None,
        value=(options.first_month, options.last_month) if options else None,
        label="Months",
    )
    dimensions = mo.ui.dictionary({
        name: mo.ui.dropdown([ALL, *_values.get(name, [])], value=ALL,
                             label=dimension_label(name))
        for name in metrics.DIMENSIONS
    })
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
def _(data):
    trend = mo.ui.altair_chart(charts.mrr_trend_chart(data.kpis),
                               legend_selection=False) if data else None
    trend
    return (trend,)


@app.cell
def _(data, trend):
    _month = None
    if trend is not None and len(trend.value):
        _month = trend.value["month_start"].max().date()
    mo.ui.altair_chart(charts.waterfall_chart(data.movements, _month),
                       chart_selection=False, legend_selection=False) if data else None


@app.cell
def _(data):
    mo.hstack([
        mo.ui.altair_chart(charts.movements_chart(data.movements), chart_selection=False),
        mo.ui.altair_chart(charts.churn_chart(data.kpis), chart_selection=False),
    ], wrap=True) if data else None


@app.cell
def _(data):
    mo.ui.tabs({
        "Logo retention": mo.ui.altair_chart(
            charts.cohort_heatmap(data.cohorts, "logo_retention_rate"),
            chart_selection=False, legend_selection=False),
        "Net MRR retention": mo.ui.altair_chart(
            charts.cohort_heatmap(data.cohorts, "net_mrr_retention_rate"),
            chart_selection=False, legend_selection=False),
    }) if data else None


@app.cell
def _(data):
    mo.ui.tabs({
        "KPIs": mo.ui.table(data.kpis, selection=None, page_size=12),
        "MRR movements": mo.ui.table(data.movements, selection=None, page_size=12),
        "Cohort retention": mo.ui.table(data.cohorts, selection=None, page_size=12),
    }) if data else None


if __name__ == "__main__":
    app.run()
