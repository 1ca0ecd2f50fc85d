"""Simulator into loader: counts reconcile exactly, dirty rows are exactly the quarantine."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.query import run_query
from ingestion.loader import ingest
from ingestion.manifest import Manifest
from ingestion.simulator import simulate
from lakecore.settings import Settings


@pytest.fixture(scope="module")
def dirty_lakehouse(tmp_path_factory: pytest.TempPathFactory):
    """Half a year simulated with 3 % dirty rows, ingested once: (settings, summary, report)."""
    settings = Settings.from_env(root=tmp_path_factory.mktemp("dirty") / "lakehouse")
    summary = simulate(settings.landing, scale=0.02, start=date(2025, 7, 1),
                       end=date(2025, 12, 31), seed=7, daily_days=20, dirty_share=0.03)
    report = ingest(settings)
    return settings, summary, report


def test_every_file_lands_and_input_equals_landed_plus_quarantined(dirty_lakehouse) -> None:
    """Given a simulated landing zone with 3 % dirty rows, when it is ingested, then every file is
    loaded or empty, every line the simulator wrote per entity is landed or quarantined, and the
    quarantined rows are exactly the ones it broke on purpose."""
    # Given the dirty simulation, ingested once (the fixture)
    settings, summary, report = dirty_lakehouse
    # Then every file was loaded (or was empty), none rejected or refused
    assert report.count("loaded") + report.count("empty") == summary.files
    assert report.count("rejected") == report.count("refused") == 0
    # When the manifest's counts per entity are compared with what the simulator wrote
    per_entity = {f"{r['source']}/{r['entity']}": r
                  for r in Manifest(settings.manifest_path).entity_summary()}
    for entity, written in summary.rows.items():
        row = per_entity[entity]
        # every line the simulator wrote is either landed or quarantined, none lost
        assert row["input_rows"] == written, entity
        assert row["landed_rows"] + row["quarantined_rows"] == written, entity
        # and exactly the rows it broke on purpose are the quarantined ones
        assert row["quarantined_rows"] == summary.bad_rows[entity], entity
        assert summary.bad_rows[entity] > 0, entity


def test_quarantine_reasons_cover_every_kind_of_bad_input(dirty_lakehouse) -> None:
    """Given the dirty simulated landing zone, ingested, when the quarantine's reasons are queried,
    then every kind of bad input the simulator makes appears among them."""
    # Given the dirty simulation, ingested once (the fixture)
    settings, _, _ = dirty_lakehouse
    # When every quarantined row's reason is queried
    rows = run_query(settings, "select _reason from quarantine.all_rows").to_pylist()
    text = "\n".join(row["_reason"] for row in rows)
    # Then every kind of bad input the simulator makes is named
    for fragment in ("blank key", "missing required field", "not an integer",
                     "below the minimum", "above the maximum", "unknown value",
                     "timestamp without UTC offset", "not a valid timestamp",
                     "out of the accepted range", "malformed JSON",
                     "invalid UTF-8", "fields, found", "unterminated quoted field"):
        assert fragment in text, fragment


def test_second_ingest_is_a_no_op(dirty_lakehouse) -> None:
    """Given the dirty simulated landing zone, ingested once, when it is ingested again, then every
    file is a duplicate and no row lands."""
    # Given the dirty simulation, ingested once (the fixture)
    settings, summary, _ = dirty_lakehouse
    # When it is ingested again
    again = ingest(settings)
    # Then every file is a duplicate and nothing lands
    assert again.count("duplicate") == summary.files
    assert again.landed_rows == 0
