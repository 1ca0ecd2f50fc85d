"""The daily plan (ADR 0023): what a build must run, from the record of the last one.

Real manifests and publication records on disk, no dbt: the builds that follow a plan are
checked in ``test_build.py`` (the F9/F10/F11 tests and the unit-test skipping test).
"""

from __future__ import annotations

from ingestion.manifest import BatchRecord, Manifest
from lakecore.settings import Settings
from transform import daily, warehouse


def commit(settings: Settings, batch_id: str, entity: str, export_date: str,
           ingested_at: str) -> None:
    source, name = entity.split("/")
    Manifest.open(settings).commit([BatchRecord(
        batch_id=batch_id, source=source, entity=name, export_date=export_date,
        landing_file=f"{entity}/{export_date}/part-0001.csv", file_bytes=10, input_rows=1,
        landed_rows=1, quarantined_rows=0, blank_lines=0,
        bronze_file=f"bronze/{entity}/ingestion_date={export_date}/{batch_id}.parquet",
        bronze_sha256=batch_id * 2, quarantine_file=None, quarantine_sha256=None,
        extra_columns="", run_id="r", ingested_at=ingested_at)])


def recorded_build(settings: Settings, *, tested: bool = True) -> daily.Inputs:
    """Publish a build of the current batches and record it, as a build does."""
    settings.ensure_dirs()
    settings.warehouse.mkdir(parents=True, exist_ok=True)
    publication = warehouse.publish(settings, silver_snapshot=3, gold_snapshot=4,
                                    as_of_date="2025-03-01")
    inputs = daily.read_inputs(settings)
    daily.record(settings, fingerprint="project-a", inputs=inputs, tested=tested,
                 publication=publication)
    return inputs


def test_a_daily_plan_selects_downstream_of_changed_entities_or_nothing(
        settings: Settings) -> None:
    """Given a recorded build of two entities' batches, when nothing arrives the plan runs
    nothing; when one entity receives a batch it selects only what depends on that entity and
    on the batch list, and tells the tests the commit time the last build read."""
    # Given a recorded build of subscriptions and events
    commit(settings, "b1", "billing/subscriptions", "2025-03-01", "2025-03-01T06:00:00+00:00")
    commit(settings, "b2", "app/events", "2025-03-01", "2025-03-01T06:00:01+00:00")
    recorded_build(settings)
    # When nothing arrived, nothing runs
    same = daily.plan(settings, fingerprint="project-a", inputs=daily.read_inputs(settings),
                      tests=True)
    assert same.skip
    assert same.select is None
    assert same.reason == "no batch was committed since the last build"
    # When only events receive a batch, only what depends on events and on the batch list
    commit(settings, "b3", "app/events", "2025-03-02", "2025-03-02T06:00:00+00:00")
    day = daily.plan(settings, fingerprint="project-a", inputs=daily.read_inputs(settings),
                     tests=True)
    assert not day.skip
    assert day.changed == ("app/events", "lakehouse/batches")
    assert day.select == "source:app.events+ source:lakehouse.batches+"
    assert day.written_since == "2025-03-01T06:00:01+00:00"


def test_a_daily_plan_runs_everything_when_the_record_cannot_vouch(
        settings: Settings) -> None:
    """Given a recorded models-only build, when the next build runs tests, the project changed,
    Gold is another publication or there is no record, then the plan runs everything and says
    why."""
    # Given a recorded build that ran no data tests, and a new batch
    commit(settings, "b1", "billing/subscriptions", "2025-03-01", "2025-03-01T06:00:00+00:00")
    recorded_build(settings, tested=False)
    commit(settings, "b2", "billing/subscriptions", "2025-03-02", "2025-03-02T06:00:00+00:00")
    inputs = daily.read_inputs(settings)

    def plan(fingerprint: str = "project-a", *, tests: bool = True) -> daily.Plan:
        return daily.plan(settings, fingerprint=fingerprint, inputs=inputs, tests=tests)

    # Then a build with tests runs everything; one without may select
    assert (plan().select, plan().reason) == (None, "the last build ran no data tests")
    assert plan(tests=False).select == ("source:billing.subscriptions+ "
                                        "source:lakehouse.batches+")
    # and so does a changed project
    assert (plan("project-b", tests=False).select,
            plan("project-b", tests=False).reason) == (
        None, "the dbt project changed since the last build")
    # and a publication the record does not name (another builder, a restored record)
    warehouse.publish(settings, silver_snapshot=5, gold_snapshot=6, as_of_date="2025-03-02")
    assert plan(tests=False).reason == "Gold is not the publication of the last build"
    assert plan(tests=False).select is None
    # and no record at all
    daily.forget(settings)
    assert plan(tests=False) == daily.Plan(select=None, reason="no record of a previous build")
