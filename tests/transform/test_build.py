"""Silver and Gold built by dbt from a real Bronze (real loader), checked as data.

Given landing files, when they are ingested and built, then Gold holds what
docs/reference/gold-metrics.md says, an incremental build equals a full rebuild (F10), a rerun
changes nothing (F9), late data is applied once (F11), and a failing build names its rows and keeps
the previously published Gold.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from analytics.summary import gold_summary
from ingestion.loader import ingest
from ingestion.manifest import Manifest
from ingestion.simulator import simulate
from lakecore.errors import BuildError
from lakecore.settings import Settings
from tests.helpers import KITCHEN_SINK, PROJECT
from tests.helpers.disk import tmpfs
from tests.helpers.lakehouse import (
    GOLD_TABLES,
    daily_exports,
    event,
    read_gold,
    subscription,
    ts,
    write_csv,
    write_jsonl,
)
from transform.build import build
from transform.readonly import open_surface, warehouse_tables
from transform.warehouse import connect_readonly, current_publication, read_publications

pytestmark = pytest.mark.slow


def ingest_all(settings: Settings) -> None:
    report = ingest(settings)
    assert report.quarantined_rows == 0, report.summary()


def silver_events(settings: Settings) -> list[tuple]:
    with connect_readonly(settings) as con:
        return con.execute(
            "select event_id, account_id, occurred_at, _batch_id from silver.stg_app__events "
            "order by all").fetchall()


def data_files(settings: Settings, layer: str, table: str) -> set[str]:
    with connect_readonly(settings) as con:
        return {row[0] for row in con.execute(
            f"select data_file from ducklake_list_files('{layer}', '{table}')").fetchall()}


def assert_matches_reference(settings: Settings, landing: Path) -> None:
    """The four docs/reference/gold-metrics.md tables equal ``compute_reference`` of the landing
    zone."""
    reference = pytest.importorskip("tests.reference.metrics_reference")
    expected = reference.compute_reference(landing)
    with connect_readonly(settings) as con:
        for table, rows in expected.items():
            relation = con.sql(f"select * from gold.{table}")
            columns = relation.columns
            got = sorted((dict(zip(columns, r, strict=True)) for r in relation.fetchall()),
                         key=lambda r: [str(v) for v in r.values()])
            want = sorted(rows, key=lambda r: [str(r[c]) for c in columns])
            assert len(got) == len(want), table
            for g, w in zip(got, want, strict=True):
                for column, value in w.items():
                    if isinstance(value, float):
                        assert g[column] == pytest.approx(value, rel=1e-12), (table, column, w)
                    else:
                        assert g[column] == value, (table, column, w)


def test_billing_only_lakehouse_builds_mrr_from_empty_typed_sources(lake: Settings) -> None:
    """Given a lakehouse where only plans and USD subscriptions were ever delivered, when Silver and
    Gold are built, then the build succeeds on the empty typed sources of the rest and Gold and its
    summary show the MRR."""
    # Given only plans and USD subscriptions were ever delivered
    day = daily_exports(lake.landing, 1)[0]
    for entity in ("app", "billing/fx_rates", "billing/subscriptions"):
        shutil.rmtree(lake.landing / entity)
    write_jsonl(lake.landing, "billing/subscriptions", day, [
        subscription("s1", "a1", "p_usd", "active", at=ts(day, 9), started=ts(day, 9), quantity=2),
        subscription("s2", "a2", "p_usd", "trialing", at=ts(day, 9), started=ts(day, 9)),
    ])
    ingest_all(lake)
    # When Silver and Gold are built
    result = build(lake, tests=False)
    # Then Gold has MRR
    assert result.success
    assert result.models >= 22
    gold = read_gold(lake, ("mrr_movements_monthly", "dim_accounts"))
    assert [r[0] for r in gold["mrr_movements_monthly"]] == [day.replace(day=1)]
    assert gold["mrr_movements_monthly"][0][7] == Decimal("98.00")  # 2 seats x 49.00
    assert {r[0] for r in gold["dim_accounts"]} == {"a1", "a2"}
    summary = gold_summary(lake)
    assert summary["mrr_usd"] == Decimal("98.00")
    assert summary["rows"]["bronze"] > 0


def test_simulated_daily_builds_equal_a_full_rebuild_and_a_rerun_changes_nothing(
    lake: Settings,
) -> None:
    """Given a simulated backfill and three daily exports, ingested and built one export at a time,
    when it is built again without new data and then rebuilt from scratch, then the rerun changes
    and writes nothing (F9), the full rebuild gives identical Gold (F10), and the Gold metric tables
    equal the reference."""
    # Given the real simulator's backfill and three daily exports across a month end,
    # ingested and built one export at a time (F10)
    simulate(lake.staging / "landing", scale=0.02, start=date(2024, 11, 1),
             end=date(2025, 3, 3), daily_days=3)
    # (after the first, each build runs only the models downstream of the entities that
    # received batches: the daily exports bring no plans, ADR 0023)
    selections = []
    for export_date in ("2025-02-28", "2025-03-01", "2025-03-02", "2025-03-03"):
        for folder in (lake.staging / "landing").glob(f"*/*/{export_date}"):
            shutil.copytree(folder, lake.landing / folder.relative_to(lake.staging / "landing"))
        ingest_all(lake)
        result = build(lake, tests=False)
        selections.append((result.selected, result.models))
    assert selections[0] == (None, 26)
    for selected, models in selections[1:]:
        assert selected is not None
        assert "source:app.events+" in selected
        assert "source:lakehouse.batches+" in selected
        assert "plans" not in selected
        assert models <= 24  # never stg_billing__plans or dim_plans
    incremental = read_gold(lake)
    events = silver_events(lake)
    events_files = data_files(lake, "silver", "stg_app__events")
    usage_files = data_files(lake, "gold", "fct_account_daily_usage")
    # When it is built again without new data (F9)
    rerun = build(lake, tests=False)
    # Then no dbt node ran, nothing changed and nothing was published
    assert rerun.nothing_to_build == "no batch was committed since the last build"
    assert (rerun.models, rerun.tests) == (0, 0)
    assert "nothing to build" in rerun.summary()
    assert read_gold(lake) == incremental
    assert silver_events(lake) == events
    assert data_files(lake, "silver", "stg_app__events") == events_files
    assert data_files(lake, "gold", "fct_account_daily_usage") == usage_files
    assert len(read_publications(lake)) == 4
    # When the same Bronze is rebuilt from scratch, Gold is identical (F10)
    build(lake, full_refresh=True, tests=False)
    full = read_gold(lake)
    for table in GOLD_TABLES:
        assert incremental[table] == full[table], table
    assert silver_events(lake) == events
    assert sum(r[2] for r in full["fct_account_daily_usage"]) == len(events)
    # and the Gold metric tables equal the pure-Python reference of the same landing zone
    assert_matches_reference(lake, lake.landing)


def test_incremental_daily_builds_equal_a_full_rebuild_with_late_data(lake: Settings) -> None:
    """Given six daily exports with late and re-delivered events and a late correction of the first
    day's EUR rate, built incrementally, when the same Bronze is rebuilt from scratch, then Gold and
    Silver are identical, every event counts once in its own day, and the corrected rate re-rates
    the subscription (F10, F11)."""
    # Given six daily exports crossing a month end, with late and re-delivered events,
    # ingested and built one day at a time (the first two together) (F10, F11)
    dates = daily_exports(lake.landing, 6)
    staged = lake.root / "all_landing"
    shutil.copytree(lake.landing, staged)
    shutil.rmtree(lake.landing)
    # and, with the last day, a correction of the first day's EUR rate, however late
    write_csv(staged, "billing/fx_rates", dates[-1], [
        {"rate_date": dates[0].isoformat(), "currency": "eur", "usd_per_unit": "2.00"},
    ], part=2)
    for index, day in enumerate(dates):
        for folder in staged.glob(f"*/*/{day.isoformat()}"):
            shutil.copytree(folder, lake.landing / folder.relative_to(staged))
        if index == 0:
            continue
        ingest_all(lake)
        result = build(lake, tests=False)
        assert not result.full_refresh
        # (each after the first runs only what depends on the entities that received
        # batches, ADR 0023: the last day's fx correction among them)
        assert (result.selected is None) == (index == 1)
        if index == len(dates) - 1:
            assert result.selected is not None
            assert "source:billing.fx_rates+" in result.selected
        # (a models-only build publishes, and says that no test checked what it published)
        assert "; untested: --models-only ran no data or unit tests" in result.summary()
    after_incremental = read_gold(lake)
    silver_after_incremental = silver_events(lake)
    # (the published snapshot has no DuckLake delete files left, so the read-only surface of
    # user SQL, which reads its data files as plain Parquet, shows exactly the same rows)
    publication = current_publication(lake)
    assert [f"{t.layer}.{t.name}" for t in warehouse_tables(lake, publication)
            if t.data is not None] == []
    surface = open_surface(lake, bronze=False, publication=publication)
    try:
        for table in GOLD_TABLES:
            assert surface.connection.execute(
                f"select * from gold.{table} order by all").fetchall() == after_incremental[table]
    finally:
        surface.close()
    # When the same Bronze is rebuilt from scratch
    build(lake, full_refresh=True, tests=False)
    # Then Gold (and the incremental Silver) are identical
    full = read_gold(lake)
    for table in GOLD_TABLES:
        assert after_incremental[table] == full[table], table
    assert silver_after_incremental == silver_events(lake)
    # and every event counts once (re-deliveries too), late ones in their own day
    usage = {(r[0], r[1]): r[2] for r in full["fct_account_daily_usage"]}
    assert sum(usage.values()) == len(silver_after_incremental) == 6 * 6 + 3
    assert usage[("a2", dates[0])] == 1 + 1  # its own event and one 5 days late
    # and the corrected rate re-rates s3 (annual EUR 1200, 10% off, terms on day one)
    mrr = {(r[0], r[1]): r[2] for r in full["fct_account_mrr_monthly"]}
    assert mrr[("a3", dates[0].replace(day=1))] == Decimal("180.00")


def test_reference_metrics_match_to_the_cent(kitchen_sink_lake: Settings) -> None:
    """Given the kitchen-sink landing zone ingested by the real loader, when Silver and Gold are
    built with all tests, then the four Gold metric tables (docs/reference/gold-metrics.md) equal
    the pure-Python reference to the cent."""
    # Given the hand-made kitchen-sink landing zone, ingested by the real loader and built
    # with all tests (the session's `kitchen_sink_lake`, shared with the row-lineage tests)
    # Then the four Gold metric tables (docs/reference/gold-metrics.md) equal the pure-Python
    # reference, to the cent
    assert_matches_reference(kitchen_sink_lake, KITCHEN_SINK)


def test_unknown_plan_fails_naming_rows_and_keeps_published_gold(
        lake: Settings, published_lake: Callable[[int], list[date]]) -> None:
    """Given a published build, when a counting subscription version naming an undelivered plan is
    ingested and the build runs, then it fails naming the dbt test and the row, and readers still
    see the previous publication."""
    # Given a published build
    dates = published_lake(2)
    published = read_gold(lake, ("mrr_movements_monthly",))
    # When a counting subscription version names a plan nobody delivered
    write_jsonl(lake.landing, "billing/subscriptions", dates[-1], [
        subscription("s_ghost", "a4", "p_ghost", "active", at=ts(dates[-1], 20),
                     started=ts(dates[-1], 20)),
    ], part=2)
    ingest_all(lake)
    with pytest.raises(BuildError) as failure:
        build(lake)
    # Then the error names the test and the offending row
    message = str(failure.value)
    assert "assert_counting_versions_have_plan_and_rate" in message
    assert "s_ghost" in message
    assert "unknown plan_id" in message
    # and readers still see the previous publication
    assert read_gold(lake, ("mrr_movements_monthly",)) == published
    assert len(read_publications(lake)) == 1


def test_corrupt_catalog_is_moved_aside_and_rebuilt(
        lake: Settings, published_lake: Callable[[int], list[date]]) -> None:
    """Given a built lakehouse whose Gold catalog file is corrupted (F13), when the next build
    starts, then it moves the catalog aside and rebuilds the same Gold from Bronze, leaving Bronze
    untouched."""
    # Given a built lakehouse whose Gold catalog got corrupted (F13)
    published_lake(2)
    before = read_gold(lake)
    bronze = sorted(p.read_bytes() for p in lake.bronze.rglob("*.parquet"))
    (lake.warehouse / "gold.sqlite").write_bytes(b"not a database" * 100)
    # When the next build starts
    lines: list[str] = []
    result = build(lake, tests=False, progress=lines.append)
    # Then it moved the catalog aside, rebuilt from Bronze, and Bronze is untouched
    assert result.full_refresh
    assert any("moved it and its data" in line for line in lines)
    assert read_gold(lake) == before
    assert sorted(p.read_bytes() for p in lake.bronze.rglob("*.parquet")) == bronze


BUILD_SCRIPT = """
import sys
from transform.build import build
from lakecore.settings import Settings
build(Settings.from_env(root=sys.argv[1]), full_refresh=True, tests=False,
      progress=lambda line: print(line, flush=True))
