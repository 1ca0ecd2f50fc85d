"""Column lineage (transform.column_lineage) of the built session lakehouse, and by hand.

The expected sets are read off the models' SQL: which columns each select expression uses,
through CTEs, ``select *``, windows and joins (filters, join keys and ``group by`` are not
inputs of a value), down to Bronze and the landing contract.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from lakecore.errors import CorruptFileError, UserInputError
from lakecore.settings import Settings
from saaslake.cli import main
from transform import column_lineage as cl
from transform.column_lineage import ColumnRef, LineageGraph
from transform.warehouse import WarehouseNotBuiltError

SUBS = "silver.stg_billing__subscriptions"
PLANS = "silver.stg_billing__plans"
FX = "silver.stg_billing__fx_rates"
RATED = "silver.int_subscription_versions_rated"
SUB_MRR = "silver.int_subscription_mrr_monthly"

#: Gold columns computed from no column at all: a row count.
CONSTANT_ONLY = {
    "gold.fct_subscriptions.version_count": ("COUNT(*)",),
    "gold.cohort_retention.cohort_customers": ("COUNT(*)",),
    "gold.fct_account_daily_usage.event_count": ("CAST(COUNT(*) AS BIGINT)",),
    "gold.trial_conversion_monthly.trials_started": ("CAST(COUNT(*) AS BIGINT)",),
}


def refs(*names: str) -> set[ColumnRef]:
    """``relation.column`` strings as references (the column is the last part)."""
    return {ColumnRef(*name.rsplit(".", 1)) for name in names}


def declared_models(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Every model of the build's manifest as ``<layer>.<name>`` and its declared columns."""
    manifest = json.loads(cl.manifest_path(settings).read_text(encoding="utf-8"))
    return {f"{n['database']}.{n['name']}": tuple(n["columns"])
            for n in manifest["nodes"].values() if n["resource_type"] == "model"}


# The session lakehouse -------------------------------------------------------------------
def test_mrr_traces_through_the_mrr_models_to_the_price_terms_of_the_landing_files(
        lakehouse: Settings) -> None:
    """Given the built lakehouse, when the chain of gold.saas_kpis_monthly.mrr_usd is traced,
    then it passes the MRR bridge, the account and subscription MRR, the rated versions and the
    three staging models, and ends at the plan amount, interval, currency, quantity, discount,
    status, fx rate and version time of the landing files (and the as-of date's batches)."""
    chain = cl.column_chain(lakehouse, "gold.saas_kpis_monthly.mrr_usd")

    relations = {node.ref.relation for node in chain.walk()}
    assert {"gold.mrr_movements_monthly", "gold.fct_account_mrr_monthly", SUB_MRR, RATED, SUBS,
            PLANS, FX, "silver.int_as_of_date", "silver.stg_lakehouse__batches",
            "bronze.subscriptions", "bronze.plans", "bronze.fx_rates",
            "meta.batches"} <= relations
    assert set(cl.landing_fields(chain)) == refs(
        "landing.billing/plans.unit_amount_minor", "landing.billing/plans.currency",
        "landing.billing/plans.billing_interval", "landing.billing/plans.interval_count",
        "landing.billing/subscriptions.quantity",
        "landing.billing/subscriptions.discount_percent",
        "landing.billing/subscriptions.status", "landing.billing/subscriptions.account_id",
        "landing.billing/subscriptions.updated_at", "landing.billing/fx_rates.usd_per_unit",
        "loader.batches.export_date")
    by_ref = {node.ref: node for node in chain.walk()}
    assert {n.kind for n in by_ref.values()} == {"model", "source", "landing", "loader"}
    amount = by_ref[ColumnRef("landing.billing/plans", "unit_amount_minor")]
    assert amount.kind == "landing"
    assert amount.note.startswith("landing field: int, required")
    assert [u.ref for u in by_ref[ColumnRef("bronze.plans", "unit_amount_minor")].upstream] == [
        amount.ref]


