"""The read-only surface: no SQL text can change, create or read a file.

Every face that runs SQL a user supplies (``lakehouse sql``, the explorer's
``analytics.query.run_query``) and the connection under the metric layer
(``transform.readonly``) gets the same battery of escape attempts: writing a file
outside the lakehouse, overwriting the catalogs, the manifest and Bronze inside it,
attaching databases, loading extensions, unlocking the configuration, and reading
arbitrary files. Each must be refused with one line, and afterwards every file under the
lakehouse root is byte-identical and nothing exists where the attempts aimed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from analytics import metrics
from analytics.query import run_query
from lakecore.errors import QueryError
from lakecore.settings import Settings
from saaslake.cli import main
from tests.helpers import PROJECT
from transform.readonly import open_surface, shared_readonly, shared_surface
from transform.warehouse import current_publication


def snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (SQLite's -shm index excluded: readers map it)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith("-shm")}


def escape_attempts(settings: Settings, outside: Path) -> list[str]:
    """SQL texts that would write, attach, load, unlock or read if the surface let them.

    Symlinks into the lakehouse (to the Gold catalog and the manifest) are made beside
    ``outside``, so paths that look harmless lead inside the data root.
    """
    catalog = settings.catalog_path("gold")
    bronze_file = next(settings.bronze.rglob("*.parquet"))
    out = outside / "out"
    links = outside.parent / "links"
    links.mkdir(exist_ok=True)
    for name, target in (("catalog", catalog), ("manifest", settings.manifest_path)):
        if not (links / name).is_symlink():
            (links / name).symlink_to(target)
    dotdot = f"{settings.root}/../{settings.root.name}"
    return [
        f"copy (select 1 as x) to '{links / 'catalog'}' (format csv)",
        f"select * from read_text('{links / 'manifest'}')",
        f"copy (select 1 as x) to '{dotdot}/_meta/manifest.sqlite' (format csv)",
        f"select * from read_text('{settings.root}/../../../../../../etc/hostname')",
        f"select * from glob('{outside.parent}/*/*')",
        f"copy (select 1 as x) to '{out}.csv'",
        f"copy gold.saas_kpis_monthly to '{out}.parquet' (format parquet)",
        f"explain analyze copy (select 1 as x) to '{out}-explained.csv'",
        f"copy (select 1 as x) to '{bronze_file}' (format parquet)",
        f"export database '{out}-export'",
        f"attach '{catalog}' as c",
        f"attach '{out}.duckdb' as d",
        f"attach '{settings.manifest_path}' as m (type sqlite)",
        "install httpfs",
        "load sqlite",
        "set enable_external_access = true",
        "set lock_configuration = false",
        f"set allowed_directories = ['{settings.root}']",
        f"set temp_directory = '{outside}'",
        f"pragma profile_output = '{out}-profile.json'",
        f"select * from read_text('{settings.manifest_path}')",
        "select * from read_text('/etc/passwd')",
        f"select * from read_parquet('{bronze_file}')",
        f"select * from read_csv('{settings.landing}/**/*.csv')",
        f"select * from glob('{settings.root}/**')",
        f"explain analyze select * from read_blob('{catalog}')",
        f"with t as (select 1) select * from t, read_text('{catalog}')",
        f"select (select count(*) from read_parquet('{bronze_file}')) as n",
    ]


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty folder outside the lakehouse that the attempts aim at."""
    return tmp_path_factory.mktemp("outside")


#: Attempts also run as a real `lakehouse sql` process (the others run the same CLI
#: entry point in-process: a process per attempt cost 30 s of the suite).
IN_A_PROCESS = 3


