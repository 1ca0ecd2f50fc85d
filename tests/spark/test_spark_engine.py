"""The same dbt project on Spark gives the same Gold as on DuckDB (ADR 0022).

Given the kitchen-sink landing zone ingested once and built on both engines from the
same Bronze, then every Gold table has the same columns, the same types (in each
engine's spelling) and the same rows: money to the cent, counts exact, ratios to 1e-12;
and the Ibis metric layer returns the same numbers on Ibis's pyspark backend, filtered
or not.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from lakecore.settings import Settings

pytestmark = pytest.mark.spark

#: Every Gold model of the dbt project (dbt/models/marts).
GOLD = ("cohort_retention", "dim_account_attributes", "dim_accounts", "dim_plans",
        "fct_account_daily_usage", "fct_account_mrr_monthly", "fct_invoices",
        "fct_subscriptions", "metric_cohort_cells", "metric_mrr_cells_monthly",
        "metric_trials", "mrr_movements_monthly", "saas_kpis_monthly",
        "trial_conversion_monthly")


def _duckdb_gold(settings: Settings, name: str) -> pa.Table:
    from transform.warehouse import connect_readonly

    con = connect_readonly(settings)
    try:
        return con.sql(f"select * from gold.{name}").to_arrow_table()
    finally:
        con.close()


def _spark_gold(settings: Settings, name: str) -> pa.Table:
    from transform.spark_build import spark_gold_session

    return spark_gold_session(settings).table(f"gold.{name}").toArrow()


def _type_name(data_type: pa.DataType) -> str:
    """One spelling per logical type: both engines' strings, instants, integers."""
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "string"
    if pa.types.is_timestamp(data_type):
        return f"timestamp[{data_type.unit}, tz={data_type.tz}]"
    return str(data_type)


def _sorted_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    rows = [tuple(row.values()) for row in table.to_pylist()]
    return sorted(rows, key=lambda row: tuple((value is None, str(value)) for value in row))


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or math.isclose(
            left, right, rel_tol=1e-12, abs_tol=1e-12)
    return bool(left == right)


@pytest.mark.parametrize("name", GOLD)
def test_gold_is_equal_on_both_engines(spark_lake: Settings, name: str) -> None:
    duck = _duckdb_gold(spark_lake, name)
    spark = _spark_gold(spark_lake, name)

    assert spark.column_names == duck.column_names
    assert [_type_name(f.type) for f in spark.schema] == [_type_name(f.type) for f in duck.schema]
    assert spark.num_rows == duck.num_rows
    assert duck.num_rows > 0, f"gold.{name} is empty: the comparison would prove nothing"
    for duck_row, spark_row in zip(_sorted_rows(duck), _sorted_rows(spark), strict=True):
        differences = {column: (d, s) for column, d, s
                       in zip(duck.column_names, duck_row, spark_row, strict=True)
                       if not _same(d, s)}
        assert not differences, f"gold.{name}: {differences}"


def test_money_is_decimal_cents_on_spark(spark_lake: Settings) -> None:
    kpis = _spark_gold(spark_lake, "saas_kpis_monthly")

    assert kpis.schema.field("mrr_usd").type == pa.decimal128(18, 2)
    march = next(row for row in kpis.to_pylist() if row["month_start"] == date(2025, 3, 1))
    assert isinstance(march["mrr_usd"], Decimal)
    assert march["mrr_usd"] == _duckdb_gold(spark_lake, "saas_kpis_monthly").filter(
        pa.compute.equal(pa.compute.field("month_start"), date(2025, 3, 1)))[
        "mrr_usd"][0].as_py()


@pytest.mark.parametrize("filters", [
    {},
    {"segment": ["enterprise"], "start": date(2024, 6, 1)},
    {"currency": ["eur"]},
], ids=["all", "enterprise-from-june", "eur"])
def test_metric_layer_is_equal_on_pyspark(spark_lake: Settings, filters: dict[str, Any]) -> None:
    from analytics.filters import MetricFilters
    from analytics.metrics import (
        cohort_retention,
        mrr_movements,
        open_metrics,
        open_spark_metrics,
        saas_kpis,
        trial_conversion,
    )

    metric_filters = MetricFilters.from_mapping(filters)
    metrics = (mrr_movements, saas_kpis, cohort_retention, trial_conversion)
    with open_metrics(spark_lake) as duck_backend:
        duck = [metric(duck_backend, metric_filters).to_pyarrow() for metric in metrics]
    with open_spark_metrics(spark_lake) as spark_backend:
        spark = [metric(spark_backend, metric_filters).to_pyarrow() for metric in metrics]

    for metric, duck_table, spark_table in zip(metrics, duck, spark, strict=True):
        assert spark_table.column_names == duck_table.column_names, metric.__name__
        assert spark_table.num_rows == duck_table.num_rows, metric.__name__
        for duck_row, spark_row in zip(_sorted_rows(duck_table), _sorted_rows(spark_table),
                                       strict=True):
            assert all(_same(d, s) for d, s in zip(duck_row, spark_row, strict=True)), (
                metric.__name__, duck_row, spark_row)
    assert duck[0].num_rows > 0