"""


def test_build_killed_midway_keeps_published_gold_and_reruns(
        lake: Settings, published_lake: Callable[[int], list[date]]) -> None:
    """Given a published build, when a full rebuild in another process is SIGKILLed while it writes
    Gold, then readers during and after it see the last published Gold (F7), and a rerun gives that
    same Gold (F3)."""
    # Given a published build (F3, F7)
    published_lake(3)
    published = read_gold(lake)
    # When a full rebuild in another process is SIGKILLed while it writes Gold
    process = subprocess.Popen(
        [sys.executable, "-c", BUILD_SCRIPT, str(lake.root)],
        stdout=subprocess.PIPE, text=True, cwd=PROJECT,
    )
    assert process.stdout is not None
    seen_during_build = None
    for line in process.stdout:
        if "START" in line and "stg_billing__subscriptions" in line:
            # a dashboard reading while the build writes Silver (F7): no wait, old Gold
            seen_during_build = read_gold(lake)
        if "START" in line and "fct_account_mrr_monthly" in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    # Then readers saw, and still see, the last published Gold
    assert seen_during_build == published
    assert read_gold(lake) == published
    # and a rerun succeeds and gives the same Gold as the uninterrupted build
    build(lake, tests=False)
    assert read_gold(lake) == published


def lakehouse_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "saaslake.cli", "--root", str(settings.root),
                           "--quiet", *args], cwd=PROJECT, capture_output=True, text=True,
                          check=False)


def test_damaged_bronze_is_named_refused_by_the_build_and_reingested(
        lake: Settings, published_lake: Callable[[int], list[date]]) -> None:
    """Given a published build whose Bronze has one bit-flipped and one truncated file (F12), when
    `lakehouse verify` and a build run, then both name the two files and the recovery, the build
    publishes nothing; after `lakehouse reingest` of the named landing files, verify passes and the
    build publishes the same Gold as before."""
    # Given a published build
    published_lake(2)
    published = read_gold(lake)
    untouched = {p: p.read_bytes() for p in lake.bronze.rglob("*.parquet")}
    flipped, truncated = sorted(untouched)[:2]
    # whose Bronze has one bit-flipped file (magic bytes intact) and one truncated file
    data = bytearray(untouched[flipped])
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    truncated.write_bytes(untouched[truncated][: len(untouched[truncated]) // 2])
    names = [str(p.relative_to(lake.root)) for p in (flipped, truncated)]
    # When `lakehouse verify` runs
    full, quick = lakehouse_cli(lake, "verify"), lakehouse_cli(lake, "verify", "--quick")
    # Then it exits 1 naming both files and the command that re-creates their batches
    assert full.returncode == 1, full.stdout + full.stderr
    assert "2 damaged" in full.stdout
    for name in names:
        assert f"{name}: " in full.stdout
    recovery = next(line for line in full.stdout.splitlines()
                    if line.startswith("recover each batch"))
    landing_files = recovery.split("lakehouse reingest ", 1)[1].split()
    assert len(landing_files) == 2
    # and the quick check (existence and footers) catches the truncated file only
    assert quick.returncode == 1
    assert f"{names[1]}: truncated" in quick.stdout
    assert f"{names[0]}: " not in quick.stdout
    # When a build runs, then it refuses before dbt, names the files, and Gold is unchanged
    with pytest.raises(BuildError) as failure:
        build(lake, tests=False)
    message = str(failure.value)
    assert "Bronze is damaged" in message
    assert "Gold still shows the last successful build" in message
    assert all(name in message for name in names)
    assert read_gold(lake) == published
    assert len(read_publications(lake)) == 1
    # and every other Bronze file is untouched
    assert all(p.read_bytes() == b for p, b in untouched.items() if p not in (flipped, truncated))
    # When the named landing files are re-ingested
    unknown = lakehouse_cli(lake, "reingest", "billing/nope/2024-01-01/part-0001.csv")
    reingested = lakehouse_cli(lake, "reingest", *landing_files)
    # Then an unknown landing file is one clear line, the damaged files were moved aside (kept),
    assert unknown.returncode == 2
    assert "no committed batch" in unknown.stderr
    assert unknown.stderr.count("\n") == 1
    assert reingested.returncode == 0, reingested.stdout + reingested.stderr
    assert len(list((lake.meta / "damaged").rglob("*.parquet"))) == 2
    # verify passes, and the build publishes the same Gold as before
    assert lakehouse_cli(lake, "verify").returncode == 0
    build(lake, tests=False)
    assert read_gold(lake) == published


def one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    """The command failed with exit 1 and one line on stderr holding every needle."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