def test_lakehouse_sql_refuses_every_escape_with_one_line(
        lakehouse: Settings, outside: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given a built lakehouse and every file under it hashed, when each escape attempt is run
    through `lakehouse sql`, then each exits 2 with one `lakehouse: error:` line and no output,
    every file is unchanged, and nothing was written where the attempts aimed."""
    # Given every file of the built lakehouse hashed
    before = snapshot(lakehouse.root)
    env = {**os.environ, "LAKEHOUSE_ROOT": str(lakehouse.root)}
    for i, sql in enumerate(escape_attempts(lakehouse, outside)):
        # When the attempt runs through the CLI (a real process for the first few)
        if i < IN_A_PROCESS:
            result = subprocess.run([sys.executable, "-m", "saaslake.cli", "sql", sql],
                                    cwd=PROJECT, env=env, capture_output=True, text=True,
                                    check=False)
            code, out, err = result.returncode, result.stdout, result.stderr
        else:
            code = main(["--root", str(lakehouse.root), "sql", sql])
            out, err = capsys.readouterr()
        # Then it is refused with exactly one line
        assert code == 2, (sql, out, err)
        assert out == "", sql
        lines = err.splitlines()
        assert len(lines) == 1, (sql, lines)
        assert lines[0].startswith("lakehouse: error: "), (sql, lines)
    # And every file is byte-identical, and nothing exists where the attempts aimed
    assert snapshot(lakehouse.root) == before
    assert list(outside.iterdir()) == []


def test_the_explorer_query_refuses_every_escape(lakehouse: Settings, outside: Path) -> None:
    """Given the explorer's query function, when each escape attempt (and the functions that
    could take the process down) is run, then each raises QueryError and no file changes."""
    before = snapshot(lakehouse.root)
    refused = [*escape_attempts(lakehouse, outside),
               f"select * from enable_logging(storage = 'file', storage_path = '{outside}')",
               "select * from query('select 1')",
               "select 1; select 2"]
    for sql in refused:
        with pytest.raises(QueryError):
            run_query(lakehouse, sql)
    assert snapshot(lakehouse.root) == before
    assert list(outside.iterdir()) == []
    # And a plain query still answers with the published Gold
    answer = run_query(lakehouse, "select count(*) as n from gold.saas_kpis_monthly")
    assert answer.column("n").to_pylist()[0] > 0


def test_the_engine_itself_refuses_every_escape(lakehouse: Settings, outside: Path) -> None:
    """Given the bare surface connection with no statement check in front of it (what the
    metric layer's Ibis backend runs on), when each escape attempt is executed directly, then
    DuckDB refuses it, no file changes, and the same connection still reads Gold."""
    before = snapshot(lakehouse.root)
    surface = open_surface(lakehouse, publication=current_publication(lakehouse))
    try:
        con = surface.connection
        for sql in escape_attempts(lakehouse, outside):
            with pytest.raises(duckdb.Error):
                con.execute(sql).fetchall()
        assert con.execute("select count(*) from gold.saas_kpis_monthly").fetchone()[0] > 0
    finally:
        surface.close()
    assert snapshot(lakehouse.root) == before
    assert list(outside.iterdir()) == []


def test_the_metric_layer_connection_cannot_write(lakehouse: Settings, outside: Path) -> None:
    """Given the metric layer's Ibis backend and the shared surface under it, when they are sent
    a COPY to a file and an ATTACH of the Gold catalog, then both are refused, and the metric
    layer's numbers afterwards still equal the dbt table."""
    before = snapshot(lakehouse.root)
    catalog = lakehouse.catalog_path("gold")
    with metrics.open_metrics(lakehouse) as backend:
        with pytest.raises(duckdb.Error):
            backend.raw_sql(f"copy (select 1) to '{outside / 'ibis.csv'}'")
        with pytest.raises(duckdb.Error):
            backend.raw_sql(f"attach '{catalog}' as c")
    with shared_readonly(lakehouse) as cursor:
        with pytest.raises(duckdb.Error):
            cursor.execute(f"copy gold.dim_accounts to '{outside / 'shared.csv'}'")
        expected = cursor.execute("select mrr_usd from gold.saas_kpis_monthly "
                                  "order by month_start desc limit 1").fetchone()
    data = metrics.fetch_dashboard(lakehouse, metrics.MetricFilters())
    assert data.kpis.column("mrr_usd").to_pylist()[-1] == expected[0]
    assert snapshot(lakehouse.root) == before
    assert list(outside.iterdir()) == []


def test_the_dashboard_surface_shows_only_its_tables_and_cannot_write(
        lakehouse: Settings, outside: Path) -> None:
    """Given the shared surface the dashboard's metric calls use (ADR 0025), then it shows
    exactly the Gold tables they read, refuses a COPY, and gives the same rows as the full
    surface."""
    before = snapshot(lakehouse.root)
    with shared_surface(lakehouse, tables=metrics.DASHBOARD_TABLES) as (_surface, cursor):
        shown = {f"{schema}.{name}" for schema, name in cursor.execute(
            "select schema_name, view_name from duckdb_views() "
            "where schema_name in ('silver', 'gold')").fetchall()}
        assert shown == set(metrics.DASHBOARD_TABLES)
        with pytest.raises(duckdb.Error):
            cursor.execute(f"copy gold.dim_account_attributes to '{outside / 'dash.csv'}'")
        sql = "select * from gold.metric_mrr_cells_monthly order by all"
        rows = cursor.execute(sql).fetchall()
    with shared_readonly(lakehouse) as full:
        assert full.execute(sql).fetchall() == rows
    assert snapshot(lakehouse.root) == before
    assert list(outside.iterdir()) == []


def test_meta_and_quarantine_exist_empty_on_a_fresh_root(settings: Settings) -> None:
    """Given a lakehouse root where nothing was ever ingested, when the README's quarantine and
    manifest queries run, then they answer with zero rows, and asking for Gold says it has not
    been built and how to build it; the root is not created by reading."""
    for sql in ("select * from quarantine.all_rows", "select * from meta.rejected_files",
                "select * from meta.batches"):
        assert run_query(settings, sql).num_rows == 0
    with pytest.raises(QueryError, match=r"not been built yet.*lakehouse run"):
        run_query(settings, "select * from gold.saas_kpis_monthly")
    assert not settings.root.exists()
