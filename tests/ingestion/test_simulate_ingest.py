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
    settings = Settings.from_env(root=tmp_path_factory.mktemp("dirty") / "lakehouse")
    summary = simulate(settings.landing, scale=0.02, start=date(2025, 7, 1),
                       end=date(2025, 12, 31), seed=7, daily_days=20, dirty_share=0.03)
    report = ingest(settings)
    return settings, summary, report


def test_every_file_lands_and_input_equals_landed_plus_quarantined(dirty_lakehouse) -> None:
    settings, summary, report = dirty_lakehouse
    assert report.count("loaded") + report.count("empty") == summary.files
    assert report.count("rejected") == report.count("refused") == 0
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
    settings, _, _ = dirty_lakehouse
    rows = run_query(settings, "select _reason from quarantine.all_rows").to_pylist()
    text = "\n".join(row["_reason"] for row in rows)
    for fragment in ("blank key", "missing required field", "not an integer",
                     "below the minimum", "above the maximum", "unknown value",
                     "timestamp without UTC offset", "not a valid timestamp",
                     "out of the accepted range", "malformed JSON",
                     "invalid UTF-8", "fields, found", "unterminated quoted field"):
        assert fragment in text, fragment


def test_second_ingest_is_a_no_op(dirty_lakehouse) -> None:
    settings, summary, _ = dirty_lakehouse
    again = ingest(settings)
    assert again.count("duplicate") == summary.files
    assert again.landed_rows == 0