def test_a_garbled_publication_record_is_one_line_and_rebuild_recovers(
        lake: Settings, published_lake: Callable[[int], list[date]]) -> None:
    """Given a published build whose warehouse/published.json is garbled (F13), when readers and
    a build start, then each says in one line that the record is damaged and names `lakehouse
    rebuild`; rebuild moves the warehouse aside and publishes the same Gold, Bronze untouched."""
    # Given a published build whose publication record is garbled
    published_lake(2)
    published = read_gold(lake)
    bronze = {p: p.read_bytes() for p in lake.bronze.rglob("*.parquet")}
    lake.published_path.write_text('{"current": {"silver_snap')
    # When readers and a build start, then each is one line naming the record and the recovery
    for args in (["sql", "select 1"], ["summary"], ["build", "--models-only"]):
        one_line_error(lakehouse_cli(lake, *args), "published.json is damaged",
                       "lakehouse rebuild")
    # When `lakehouse rebuild` runs, then Gold is the same, Bronze untouched, the old kept
    done = lakehouse_cli(lake, "rebuild", "--models-only")
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_gold(lake) == published
    assert {p: p.read_bytes() for p in lake.bronze.rglob("*.parquet")} == bronze
    kept = list(lake.warehouse.glob("corrupt-*/published.json"))
    assert len(kept) == 1
    assert kept[0].read_text() == '{"current": {"silver_snap'


