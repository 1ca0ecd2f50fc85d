"""The `lakehouse` command: one clear line per user mistake, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakecore.settings import Settings
from saaslake.cli import main
from tests.helpers import PROJECT
from tests.helpers.landing import PLANS_HEADER, WriteLanding, plan_line

PLANS = "billing/plans/2024-03-01/part-0001.csv"


def lakehouse(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saaslake.cli", *args], cwd=PROJECT,
        env={**os.environ, "LAKEHOUSE_ROOT": str(settings.root)},
        capture_output=True, text=True, check=False,
    )


@pytest.fixture
def loaded(settings: Settings, write_landing: WriteLanding) -> Settings:
    """One plans file ingested: p1 and p3 (O'Brien) land, p2 (amount 'x') is quarantined."""
    write_landing(PLANS, "\n".join([PLANS_HEADER, plan_line("p1"), plan_line("p2", amount="x"),
                                    plan_line("p3", name="O'Brien")]) + "\n")
    assert main(["--root", str(settings.root), "--quiet", "ingest"]) == 0
    return settings


def test_status_reports_rows_quarantine_and_as_of(loaded: Settings) -> None:
    """Given one plans file ingested (two rows landed, one quarantined), when `lakehouse status`
    runs, then it lists the entity's batches, rows, quarantined rows and latest export, and the
    as-of date."""
    # When `lakehouse status` runs
    result = lakehouse(loaded, "status")
    # Then it prints a table per entity and the as-of date
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["entity", "batches", "rows", "quarantined", "latest", "export"]
    assert lines[2].split() == ["billing/plans", "1", "2", "1", "2024-03-01"]
    assert "as-of date (latest export committed): 2024-03-01" in result.stdout


def test_sql_formats(loaded: Settings) -> None:
    """Given the ingested plans, when `lakehouse sql` prints queries as CSV, as JSON and as the
    default table, then each shows the rows in that format, the quarantine's reasons included."""
    # When a query is printed as CSV, then it is plain CSV (a quote in a value as is)
    csv_out = lakehouse(loaded, "sql", "select plan_id, plan_name from bronze.plans order by 1",
                        "--format", "csv")
    assert csv_out.stdout.splitlines() == ["plan_id,plan_name", "p1,Growth", "p3,O'Brien"]
    # When as JSON, then it is a list of objects with typed values
    json_out = lakehouse(loaded, "sql", "select plan_id, unit_amount_minor from bronze.plans "
                         "order by 1", "--format", "json")
    assert json.loads(json_out.stdout) == [{"plan_id": "p1", "unit_amount_minor": 4900},
                                           {"plan_id": "p3", "unit_amount_minor": 4900}]
    # When the quarantine is printed as the default table, then columns are split by " | "
    table = lakehouse(loaded, "sql", "select _line_number, _reason from quarantine.plans")
    assert table.stdout.splitlines()[2].split(" | ") == [
        "3           ", "unit_amount_minor: not an integer: 'x'"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("drop table bronze.plans", "read-only: DROP statements are not allowed here"),
        ("copy (select 1) to 'out.csv'", "read-only: COPY statements are not allowed here"),
        ("select 1; select 2", "expected exactly one statement, found 2"),
        ("select * from bronze.nope", "SQL error: Catalog Error"),
        ("select * from read_csv('/etc/passwd')", "file system operations are disabled"),
        ("selec 1", "SQL error: Parser Error"),
    ],
)
def test_sql_refuses_writes_and_reports_errors_in_one_line(
    loaded: Settings, query: str, message: str
) -> None:
    """Given the ingested plans, when `lakehouse sql` is given a write, two statements, an unknown
    table, a file read or bad syntax, then it exits 2 with one error line naming the problem and no
    traceback, and the data is intact."""
    # When a query that is refused or fails is run
    result = lakehouse(loaded, "sql", query)
    # Then the command exits 2 with one error line and no traceback
    assert result.returncode == 2
    assert result.stderr.startswith("lakehouse: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # And the data is intact
    assert lakehouse(loaded, "sql", "select count(*) as n from bronze.plans",
                     "--format", "csv").stdout.split() == ["n", "2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--scale", "-1"], "must be greater than 0"),
        (["simulate", "--start", "2024-02-31"], "is not a date"),
        (["simulate", "--dirty", "1.5"], "must be at least 0 and below 1"),
        (["ingest", "../outside.csv"], "parent-directory components"),
        (["ingest", "/etc/passwd"], "outside the landing zone"),
        (["frobnicate"], "invalid choice"),
        (["summary"], "have not been built yet: run `lakehouse build`"),
        (["build"], "Bronze is empty"),
        (["run"], "Bronze is empty"),
        (["ingest", "billing/plans/2024-03-01/missing.csv"], "no such landing file"),
    ],
)
def test_usage_errors_are_one_line(settings: Settings, args: list[str], message: str) -> None:
    """Given an empty lakehouse, when the command gets an invalid option value, a hostile path or an
    unknown subcommand, then it exits 2 with a message naming the mistake and no traceback."""
    # When the command is given a wrong argument
    result = lakehouse(settings, *args)
    # Then it exits 2 naming the mistake on one line with one prefix, without a traceback
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("lakehouse: ") == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_empty_lakehouse_status_and_sql(settings: Settings, tmp_path: Path) -> None:
    """Given an empty lakehouse, when status, ingest and sql run, then status says Bronze is empty,
    ingest finds no landing files, and every entity is queryable, typed and empty."""
    # When status runs on an empty lakehouse, then it says Bronze is empty
    result = lakehouse(settings, "status")
    assert result.returncode == 0
    assert "Bronze is empty" in result.stdout
    # When ingest runs without landing files, then it says it found none
    ingest = lakehouse(settings, "ingest")
    assert f"no landing files found in {settings.landing} (write exports there as " \
        in ingest.stdout
    assert "`lakehouse simulate`" in ingest.stdout
    # And every entity is queryable (typed and empty) before anything was delivered
    counts = lakehouse(settings, "sql", "select (select count(*) from bronze.events) + "
                       "(select count(*) from bronze.subscriptions) as n", "--format", "csv")
    assert counts.stdout.split() == ["n", "0"]


