"""`lakehouse sql --engine spark` and the tests of the dbt project on Spark (ADR 0022).

The CLI runs in this process (``main``): an embedded Derby metastore admits one process at
a time, and this one already holds it through the session-wide ``spark_lake``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakecore.settings import DBT_PROJECT_DIR, Settings
from saaslake.cli import main

pytestmark = pytest.mark.spark


def test_sql_on_spark_reads_gold_like_duckdb(spark_lake: Settings,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Given Gold built on both engines, when the same query runs with --engine spark and
    with the default engine, then both print the same rows."""
    query = ("select month_start, mrr_usd, paying_customers from gold.saas_kpis_monthly "
             "where month_start >= date'2025-01-01' order by month_start")
    root = ["--root", str(spark_lake.root)]

    assert main([*root, "sql", "--engine", "spark", "--format", "json", query]) == 0
    spark_rows = json.loads(capsys.readouterr().out)
    assert main([*root, "sql", "--format", "json", query]) == 0
    duck_rows = json.loads(capsys.readouterr().out)

    assert spark_rows == duck_rows
    assert [row["month_start"] for row in spark_rows] == ["2025-01-01", "2025-02-01",
                                                          "2025-03-01"]


@pytest.mark.parametrize(("query", "message"), [
    ("select * from parquet.`{root}/bronze`", "only silver.<table> and gold.<table>"),
    ("drop table gold.dim_plans", "not DROP"),
    ("select * from gold.no_such_table", "Spark: [TABLE_OR_VIEW_NOT_FOUND]"),
])
def test_sql_on_spark_refuses_in_one_line(spark_lake: Settings, query: str, message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Given a path read, a write or an unknown table, then the command exits 2 with one
    line, and Gold is untouched."""
    code = main(["--root", str(spark_lake.root), "sql", "--engine", "spark",
                 query.format(root=spark_lake.root)])

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1
    assert main(["--root", str(spark_lake.root), "sql", "--engine", "spark",
                 "select count(*) as n from gold.dim_plans"]) == 0


def test_the_project_s_singular_data_tests_pass_on_spark(spark_lake: Settings) -> None:
    """Given Gold built on Spark, when the project's cross-model identities (the singular
    data tests: bridge sums, opening = previous closing, cohort sizes...) run on Spark,
    then all pass."""
    from transform.spark_build import build_spark

    result = build_spark(spark_lake, models=False, select="test_type:singular")

    assert result.outcome.tests == len(list((DBT_PROJECT_DIR / "tests").glob("*.sql")))
    assert result.outcome.failures == []


def test_a_duckdb_unit_test_pass_never_skips_them_on_spark(spark_lake: Settings) -> None:
    """Given the unit tests passed on DuckDB for this very project (kitchen_sink_lake builds
    with tests), then Spark's fingerprint differs from the recorded one and Spark has no
    record of its own yet: a Spark build runs the unit tests."""
    from transform import spark_build
    from transform.build import project_fingerprint, unit_tests_passed_for

    duckdb_stamp = spark_lake.warehouse / "unit_tests_passed.json"
    assert unit_tests_passed_for(duckdb_stamp) == project_fingerprint()
    assert spark_build.spark_fingerprint() != project_fingerprint()
    assert unit_tests_passed_for(spark_lake.spark / "unit_tests_passed.json") is None
    assert "unit_test" not in spark_build.dbt_args(spark_lake, tests=True, unit_tests=True)


def test_an_object_storage_root_is_refused_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a lakehouse whose data root is s3://, when a Spark session is asked for, then
    it is refused with one line naming the root (Spark here has no S3 connector), before
    any JVM starts or any file is written."""
    from lakecore.errors import EngineUnavailableError
    from lakecore.spark import spark_session

    monkeypatch.setenv("LAKEHOUSE_STATE", str(tmp_path / "state"))
    settings = Settings.from_env(root="s3://some-bucket/lake")

    with pytest.raises(EngineUnavailableError) as refused:
        spark_session(settings)

    assert "s3://some-bucket/lake is object storage" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "state").exists()
