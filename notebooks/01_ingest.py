import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Ingest")

with app.setup:
    from datetime import date

    import marimo as mo

    from analytics.query import run_query
    from ingestion.bronze_layout import partition_layout
    from ingestion.loader import ingest
    from ingestion.simulator import DEFAULT_DAILY_DAYS, DEFAULT_END, DEFAULT_START, simulate_to
    from lakecore.errors import LakehouseError
    from lakecore.settings import Settings
    from saaslake.notebook import live_log


@app.function
def query_or_message(settings: Settings, sql: str):
    """A read-only query's result, or the error text when it cannot run yet."""
    try:
        return run_query(settings, sql)
    except LakehouseError as err:
        return mo.md(f"_{err}_")


@app.cell
def _():
    mo.md("""
    # Ingest: landing zone to Bronze

    Simulate the two source systems' exports into the landing zone, then load every new
    file into Bronze. Loading checks each file against the landing contract: good rows
    land in Bronze (Parquet under `bronze/<source>/<entity>/ingestion_date=<date>/`),
    bad rows go to quarantine with the reason, and a file is committed in one
    manifest transaction or not at all.
    """)


@app.cell
def _():
    settings = Settings.from_env()
    return (settings,)


@app.cell
def _():
    scale = mo.ui.number(start=0.01, stop=100, step=0.01, value=0.1, label="Scale")
    period = mo.ui.date_range(value=(DEFAULT_START, DEFAULT_END), label="Period")
    daily_days = mo.ui.number(start=0, stop=365, value=DEFAULT_DAILY_DAYS,
                              label="Daily exports (days)")
    seed = mo.ui.number(start=0, stop=2**31 - 1, value=42, label="Seed")
    dirty_share = mo.ui.slider(start=0.0, stop=0.2, step=0.005, value=0.0,
                               label="Dirty share", show_value=True)
    return daily_days, dirty_share, period, scale, seed


@app.cell
def _(daily_days, dirty_share, period, scale, seed):
    run_ingest = mo.ui.run_button(label="Simulate and ingest", kind="warn")
    mo.vstack([
        mo.md("## Simulate and ingest\nScale 1 is about 10,000 accounts and 1,000,000 "
              "events over two years. The same settings always write the same files."),
        mo.hstack([scale, seed, daily_days, dirty_share], justify="start", wrap=True),
        period,
        run_ingest,
    ])
    return (run_ingest,)


@app.cell
def _(daily_days, dirty_share, period, run_ingest, scale, seed, settings):
    if run_ingest.value:
        try:
            _say = live_log("Simulate and ingest")
            _sim = simulate_to(settings, scale=float(scale.value),
                               start=period.value[0], end=period.value[1],
                               seed=int(seed.value), daily_days=int(daily_days.value),
                               dirty_share=float(dirty_share.value), progress=_say)
            _report = ingest(settings, progress=_say)
            _outcome = mo.callout(mo.md(
                f"**Done.** Simulated {_sim.files:,} files in {_sim.seconds:.1f} s.\n"
                f"```\n{_report.summary()}\n```"), kind="success")
        except (LakehouseError, ValueError) as err:
            _outcome = mo.callout(mo.md(f"**Failed.**\n```\n{err}\n```"), kind="danger")
    else:
        _outcome = mo.md("_Not run. Press the button to simulate and ingest._")
    ingest_runs = date.today() if run_ingest.value else None
    _outcome
    return (ingest_runs,)


@app.cell
def _(ingest_runs, settings):
    batches = query_or_message(settings, """
        select source || '/' || entity as entity, export_date,
               count(*) as batches, sum(input_rows) as input_rows,
               sum(landed_rows) as landed_rows, sum(quarantined_rows) as quarantined_rows,
               sum(file_bytes) as file_bytes
        from meta.batches group by all order by export_date desc, entity
    """)
    _ = ingest_runs
    mo.vstack([mo.md("## Bronze: batches and rows per entity and ingestion date"),
               mo.ui.table(batches, selection=None, page_size=15)
               if not isinstance(batches, mo.Html) else batches])


@app.cell
def _(ingest_runs, settings):
    _ = ingest_runs
    _layout = [p.as_row() for p in partition_layout(settings)]
    mo.vstack([
        mo.md(f"## Partition layout (`{settings.data_uri('bronze')}`)"),
        mo.ui.table(_layout, selection=None, page_size=10) if _layout
        else mo.md("_No Bronze partitions yet._"),
    ])


@app.cell
def _(ingest_runs, settings):
    _ = ingest_runs
    reasons = query_or_message(settings, """
        select source || '/' || entity as entity, _reason as reason, count(*) as rows_
        from quarantine.all_rows group by all order by rows_ desc
    """)
    quarantined = query_or_message(settings, """
        select source || '/' || entity as entity, _source_file as file,
               _line_number as line, _reason as reason, raw_text
        from quarantine.all_rows order by file, line limit 500
    """)
    mo.vstack([
        mo.md("## Quarantine: rows that did not land, with the reason"),
        mo.ui.tabs({
            "by reason": mo.ui.table(reasons, selection=None)
            if not isinstance(reasons, mo.Html) else mo.md("_No quarantined rows._"),
            "rows (first 500)": mo.ui.table(quarantined, selection=None, page_size=10)
            if not isinstance(quarantined, mo.Html) else mo.md("_No quarantined rows._"),
        }),
    ])


if __name__ == "__main__":
    app.run()