def test_direct_upstream_of_the_mrr_models_is_what_their_sql_computes(lakehouse: Settings
                                                                       ) -> None:
    """Given the built lakehouse, when the direct upstream of each model of the MRR path is asked
    for, then each column maps to exactly the parent columns its select expression uses."""
    kpis = cl.direct_upstream(lakehouse, "gold.saas_kpis_monthly")
    assert set(kpis["mrr_usd"]) == refs("gold.mrr_movements_monthly.closing_mrr_usd")
    assert set(kpis["arpa_usd"]) == refs("gold.mrr_movements_monthly.closing_mrr_usd",
                                         "gold.mrr_movements_monthly.customers_closing")
    assert set(kpis["nrr_12m"]) == refs("gold.mrr_movements_monthly.month_start",
                                        "gold.fct_account_mrr_monthly.mrr_usd")

    movements = cl.direct_upstream(lakehouse, "mrr_movements_monthly")
    assert set(movements["closing_mrr_usd"]) == refs("gold.fct_account_mrr_monthly.mrr_usd")

    account_mrr = cl.direct_upstream(lakehouse, "fct_account_mrr_monthly")
    assert set(account_mrr["mrr_usd"]) == refs(
        f"{SUB_MRR}.account_id", f"{SUB_MRR}.month_start", f"{SUB_MRR}.months_per_interval",
        f"{SUB_MRR}.mrr_numerator")

    subscription_mrr = cl.direct_upstream(lakehouse, "int_subscription_mrr_monthly")
    assert set(subscription_mrr["mrr_numerator"]) == refs(f"{RATED}.mrr_numerator")
    assert set(subscription_mrr["month_start"]) == refs("silver.int_as_of_date.as_of_month",
                                                        f"{RATED}.valid_from")

    rated = cl.direct_upstream(lakehouse, "int_subscription_versions_rated")
    assert set(rated["mrr_numerator"]) == refs(
        f"{PLANS}.unit_amount_minor", f"{PLANS}.currency", f"{SUBS}.quantity",
        f"{SUBS}.discount_percent", f"{SUBS}.status", f"{FX}.usd_per_unit")
    assert set(rated["usd_per_unit"]) == refs(f"{PLANS}.currency", f"{FX}.usd_per_unit")


def test_select_star_and_cte_models_expand_every_column(lakehouse: Settings) -> None:
    """Given staging models that end in `select * from final` over CTEs of `*` and windows, when
    their direct upstream is computed, then every declared column is there, renamed and window
    columns map to their Bronze inputs and the loader's columns to the loader."""
    subs = cl.direct_upstream(lakehouse, "stg_billing__subscriptions")
    assert set(subs) == set(declared_models(lakehouse)[SUBS])
    assert set(subs["trial_start_at"]) == refs("bronze.subscriptions.trial_start")
    assert set(subs["valid_to"]) == refs("bronze.subscriptions.subscription_id",
                                         "bronze.subscriptions.updated_at")
    assert set(subs["subscription_version_id"]) == refs("bronze.subscriptions.subscription_id",
                                                        "bronze.subscriptions.updated_at")
    plans = cl.direct_upstream(lakehouse, "stg_billing__plans")
    assert set(plans["months_per_interval"]) == refs("bronze.plans.billing_interval",
                                                     "bronze.plans.interval_count")

    batch = cl.column_chain(lakehouse, f"{SUBS}._batch_id")
    (loader,) = cl.landing_fields(batch)
    assert loader == ColumnRef("landing.billing/subscriptions", "_batch_id")
    assert [n.note for n in batch.walk() if n.ref == loader] == [
        "set by the loader: SHA-256 of the landing file's bytes"]

    # A struct unnested from JSON text traces to the JSON field as a whole
    lines = cl.column_chain(lakehouse, "silver.int_billing__invoice_lines.plan_id")
    assert cl.landing_fields(lines) == [ColumnRef("landing.billing/invoices", "lines")]


def test_every_column_resolves_and_only_row_counts_are_constant(lakehouse: Settings) -> None:
    """Given the built lakehouse, when the lineage of every model is parsed, then each model's
    columns are its declared ones, nothing is unresolved, and every Gold column's chain reaches
    the landing contract except the four row counts, whose only input is COUNT(*)."""
    graph = cl.load_graph(lakehouse)
    for relation, declared in declared_models(lakehouse).items():
        parsed = graph.model_lineage(relation)
        assert set(parsed.upstream) == set(declared), relation
        assert not any(parsed.unresolved.values()), (relation, parsed.unresolved)

    constant_only = {}
    for table in cl.gold_tables(graph):
        for column in graph.columns(table):
            chain = graph.chain(ColumnRef(table, column))
            if not cl.landing_fields(chain):
                constant_only[str(chain.ref)] = chain.constants
                assert not chain.upstream
    assert constant_only == CONSTANT_ONLY


