"""`lakehouse sql --engine spark` keeps ADR 0013's promise: no SQL text can change a file.

The statement check runs before any Spark session exists (it needs sqlglot only, part of
the default install), so these tests run in `make test`; the queries that pass it run
on Spark in tests/spark.
"""

from __future__ import annotations

import pytest

from analytics.spark_query import check_spark_statement
from lakecore.errors import QueryError


@pytest.mark.parametrize("sql", [
    "select * from gold.mrr_movements_monthly",
    "select month_start, sum(mrr_usd) from gold.fct_account_mrr_monthly group by 1",
    "with paying as (select * from gold.dim_accounts where is_paying) select count(*) from paying",
    "select * from silver.stg_app__accounts union all select * from silver.stg_app__accounts",
    "select a.account_id from gold.dim_accounts as a left semi join gold.fct_invoices as i "
    "on a.account_id = i.account_id",
])
def test_single_reads_of_silver_and_gold_pass(sql: str) -> None:
    """Given one query over silver.* / gold.* (CTEs, joins, set operations), then it passes."""
    check_spark_statement(sql)


@pytest.mark.parametrize(("sql", "message"), [
    ("select * from parquet.`/etc/passwd`", "parquet.`/etc/passwd`: only silver.<table>"),
    ("select * from json.`s3a://bucket/x`", "json.`s3a://bucket/x`: only silver.<table>"),
    ("select * from gold.`/tmp/x`", "gold.`/tmp/x`: only silver.<table>"),
    ("select * from gold.x where k in (select k from parquet.`/x`)", "parquet.`/x`"),
    ("select * from global_temp.batches", "global_temp.batches: only silver.<table>"),
    ("select * from spark_catalog.gold.dim_plans", "without a catalog"),
    ("select * from dim_plans", "dim_plans: name tables as silver.<table> or gold.<table>"),
    ("select * from range(10)", "only silver.<table> and gold.<table> can be read"),
    ("drop table gold.dim_plans", "only read queries are allowed on Spark (select / with), "
                                  "not DROP"),
    ("insert into gold.dim_plans select * from gold.dim_plans", "not INSERT"),
    ("create table gold.t using parquet location '/tmp/t' as select 1", "not CREATE"),
    ("cache table gold.dim_plans", "not CACHE"),
    ("set spark.sql.shuffle.partitions=1", "not SET"),
    ("add jar /tmp/evil.jar", "not ADD JAR"),
    ("select 1; drop table gold.dim_plans", "one query at a time, got 2 statements"),
    ("select reflect('java.lang.System', 'exit', 1)", "function reflect() is not allowed"),
    ("select java_method('java.lang.Runtime', 'getRuntime')", "function java_method()"),
])
def test_anything_else_is_refused_in_one_line(sql: str, message: str) -> None:
    """Given a write, a path-based read, another schema, a JVM call or two statements, when
    the statement is checked, then it is refused with one line naming what is wrong."""
    with pytest.raises(QueryError) as raised:
        check_spark_statement(sql)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert raised.value.exit_code == 2