def test_a_damaged_catalog_is_one_line_for_readers(
        lake: Settings, published_lake: Callable[[int], list[date]]) -> None:
    """Given a published build whose Silver catalog is truncated (F13), when `lakehouse sql` and
    `summary` run, then each says in one line which catalog is damaged and how to rebuild."""
    published_lake(1)
    catalog = lake.warehouse / "silver.sqlite"
    catalog.write_bytes(catalog.read_bytes()[:100])
    for args in (["sql", "select 1"], ["summary"]):
        one_line_error(lakehouse_cli(lake, *args), "silver catalog", "is damaged",
                       "lakehouse rebuild")


def test_a_damaged_manifest_is_one_line_and_is_recovered_from_lineage(
        lake: Settings, published_lake: Callable[[int], list[date]]) -> None:
    """Given a published build whose manifest is garbled (F13), when status, ingest and sql run,
    then each says in one line that the manifest is damaged and names `lakehouse rebuild
    --manifest`; that command re-creates every batch from Bronze's lineage, after which ingest
    loads nothing again and a build gives the same Gold."""
    # Given a published build whose manifest is garbled
    published_lake(3)
    published = read_gold(lake)
    kept = ("batch_id", "source", "entity", "export_date", "landing_file", "file_bytes",
            "input_rows", "landed_rows", "quarantined_rows", "bronze_file", "bronze_sha256",
            "quarantine_file", "quarantine_sha256", "extra_columns")

    def batches() -> list[tuple]:
        manifest = Manifest(lake.manifest_path, read_only=True)
        try:
            columns, rows = manifest.table_dump("batches")
        finally:
            manifest.close()
        names = [name for name, _ in columns]
        return sorted(tuple(row[names.index(k)] for k in kept) for row in rows
                      if row[names.index("bronze_file")] or row[names.index("quarantine_file")])

    before = batches()
    for path in lake.manifest_path.parent.glob(lake.manifest_path.name + "*"):
        path.write_bytes(b"\x00garbage" * 512)
    # When status, ingest and sql run, then each is one line naming the manifest and the fix
    for args in (["status"], ["ingest"], ["sql", "select 1"]):
        one_line_error(lakehouse_cli(lake, *args), "manifest", "is damaged",
                       "lakehouse rebuild --manifest")
    # When the manifest is re-created from lineage
    done = lakehouse_cli(lake, "rebuild", "--manifest")
    assert done.returncode == 0, done.stdout + done.stderr
    # Then every batch with files is back as it was, verify passes, ingest adds no row
    assert len(before) > 5
    assert batches() == before
    assert lakehouse_cli(lake, "verify").returncode == 0
    report = ingest(lake)
    assert report.landed_rows == 0
    # and the next build gives the same Gold
    build(lake, tests=False)
    assert read_gold(lake) == published