def test_unknown_table_or_column_is_one_line_with_close_matches(lakehouse: Settings) -> None:
    """Given the built lakehouse, when a misspelt table, column or a malformed name is asked for,
    then one line names it and the closest known names."""
    with pytest.raises(UserInputError) as column:
        cl.column_chain(lakehouse, "gold.saas_kpis_monthly.mrr")
    assert str(column.value).startswith("unknown column gold.saas_kpis_monthly.mrr; did you mean")
    assert "gold.saas_kpis_monthly.mrr_usd" in str(column.value)
    with pytest.raises(UserInputError) as table:
        cl.column_chain(lakehouse, "gold.saas_kpi_monthly.mrr_usd")
    assert str(table.value) == ("unknown table gold.saas_kpi_monthly; did you mean "
                                "gold.saas_kpis_monthly?")
    with pytest.raises(UserInputError, match=r"is not <layer>\.<table>\.<column>"):
        cl.column_chain(lakehouse, "mrr_usd")
    with pytest.raises(UserInputError, match="unknown model saas_kpis; did you mean"):
        cl.direct_upstream(lakehouse, "saas_kpis")
    for error in (column, table):
        assert "\n" not in str(error.value)


def test_direct_upstream_is_cached_per_manifest(lakehouse: Settings) -> None:
    """Given the built lakehouse, when direct_upstream is called twice, then the graph is parsed
    once and the second call costs next to nothing."""
    assert cl.load_graph(lakehouse) is cl.load_graph(lakehouse)
    cl.direct_upstream(lakehouse, "gold.dim_accounts")
    started = time.perf_counter()
    again = cl.direct_upstream(lakehouse, "gold.dim_accounts")
    assert time.perf_counter() - started < 0.05
    assert set(again["account_id"]) == refs("silver.stg_app__accounts.account_id",
                                            f"{SUBS}.account_id")


