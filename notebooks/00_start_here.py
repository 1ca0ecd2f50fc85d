import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Start here")

with app.setup:
    from pathlib import Path

    import marimo as mo

    from analytics.summary import format_summary, gold_summary
    from lakecore.errors import LakehouseError
    from lakecore.settings import Settings
    from saaslake import pipeline
    from saaslake.notebook import live_log


@app.cell
def _():
    mo.md("""
    # SaaS lakehouse: start here

    A local-first Medallion lakehouse for SaaS revenue analytics. Source systems
    (`billing`, `app`) export files into the **landing zone**; the loader checks them
    against the landing contract and commits them to **Bronze** (Parquet, one folder per
    entity and ingestion date; bad rows go to **quarantine** with a reason); dbt builds
    **Silver** (staging, intermediate) and **Gold** (facts, dimensions, metric tables) as
    DuckLake catalogs and publishes each successful build atomically. Notebooks and
    dashboards read only the last *published* build.
    """)


@app.cell
def _():
    mo.mermaid("""
    graph LR
      S[simulator / source exports] --> L[landing zone]
      L -->|ingest: contract, checksums| B[Bronze Parquet]
      L -->|bad rows| Q[quarantine]
      B -->|dbt build| SV[Silver: staging + intermediate]
      SV --> G[Gold: facts, dims, metrics]
      G -->|publish snapshot| P[published build]
      P --> D[dashboards, notebooks, report]
    """)


@app.cell
def _():
    settings = Settings.from_env()
    # With LAKEHOUSE_ROOT=s3://... the data are objects and `root` is the local state folder.
    _landing = (settings.landing_store.uri() if settings.landing_store is not None
                else settings.landing)
    _rows = [
        ("data root", settings.data_root), ("landing zone", _landing),
        ("Bronze", settings.data_uri("bronze")),
        ("quarantine", settings.data_uri("quarantine")),
        ("Silver data", settings.data_uri("silver")), ("Gold data", settings.data_uri("gold")),
        ("catalogs, publication, dbt artifacts", settings.warehouse),
        ("manifest, lock", settings.meta),
    ]
    mo.vstack([
        mo.md("## Where things live (from `LAKEHOUSE_ROOT`)"),
        mo.ui.table([{"what": w, "path": str(p),
                      "exists": "in object storage" if "://" in str(p) else Path(p).exists()}
                     for w, p in _rows],
                    selection=None, show_download=False),
    ])
    return (settings,)


@app.cell
def _(settings):
    try:
        _summary = mo.md(f"```\n{format_summary(gold_summary(settings))}\n```")
    except LakehouseError as err:
        _summary = mo.callout(mo.md(f"**Nothing published yet.** {err}"), kind="warn")
    mo.vstack([mo.md("## What the lakehouse holds now"), _summary])


@app.cell
def _():
    mo.md("""
    ## Metric glossary (docs/reference/gold-metrics.md)

    | metric | definition |
    |---|---|
    | MRR | Monthly recurring revenue in USD at the month's snapshot instant: every `active` or `past_due` subscription's price x seats x (1 - discount), per month of its interval, converted at the rate of its terms date; summed per account, rounded half up to cents |
    | ARR | 12 x MRR |
    | Paying customers | Accounts with MRR > 0 |
    | ARPA | MRR / paying customers (rounded to cents) |
    | New / reactivation | MRR of accounts paying for the first time / again after a month without |
    | Expansion / contraction | Increase / decrease of accounts that keep paying |
    | Churn | Previous MRR of accounts whose MRR fell to 0 |
    | Logo churn rate | Customers churned / customers at the start of the month |
    | Gross MRR churn | (churned + contraction) / opening MRR |
    | Net MRR churn | (churned + contraction - expansion - reactivation) / opening MRR |
    | Quick ratio | (new + expansion + reactivation) / (churned + contraction) |
    | NRR 12m | MRR now of the accounts paying 12 months ago / their MRR then |
    | GRR 12m | The same with each account capped at its MRR 12 months ago |
    | Cohort retention | Per first paying month: share of accounts (logo) and of MRR (net) still there k months later |

    The as-of date is the latest export committed to Bronze; no metric extends past it.
    A ratio whose denominator is 0 is empty (null), never 0.
    """)


@app.cell
def _():
    run_everything = mo.ui.run_button(label="Run the whole pipeline (ingest + build)",
                                      kind="warn")
    mo.vstack([
        mo.md("## Run everything\nIngests every new landing file, then builds and "
              "publishes Silver and Gold under one pipeline lock. Simulate data first "
              "in `01_ingest` (or `make simulate`)."),
        run_everything,
    ])
    return (run_everything,)


@app.cell
def _(run_everything, settings):
    if run_everything.value:
        try:
            _result = pipeline.run(settings, progress=live_log("Pipeline"))
            _outcome = mo.callout(mo.md(f"**Pipeline finished.**\n```\n{_result.summary()}\n"
                                        "```"), kind="success")
        except LakehouseError as err:
            _outcome = mo.callout(mo.md(f"**Pipeline failed.**\n```\n{err}\n```"),
                                  kind="danger")
    else:
        _outcome = mo.md("_Not run. Press the button to run the pipeline._")
    _outcome


@app.cell
def _():
    mo.md("""
    ## The workbook

    | notebook | what it is for |
    |---|---|
    | [`01_ingest`](/?file=01_ingest.py) | simulate source exports, ingest them, browse Bronze and quarantine |
    | [`02_transform`](/?file=02_transform.py) | run the dbt build (all or a selection), test results, model lineage |
    | [`03_revenue_dashboard`](/?file=03_revenue_dashboard.py) | KPIs, MRR bridge, churn, cohorts, with filters |
    | [`04_explore`](/?file=04_explore.py) | read-only SQL and Ibis over Bronze, Silver and Gold |
    | [`06_forecast`](/?file=06_forecast.py) | where MRR is heading: the forecast, what-if levers, its back-test |

    Open them all with `make edit`; serve the dashboard alone with `make dashboard`.
    """)


if __name__ == "__main__":
    app.run()