def test_sixteen_dashboard_sessions_during_a_publishing_build_see_old_or_new_gold(
        lake: Settings, published_lake: Callable[[int], list[date]]) -> None:
    """Given a published build and new data ingested, when 16 dashboard sessions query the metric
    layer in a loop while a build in another process runs and publishes (F7 under load), then
    every query succeeds within a bounded wait and each answer is exactly the previous or the new
    publication's, and the new one is seen after the build."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Event

    from analytics.metrics import fetch_dashboard

    def answer() -> list[dict]:
        return fetch_dashboard(lake).kpis.to_pylist()

    # Given a published build and a new subscription ingested (not yet built)
    dates = published_lake(2)
    old = answer()
    write_jsonl(lake.landing, "billing/subscriptions", dates[-1], [
        subscription("s_load", "a4", "p_usd", "active", at=ts(dates[-1], 21),
                     started=ts(dates[-1], 21)),
    ], part=3)
    ingest_all(lake)
    # When 16 sessions query in a loop while a build in another process publishes
    done = Event()
    seen: list[tuple[float, list[dict]]] = []

    def session() -> int:
        queries = 0
        while not done.is_set():
            started = time.perf_counter()
            result = answer()
            seen.append((time.perf_counter() - started, result))
            queries += 1
        return queries

    with ThreadPoolExecutor(max_workers=16) as pool:
        sessions = [pool.submit(session) for _ in range(16)]
        process = subprocess.run([sys.executable, "-c", BUILD_SCRIPT, str(lake.root)],
                                 cwd=PROJECT, capture_output=True, text=True, check=False)
        time.sleep(1.0)  # the sessions also query the new publication
        done.set()
        counts = [s.result(timeout=120) for s in sessions]
    assert process.returncode == 0, process.stderr[-2000:]
    new = answer()
    # Then every query succeeded within a bounded wait, each answer old or new
    assert new != old
    assert min(counts) >= 1
    assert max(seconds for seconds, _ in seen) < 30
    assert all(result in (old, new) for _, result in seen)
    assert any(result == old for _, result in seen)
    assert any(result == new for _, result in seen)
    print(f"F7 under load: {len(seen)} queries by 16 sessions during the build, slowest "
          f"{max(s for s, _ in seen):.2f} s")


def test_data_later_than_the_lookback_is_applied_once(lake: Settings) -> None:
    """Given nine daily exports built, when the tenth brings an event that occurred nine days
    earlier (beyond the 7-day lookback), a re-delivery of the first day's first event and a
    correction of the first day's EUR rate, then the incremental build applies each once: the
    late event counts in its own day, the re-delivery not again, and Gold equals a full
    rebuild (F11 outside the lookback: the documented outcome is "applied")."""
    # Given nine daily exports, built
    dates = daily_exports(lake.landing, 9)
    ingest_all(lake)
    build(lake, tests=False)
    before = read_gold(lake)
    usage_before = {(r[0], r[1]): r[2] for r in before["fct_account_daily_usage"]}
    # When the tenth day brings data older than the lookback
    tenth = dates[-1] + timedelta(days=1)
    write_jsonl(lake.landing, "app/events", tenth, [
        event("very-late", "a3", ts(dates[0], 10), "u3"),
        event("e0-0", "a1", ts(dates[0], 8), "u1"),  # a re-delivery, nine days on
    ])
    write_csv(lake.landing, "billing/fx_rates", tenth, [
        {"rate_date": dates[0].isoformat(), "currency": "eur", "usd_per_unit": "2.00"},
        {"rate_date": tenth.isoformat(), "currency": "eur", "usd_per_unit": "1.20"},
        {"rate_date": tenth.isoformat(), "currency": "gbp", "usd_per_unit": "1.30"},
    ])
    ingest_all(lake)
    result = build(lake, tests=False)
    assert not result.full_refresh
    assert result.selected == ("source:app.events+ source:billing.fx_rates+ "
                               "source:lakehouse.batches+")
    incremental = read_gold(lake)
    # Then the late event counts once in its own day, the re-delivery not again
    usage = {(r[0], r[1]): r[2] for r in incremental["fct_account_daily_usage"]}
    assert usage[("a3", dates[0])] == usage_before.get(("a3", dates[0]), 0) + 1
    assert usage[("a1", dates[0])] == usage_before[("a1", dates[0])]
    # and the corrected rate re-rates the EUR subscription from its terms date
    mrr = {(r[0], r[1]): r[2] for r in incremental["fct_account_mrr_monthly"]}
    assert mrr[("a3", dates[0].replace(day=1))] == Decimal("180.00")
    # and Gold equals a full rebuild of the same Bronze
    build(lake, full_refresh=True, tests=False)
    full = read_gold(lake)
    for table in GOLD_TABLES:
        assert incremental[table] == full[table], table


def compiled_test(settings: Settings, name: str) -> str:
    """The SQL dbt ran for a data test in the last build."""
    return next((settings.warehouse / "dbt_target" / "run").rglob(f"{name}.sql")).read_text()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A real 256 MiB tmpfs mounted for the test (needs root, as in CI)."""
    with tmpfs(tmp_path / "disk", "256m") as mount:
        yield mount