def test_cli_prints_the_chain_as_text_and_as_json(lakehouse: Settings,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Given the built lakehouse, when `lakehouse lineage` runs with text and json formats and
    with a misspelt column, then it prints the tree, valid JSON of the same chain, and one error
    line with exit code 2."""
    root = ["--root", str(lakehouse.root)]
    assert main([*root, "lineage", "gold.saas_kpis_monthly.mrr_usd"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("gold.saas_kpis_monthly.mrr_usd\n└── "
                           "gold.mrr_movements_monthly.closing_mrr_usd\n")
    assert "landing.billing/plans.unit_amount_minor  (landing field: int" in text

    assert main([*root, "lineage", "gold.saas_kpis_monthly.mrr_usd", "--format", "json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert data["column"] == "gold.saas_kpis_monthly.mrr_usd"
    assert data["nodes"][data["column"]]["upstream"] == [
        "gold.mrr_movements_monthly.closing_mrr_usd"]
    assert "landing.billing/fx_rates.usd_per_unit" in data["landing"]
    for name, node in data["nodes"].items():
        assert all(up in data["nodes"] for up in node["upstream"]), name

    assert main([*root, "lineage", "gold.saas_kpis_monthly.mrr"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lakehouse: error: unknown column")
    assert err.count("\n") == 1


def test_docs_page_has_every_gold_table_and_column(lakehouse: Settings, tmp_path: Path) -> None:
    """Given the built lakehouse, when the lineage docs page is written, then it has a section per
    Gold table and one per column with its chain, and links nothing online."""
    page = cl.write_lineage_docs(lakehouse, tmp_path / "docs")
    assert page == tmp_path / "docs" / "lineage.md"
    text = page.read_text(encoding="utf-8")
    gold = [r for r in declared_models(lakehouse) if r.startswith("gold.")]
    assert len(gold) == 14
    for table in gold:
        assert f"\n## {table}\n" in text
        for column in declared_models(lakehouse)[table]:
            assert f"\n### {table}.{column}\n" in text
    assert "\n```text\ngold.saas_kpis_monthly.mrr_usd\n└── " in text
    assert "http://" not in text
    assert "https://" not in text


# By hand -----------------------------------------------------------------------------------
def model(name: str, layer: str, sql: str, columns: tuple[str, ...] = (),
          parents: tuple[str, ...] = ()) -> dict[str, Any]:
    """A manifest entry of a compiled model."""
    return {"resource_type": "model", "name": name, "alias": name, "database": layer,
            "unique_id": f"model.p.{name}", "relation_name": f'"{layer}"."main"."{name}"',
            "columns": {c: {"name": c} for c in columns}, "compiled_code": sql,
            "depends_on": {"nodes": list(parents)}}


PLANS_SOURCE = {"resource_type": "source", "source_name": "billing", "name": "plans",
                "unique_id": "source.p.billing.plans", "columns": {},
                "relation_name": '"memory"."bronze"."billing__plans"'}


def hand_manifest() -> dict[str, Any]:
    """Two models that declare no column (so their `*` is inferred) and two that cannot resolve.

    Listed downstream first: the graph infers the parents' columns before a child's.
    """
    nodes = [
        model("b", "gold", "select *, 'x' as tag from \"silver\".\"main\".\"a\"",
              parents=("model.p.a",)),
        model("a", "silver", "with s as (select * from \"memory\".\"bronze\".\"billing__plans\")"
              " select plan_id, unit_amount_minor * 2 as doubled, 1 as one from s",
              parents=("source.p.billing.plans",)),
        model("c", "gold", 'select * from "memory"."bronze"."mystery"'),
        model("d", "gold", 'select m.x as y from "memory"."bronze"."mystery" as m', ("y",)),
    ]
    return {"metadata": {"generated_at": "now"},
            "sources": {"source.p.billing.plans": PLANS_SOURCE},
            "nodes": {n["unique_id"]: n for n in nodes}}


def test_undeclared_columns_are_inferred_and_constants_and_unknowns_reported() -> None:
    """Given a manifest whose models declare no columns, one with a literal and two that read an
    unknown relation, when their lineage is parsed, then `*` expands to the inferred columns,
    literals are constants and each unknown input is reported with its reason."""
    graph = LineageGraph(hand_manifest())

    b = graph.model_lineage("b")
    assert list(b.upstream) == ["plan_id", "doubled", "one", "tag"]
    assert b.upstream["doubled"] == (ColumnRef("silver.a", "doubled"),)
    assert b.constants["tag"] == ("'x'",)
    doubled = graph.chain(ColumnRef("gold.b", "doubled"))
    assert cl.landing_fields(doubled) == [ColumnRef("landing.billing/plans",
                                                    "unit_amount_minor")]
    one = graph.chain(ColumnRef("gold.b", "one"))
    assert cl.constant_inputs(one) == {ColumnRef("silver.a", "one"): ("1",)}
    assert "= 1  (no column input)" in cl.render_text(one)

    assert graph.model_lineage("c").unresolved == {"*": (
        'select * over "memory"."bronze"."mystery" AS mystery whose columns are unknown',)}
    assert graph.model_lineage("d").unresolved["y"] == (
        'm.x: "memory"."bronze"."mystery" AS m is no model or source of the manifest',)


def test_a_root_without_a_manifest_says_to_build(settings: Settings) -> None:
    """Given a fresh lakehouse root, when a column's lineage is asked for, then the error says
    there is no dbt manifest yet and to run `lakehouse build`."""
    with pytest.raises(WarehouseNotBuiltError, match=r"no dbt manifest .* run `lakehouse build`"):
        cl.column_chain(settings, "gold.saas_kpis_monthly.mrr_usd")


def test_the_cache_follows_the_manifest_file(settings: Settings) -> None:
    """Given a root with a hand-written manifest, when it is rewritten, then the next call reads
    the new one; when it is damaged, the error names the file and the rebuild."""
    path = cl.manifest_path(settings)
    path.parent.mkdir(parents=True)
    manifest = hand_manifest()
    path.write_text(json.dumps(manifest), encoding="utf-8")
    assert list(cl.direct_upstream(settings, "gold.b")) == ["plan_id", "doubled", "one", "tag"]

    manifest["nodes"]["model.p.b"]["compiled_code"] = 'select plan_id from "silver"."main"."a"'
    path.write_text(json.dumps(manifest) + " " * 16, encoding="utf-8")
    assert list(cl.direct_upstream(settings, "gold.b")) == ["plan_id"]

    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CorruptFileError, match="run `lakehouse build` to write it again"):
        cl.load_graph(settings)