def test_sql_into_a_closed_pipe_stops_quietly(loaded: Settings) -> None:
    """Given a query whose output is far larger than a pipe holds, when the reader closes the pipe
    after one line (`lakehouse sql ... | head -1`), then the command stops with exit 141 (SIGPIPE's
    code) and prints nothing on stderr: no BrokenPipeError traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "saaslake.cli", "sql",
         "select i, md5(i::varchar) from range(300000) t(i)", "--format", "csv"],
        cwd=PROJECT, env={**os.environ, "LAKEHOUSE_ROOT": str(loaded.root)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.readline().strip() == "i,md5(CAST(i AS VARCHAR))"
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert stderr == ""


def test_dbt_env_prints_the_profile_variables_as_shell_exports(settings: Settings) -> None:
    """Given a data root, when `lakehouse dbt-env` runs, then it prints one `export` line per
    variable the dbt profile reads, each pointing inside that root (quoted for the shell)."""
    result = lakehouse(settings, "dbt-env")
    assert result.returncode == 0
    exports = dict(line.removeprefix("export ").split("=", 1)
                   for line in result.stdout.splitlines())
    assert exports["LAKEHOUSE_DBT_ROOT"] == str(settings.root)
    assert exports["LAKEHOUSE_DBT_GOLD_CATALOG"] == \
        f"ducklake:sqlite:{settings.root}/warehouse/gold.sqlite"
    assert all(line.startswith("export LAKEHOUSE_DBT_") or line.startswith("export DBT_")
               for line in result.stdout.splitlines())


@pytest.mark.parametrize(("limit", "message"), [
    ("bogus", "LAKEHOUSE_MEMORY_LIMIT='bogus': expected a size such as 4GB or 512MB"),
    ("1KB", "LAKEHOUSE_MEMORY_LIMIT='1KB': at least 128MiB is needed"),
])
def test_a_bad_memory_limit_is_one_line(settings: Settings, limit: str, message: str) -> None:
    """Given LAKEHOUSE_MEMORY_LIMIT malformed or too small, when any command runs, then it exits
    2 with one line naming the variable, never DuckDB's parser or out-of-memory traceback."""
    result = subprocess.run([sys.executable, "-m", "saaslake.cli", "sql", "select 1"],
                            cwd=PROJECT, capture_output=True, text=True, check=False,
                            env={**os.environ, "LAKEHOUSE_ROOT": str(settings.root),
                                 "LAKEHOUSE_MEMORY_LIMIT": limit})
    assert result.returncode == 2
    assert result.stderr.strip() == f"lakehouse: error: {message}"


def test_out_of_memory_is_reported_in_one_line(loaded: Settings) -> None:
    """Given a 200MB memory limit, when a query needs far more (a 60-million-element list,
    which cannot spill), then the command exits 2 with one line saying it ran out of memory at
    that limit."""
    result = subprocess.run(
        [sys.executable, "-m", "saaslake.cli", "sql",
         "select len(list(i)) from range(60000000) t(i)"],
        cwd=PROJECT, capture_output=True, text=True, check=False,
        env={**os.environ, "LAKEHOUSE_ROOT": str(loaded.root), "LAKEHOUSE_MEMORY_LIMIT": "200MB"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("lakehouse: error: out of memory at LAKEHOUSE_MEMORY_LIMIT=200MB")