def test_a_disk_full_during_a_build_is_one_line_and_keeps_published_gold(
        tmp_path: Path, disk: Path) -> None:
    """Given a published lakehouse on a real small disk and a large new events batch ingested,
    when the disk fills up during the next build (F5), then `lakehouse build` fails with one line
    saying the disk is full and that Gold still shows the last build, readers are told the disk is
    full, and once space is freed they see that build and the rerun publishes the new data."""
    import os

    # Given a published lakehouse on a small disk (the landing zone elsewhere)
    lake = Settings.from_env(root=disk / "lakehouse", landing=tmp_path / "landing")
    dates = daily_exports(lake.landing, 2)
    ingest_all(lake)
    build(lake, tests=False)
    published = read_gold(lake)
    # and a large batch of new events ingested
    write_jsonl(lake.landing, "app/events", dates[-1], [
        event(os.urandom(16).hex(), "a1", ts(dates[-1], 12), os.urandom(8).hex())
        for _ in range(150_000)], part=2)
    ingest_all(lake)
    events = max(lake.bronze.rglob("*.parquet"), key=lambda p: p.stat().st_size).stat().st_size
    # When the disk is filled to half the size of that batch and the build runs
    free = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize - events // 2))
    done = lakehouse_cli(lake, "build", "--models-only")
    # Then it fails in one line naming the full disk and the kept publication
    one_line_error(done, "disk", "full", "Gold still shows the last successful build")
    assert "Traceback" not in done.stdout + done.stderr
    # and readers, who need a little room to open a catalog, are told the disk is full
    one_line_error(lakehouse_cli(lake, "summary"), "the disk is full", "free space and retry")
    # And once space is freed readers see the last publication, and the rerun publishes
    filler.unlink()
    assert read_gold(lake) == published
    build(lake, tests=False)
    usage = {(r[0], r[1]): r[2] for r in read_gold(lake)["fct_account_daily_usage"]}
    assert usage[("a1", dates[-1])] >= 150_000


