import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="MRR forecast")

with app.setup:
    import marimo as mo

    from analytics import charts, forecast, metrics
    from lakecore.errors import LakehouseError
    from lakecore.settings import Settings
    from saaslake.notebook import chosen, dimension_dropdowns, filter_options, gold_unavailable


@app.cell
def _():
    mo.md("""
    # Where MRR is heading

    A twelve-month MRR forecast from the last **published** Gold build
    (`analytics.forecast`): the book moves along its cohorts' net MRR retention
    curves, new business follows its recent trend, and the band is the 10th to 90th
    percentile of 200 bootstrap samples. Move the levers to ask "what if"; the
    back-test below shows how well the same model did from past cut-offs. The method
    and its limits: `docs/architecture/forecast.md`.
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
    dimensions = dimension_dropdowns(options)
    horizon = mo.ui.slider(3, 24, value=12, step=1, label="Months ahead", show_value=True)
    mo.hstack([horizon, *dimensions.values()], justify="start", wrap=True) if options else None
    return dimensions, horizon


@app.cell
def _(dimensions, horizon, options, settings):
    filters = metrics.MetricFilters(
        **{name: chosen(value) for name, value in dimensions.value.items()})
    try:
        model = forecast.fit_forecast(settings, filters, horizon=horizon.value) \
            if options else None
        model_problem = None
    except LakehouseError as err:
        model, model_problem = None, str(err)
    return filters, model, model_problem


@app.cell
def _(model, model_problem):
    mo.callout(mo.md(f"**No forecast for this slice.** {model_problem}"),
               kind="warn") if model_problem else None


@app.cell
def _(model):
    growth = mo.ui.slider(-5.0, 5.0, value=0.0, step=0.5, show_value=True,
                          label="New MRR growth (% per month)")
    churn = mo.ui.slider(-3.0, 3.0, value=0.0, step=0.25, show_value=True,
                         label="Churn change (points per month)")
    expansion = mo.ui.slider(-50, 50, value=0, step=5, show_value=True,
                             label="Expansion change (%)")
    tier = mo.ui.dropdown(model.tiers if model else [], value=None,
                          label="Price change on tier")
    price = mo.ui.slider(-30, 30, value=0, step=5, show_value=True, label="by (%)")
    mo.vstack([mo.md("### What if"), mo.hstack([growth, churn, expansion], wrap=True),
               mo.hstack([tier, price], justify="start")]) if model else None
    return churn, expansion, growth, price, tier


@app.cell
def _(churn, expansion, growth, model, price, tier):
    levers = forecast.Levers(
        new_mrr_growth=growth.value / 100, churn_change=churn.value,
        expansion_change=expansion.value / 100,
        price_change={tier.value: price.value / 100} if tier.value and price.value else {})
    projection = model.project(levers) if model else None
    return (projection,)


@app.cell
def _(filters, projection):
    _end = projection.months[-1] if projection else None
    mo.vstack([
        mo.md(f"**{filters.describe_accounts()}**: MRR {charts.format_money(projection.mrr[-1])} "
              f"in {_end:%B %Y} (band {charts.format_money(projection.lower[-1])} to "
              f"{charts.format_money(projection.upper[-1])}), from "
              f"{charts.format_money(projection.history[-1][1])} in "
              f"{projection.cutoff:%B %Y}; new business by {projection.method}."),
        mo.ui.altair_chart(charts.forecast_chart(projection.table()),
                           chart_selection=False, legend_selection=False),
    ]) if projection else None


@app.cell
def _(projection):
    mo.vstack([mo.md("### The projected bridge"),
               mo.ui.table(projection.bridge, selection=None, page_size=24)]) \
        if projection else None


@app.cell
def _(filters, model, settings):
    try:
        record = forecast.backtest(settings, filters) if model else None
        record_problem = None
    except LakehouseError as err:
        record, record_problem = None, str(err)
    return record, record_problem


@app.cell
def _(record, record_problem):
    mo.vstack([
        mo.md("""
        ### The back-test

        For every past cut-off with twelve months of history before it: the forecast
        from data up to the cut-off only, against what Gold later showed. MAPE is the
        mean absolute percentage error; a ratio below 1 beats the baseline (flat: MRR
        held at the cut-off; linear: a straight line through the last twelve months).
        """),
        mo.ui.table(record.readable(), selection=None) if record else
        mo.callout(mo.md(f"**No back-test for this slice.** {record_problem}"), kind="info"),
    ]) if record or record_problem else None


@app.cell
def _(record):
    mo.accordion({"Every cut-off": mo.ui.table(record.rows, selection=None, page_size=12)}) \
        if record else None


if __name__ == "__main__":
    app.run()
