import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Pipeline health")

with app.setup:
    import marimo as mo

    from analytics import operations
    from lakecore.errors import LakehouseError
    from lakecore.settings import Settings
    from transform import health


@app.cell
def _():
    mo.md("""
    # Pipeline health

    What the runs did and whether the data looks right: every run and step from the run
    ledger (`meta.runs`, `meta.run_steps`), the rows each layer received, the dbt test
    results of every build (`meta.dbt_results`), and the data-health checks
    (`meta.health_checks`): freshness, volume, schema changes and quarantine per entity.
    `lakehouse health` runs the same checks from a shell and exits 1 when one fails.
    """)


@app.cell
def _():
    settings = Settings.from_env()
    check_now = mo.ui.run_button(label="Run the health checks now")
    check_now
    return check_now, settings


@app.cell
def _(check_now, settings):
    if check_now.value:
        try:
            _report = health.run_checks(settings)
            _shown = mo.callout(mo.md("```\n" + "\n".join(_report.lines()) + "\n```"),
                                kind="danger" if _report.status == "fail" else
                                "warn" if _report.status == "warn" else "success")
        except LakehouseError as err:
            _shown = mo.callout(mo.md(f"**The checks could not run.** {err}"), kind="danger")
    else:
        _shown = mo.md("_The latest checks below are those of the last build._")
    checked = check_now.value
    _shown
    return (checked,)


@app.cell
def _(checked, settings):
    _ = checked
    try:
        history = operations.pipeline_history(settings)
        problem = None
    except LakehouseError as err:
        history, problem = None, str(err)
    return history, problem


@app.cell
def _(history, problem):
    if problem is not None:
        _view = mo.callout(mo.md(f"**The history cannot be read.** {problem}"), kind="danger")
    elif history is None or history.empty:
        _view = mo.callout(mo.md("_No run recorded yet: run `make full-pipeline` (or the "
                                 "ingest and transform notebooks) first._"), kind="info")
    else:
        _view = mo.vstack([
            mo.md("## Latest health checks"),
            mo.ui.table(history.latest_health, selection=None, page_size=12),
            mo.md("## Runs"),
            mo.ui.table(history.runs, selection=None, page_size=10),
        ])
    _view


@app.cell
def _(history):
    if history is None or history.empty:
        _charts = None
    else:
        _charts = mo.vstack([
            mo.md("## Steps and rows"),
            mo.ui.altair_chart(operations.step_durations_chart(history.steps)),
            mo.ui.altair_chart(operations.rows_per_layer_chart(history.rows_per_layer)),
        ])
    _charts


@app.cell
def _(history):
    if history is None or history.empty:
        _sources = None
    else:
        _sources = mo.vstack([
            mo.md("## Sources: volume and quarantine"),
            mo.ui.altair_chart(operations.volume_chart(history.volume)),
            mo.ui.altair_chart(operations.quarantine_chart(history.quarantine)),
            mo.md("## Tests"),
            mo.ui.altair_chart(operations.tests_chart(history.tests))
            if history.tests.num_rows
            else mo.md("_No build ran its tests yet (`--models-only` builds run none)._"),
        ])
    _sources


if __name__ == "__main__":
    app.run()