def test_a_daily_build_skips_unit_tests_only_while_the_project_is_unchanged(
        lake: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Given a lakehouse built with all data and unit tests, when it is built again without new
    data, then no dbt node runs; when a day brings new events, only what depends on them runs,
    the unit tests are skipped (they passed for these very files) and the events' tests check
    only the rows this run wrote; when the record of the unit tests' pass names other files,
    they run again; and any change to a model changes the project's fingerprint."""
    # Given a lakehouse built with all data and unit tests
    from transform import build as build_module
    from transform import daily
    from transform.column_lineage import direct_upstream

    shutil.copytree(KITCHEN_SINK, lake.landing)
    ingest(lake)
    first = build(lake)
    assert first.unit_tests > 0
    assert first.tests > 0
    assert "_ingested_at > cast(" not in compiled_test(lake, "unique_stg_app__events_event_id")
    # When it is built again without new data, no dbt node runs and nothing is published
    again = build(lake)
    assert again.nothing_to_build == "no batch was committed since the last build"
    assert (again.models, again.tests, again.unit_tests) == (0, 0, 0)
    assert len(read_publications(lake)) == 1
    # When a day brings new events, only what depends on them (and on the batch list) runs
    day = date(2025, 3, 17)
    built_through = daily.read_inputs(lake).ingested_through
    write_jsonl(lake.landing, "app/events", day, [event("evt_day_1", "acc_01", ts(day, 9))])
    ingest(lake)
    said: list[str] = []
    daily_build = build(lake, progress=said.append)
    assert daily_build.selected == "source:app.events+ source:lakehouse.batches+"
    assert "unit tests skipped: the dbt project is unchanged since they last passed" in said
    assert daily_build.unit_tests == 0
    assert 0 < daily_build.models < first.models
    assert 0 < daily_build.tests < first.tests
    # (the models it left out keep their compiled SQL, which the column lineage reads)
    assert direct_upstream(lake, "dim_plans")["tier"]
    # and the events' tests check only the rows of the batches committed since the last build
    assert f"_ingested_at > cast('{built_through}' as timestamptz)" in compiled_test(
        lake, "unique_stg_app__events_event_id")
    assert len(read_publications(lake)) == 2
    # When the record of the unit tests' pass names other project files, they run again
    daily.forget(lake)
    stamp = lake.warehouse / "unit_tests_passed.json"
    stamp.write_text('{"project": "another project"}\n')
    assert build(lake).unit_tests == first.unit_tests
    # and a changed model changes the fingerprint (a copy of the project, one byte changed)
    copy = tmp_path / "dbt"
    shutil.copytree(build_module.DBT_PROJECT_DIR, copy,
                    ignore=shutil.ignore_patterns("target", "logs"))
    before = build_module.project_fingerprint()
    monkeypatch.setattr(build_module, "DBT_PROJECT_DIR", copy)
    assert build_module.project_fingerprint() == before
    model = copy / "models" / "marts" / "saas_kpis_monthly.sql"
    model.write_text(model.read_text() + "\n")
    assert build_module.project_fingerprint() != before
