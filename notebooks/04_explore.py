import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Explore")

with app.setup:
    from collections.abc import Callable

    import ibis
    import marimo as mo
    import pyarrow as pa

    from analytics.metrics import gold_table, open_metrics
    from analytics.query import run_query
    from lakecore.errors import LakehouseError
    from lakecore.settings import Settings

    EXAMPLE_SQL = (
        "select month_start, mrr_usd, paying_customers, nrr_12m\n"
        "from gold.saas_kpis_monthly\norder by month_start desc\nlimit 12"
    )


@app.function
def ibis_result(settings: Settings, build: Callable[[ibis.BaseBackend], object],
                limit: int = 500) -> pa.Table:
    """Build an Ibis expression on the metric layer's read-only backend and run it.

    Raises:
        WarehouseNotBuiltError: No build was published yet (a LakehouseError).
    """
    with open_metrics(settings) as backend:
        return build(backend).limit(limit).to_pyarrow()


@app.cell
def _():
    mo.md("""
    # Explore Bronze, Silver and Gold

    Ad-hoc, read-only queries through `analytics.query`: an in-memory DuckDB whose
    schemas are `bronze.<entity>`, `quarantine.<entity>`, `meta.batches`, and, once a
    build is published, `silver.<model>` and `gold.<model>`. Only one `SELECT` per
    query; nothing here can write.
    """)


@app.cell
def _():
    settings = Settings.from_env()
    try:
        schema = run_query(settings, """
            select database_name as catalog, schema_name as schema, table_name as table,
                   count(*) as columns,
                   string_agg(column_name || ' ' || data_type, ', '
                              order by column_index) as column_list
            from duckdb_columns()
            where database_name in ('memory', 'silver', 'gold')
              and schema_name not in ('information_schema', 'pg_catalog')
            group by all order by all
        """)
    except LakehouseError as err:
        schema = None
        mo.output.replace(mo.md(f"_Nothing to explore yet: {err}_"))
    return schema, settings


@app.cell
def _(schema):
    mo.vstack([mo.md("## Schema browser"),
               mo.ui.table(schema, selection=None, page_size=10)]) if schema else None


@app.cell
def _():
    sql = mo.ui.code_editor(value=EXAMPLE_SQL, language="sql", min_height=120,
                            label="SQL (read-only)")
    sql
    return (sql,)


@app.cell
def _(settings, sql):
    try:
        _result = mo.ui.table(run_query(settings, sql.value), selection=None, page_size=15)
    except LakehouseError as err:
        _result = mo.callout(mo.plain_text(str(err)), kind="danger")
    _result


@app.cell
def _():
    top_n = mo.ui.slider(start=5, stop=50, value=10, label="Top accounts", show_value=True)
    mo.vstack([mo.md("## Ibis: top accounts by current MRR\nThe same query as a lazy Ibis "
                     "expression; DuckDB runs it."), top_n])
    return (top_n,)


@app.cell
def _(settings, top_n):
    def _top_accounts(backend: ibis.BaseBackend):
        accounts = gold_table(backend, "dim_accounts")
        return (accounts.filter(accounts.is_paying)
                .select("account_id", "segment", "country_code", "cohort_month",
                        "current_mrr_usd")
                .order_by(ibis.desc("current_mrr_usd"))
                .limit(int(top_n.value)))

    try:
        _out = mo.ui.table(ibis_result(settings, _top_accounts), selection=None)
    except LakehouseError as err:
        _out = mo.md(f"_Gold is not available: {err}_")
    _out


if __name__ == "__main__":
    app.run()
