import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Transform")

with app.setup:
    import json
    from pathlib import Path

    import marimo as mo

    from saaslake.build import build
    from saaslake.config import DBT_PROJECT_DIR, Settings
    from saaslake.errors import LakehouseError

    LAYER_OF = {"staging": "Silver", "intermediate": "Silver", "marts": "Gold"}


@app.function
def live_log(title: str):
    """A progress callback that shows the last lines of a running step in the cell."""
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(str(line))
        mo.output.replace(mo.vstack([mo.md(f"**{title}** (running)"),
                                     mo.plain_text("\n".join(lines[-30:]))]))

    return say


@app.function
def dbt_artifact(settings: Settings, name: str) -> dict | None:
    """A dbt artifact of the last build (``manifest.json``, ``run_results.json``)."""
    for folder in (settings.warehouse / "dbt_target", DBT_PROJECT_DIR / "target"):
        path = Path(folder) / name
        if path.exists():
            return json.loads(path.read_text())
    return None


@app.function
def lineage_mermaid(manifest: dict) -> str:
    """The model graph (sources -> Silver -> Gold) as a Mermaid flowchart."""
    nodes = {**manifest.get("sources", {}),
             **{k: v for k, v in manifest.get("nodes", {}).items()
                if v.get("resource_type") == "model"}}
    ids = {key: f"n{i}" for i, key in enumerate(sorted(nodes))}
    lines = ["graph LR"]
    for key, node in sorted(nodes.items()):
        label = (f"{node['source_name']}.{node['name']}" if node["resource_type"] == "source"
                 else node["name"])
        shape = f'{ids[key]}[("{label}")]' if node["resource_type"] == "source" \
            else f'{ids[key]}["{label}"]'
        lines.append(f"  {shape}")
    for key, node in sorted(nodes.items()):
        for parent in node.get("depends_on", {}).get("nodes", []):
            if parent in ids:
                lines.append(f"  {ids[parent]} --> {ids[key]}")
    return "\n".join(lines)


@app.function
def run_rows(run_results: dict) -> list[dict]:
    """One row per model and test of the last build: status, failures, seconds."""
    rows = []
    for item in run_results.get("results", []):
        kind, _, rest = item["unique_id"].partition(".")
        if kind not in ("model", "test", "unit_test"):
            continue
        rows.append({"kind": kind, "name": rest.split(".", 1)[-1], "status": item["status"],
                     "failures": item.get("failures"),
                     "seconds": round(item.get("execution_time") or 0, 2),
                     "message": item.get("message")})
    return rows


@app.cell
def _():
    mo.md("""
    # Transform: Bronze to Silver and Gold with dbt

    `dbt build` runs in-process (`saaslake.build.build`) under the pipeline lock. Models
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
                            progress=live_log("dbt build"))
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
    _results = dbt_artifact(settings, "run_results.json")
    _rows = run_rows(_results) if _results else []
    _failing = [r for r in _rows if r["status"] in ("error", "fail", "warn")]
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
    _manifest = dbt_artifact(settings, "manifest.json")
    mo.vstack([
        mo.md("## Model lineage (from dbt's manifest)"),
        mo.mermaid(lineage_mermaid(_manifest)) if _manifest
        else mo.md("_No manifest yet: run a build first._"),
    ])


@app.cell
def _(build_runs, settings):
    _ = build_runs
    _manifest = dbt_artifact(settings, "manifest.json") or {}
    _models = [
        {"model": n["name"], "layer": LAYER_OF.get(n["fqn"][1], n["fqn"][1]),
         "materialized": n["config"].get("materialized"),
         "description": n.get("description", "")}
        for n in _manifest.get("nodes", {}).values() if n.get("resource_type") == "model"
    ]
    mo.ui.table(sorted(_models, key=lambda m: (m["layer"], m["model"])), selection=None,
                page_size=25) if _models else None


if __name__ == "__main__":
    app.run()
