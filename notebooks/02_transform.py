import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Transform")

with app.setup:
    import marimo as mo

    from lakecore.errors import LakehouseError
    from lakecore.settings import Settings
    from saaslake.notebook import live_log
    from transform import artifacts
    from transform.build import build


@app.cell
def _():
    mo.md("""
    # Transform: Bronze to Silver and Gold with dbt

    `dbt build` runs in-process (`transform.build.build`) under the pipeline lock. Models
    and tests run in dependency order; when everything passes, the new Silver and Gold
    snapshots are **published** atomically. A failed build leaves the previous
    publication in place, so dashboards keep showing the last good Gold.
    """)


@app.cell
def _():
    settings = Settings.from_env()
    return (settings,)


@app.cell
def _():
    selection = mo.ui.text(value="", placeholder="e.g. +saas_kpis_monthly or marts",
                           label="dbt selection (empty: everything)", full_width=True)
    full_refresh = mo.ui.checkbox(label="Full refresh (rebuild incremental models)")
    with_tests = mo.ui.checkbox(value=True, label="Run data and unit tests")
    return full_refresh, selection, with_tests


@app.cell
def _(full_refresh, selection, with_tests):
    run_build = mo.ui.run_button(label="Run dbt build", kind="warn")
    mo.vstack([mo.md("## Build"), selection, mo.hstack([full_refresh, with_tests],
                                                        justify="start"), run_build])
    return (run_build,)


@app.cell
def _(full_refresh, run_build, selection, settings, with_tests):
    if run_build.value:
        try:
            _result = build(settings, select=selection.value.strip() or None,
                            full_refresh=full_refresh.value, tests=with_tests.value,
                            progress=live_log("dbt build", lines=30))
            _outcome = mo.callout(mo.md(f"**Build passed and published.**\n```\n"
                                        f"{_result.summary()}\n```"), kind="success")
        except LakehouseError as err:
            _outcome = mo.callout(mo.md(f"**Build failed.** Gold still shows the last "
                                        f"successful build.\n```\n{err}\n```"),
                                  kind="danger")
    else:
        _outcome = mo.md("_Not run. Press the button to build._")
    build_runs = run_build.value
    _outcome
    return (build_runs,)


@app.cell
def _(build_runs, settings):
    _ = build_runs
    _results = artifacts.load_artifact(settings, artifacts.RUN_RESULTS)
    _rows = artifacts.run_rows(_results) if _results else []
    _failing = artifacts.not_passing(_rows)
    mo.vstack([
        mo.md("## Last build: models and tests"),
        mo.md(f"{len(_rows)} nodes, **{len(_failing)} not passing**; the failing rows of "
              "a test are shown in the build's failure message above and can be "
              "queried in `04_explore`.") if _rows else mo.md("_No build has run yet._"),
        mo.ui.tabs({
            "not passing": mo.ui.table(_failing, selection=None) if _failing
            else mo.md("_Everything passed._"),
            "all": mo.ui.table(_rows, selection=None, page_size=15) if _rows
            else mo.md("_Nothing yet._"),
        }),
    ])


@app.cell
def _(build_runs, settings):
    _ = build_runs
    _manifest = artifacts.load_artifact(settings, artifacts.MANIFEST)
    mo.vstack([
        mo.md("## Model lineage (from dbt's manifest)"),
        mo.mermaid(artifacts.lineage_mermaid(_manifest)) if _manifest
        else mo.md("_No manifest yet: run a build first._"),
    ])


@app.cell
def _(build_runs, settings):
    _ = build_runs
    _models = artifacts.model_rows(artifacts.load_artifact(settings, artifacts.MANIFEST) or {})
    mo.ui.table(_models, selection=None, page_size=25) if _models else None


if __name__ == "__main__":
    app.run()
