"""Landing-file writers and Bronze/quarantine readers for the ingest tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb

from lakecore.settings import Settings

#: ``write_landing(relative, content)`` (the fixture): write a landing file, return its path.
WriteLanding = Callable[[str, bytes | str], Path]


def bronze_rows(settings: Settings, entity: str, columns: str = "*") -> list[tuple]:
    """Rows of committed Bronze files of one entity (``billing/plans``), by line."""
    from ingestion.manifest import Manifest

    source, name = entity.split("/")
    files = [str(settings.root / f) for f in Manifest(settings.manifest_path).bronze_files(
        source, name)]
    if not files:
        return []
    return duckdb.execute(
        f"select {columns} from read_parquet($files, union_by_name = true) "
        "order by _export_date, _source_file, _line_number",
        {"files": files},
    ).fetchall()


def quarantine_rows(settings: Settings) -> list[tuple[str, int, str]]:
    """(source_file, line, reason) of every quarantined row."""
    files = sorted(str(p) for p in settings.quarantine.rglob("*.parquet"))
    if not files:
        return []
    return duckdb.execute(
        "select _source_file, _line_number, _reason from read_parquet($files) "
        "order by _source_file, _line_number",
        {"files": files},
    ).fetchall()


def subscription(**overrides: object) -> str:
    """One contract-clean subscription JSON line, with fields overridden."""
    row: dict[str, object] = {
        "subscription_id": "sub_1", "account_id": "acc_1", "plan_id": "plan_1", "quantity": 2,
        "status": "active", "trial_start": None, "trial_end": None,
        "started_at": "2024-01-05T10:00:00Z", "current_period_start": "2024-01-05T10:00:00Z",
        "current_period_end": "2024-02-05T10:00:00Z", "cancel_at_period_end": False,
        "canceled_at": None, "ended_at": None, "discount_percent": 0,
        "created_at": "2024-01-05T10:00:00Z", "updated_at": "2024-01-05T10:00:00Z",
    }
    row.update(overrides)
    return json.dumps(row)


PLANS_HEADER = ("plan_id,plan_name,tier,billing_interval,interval_count,unit_amount_minor,"
                "currency,is_active,updated_at")


def plan_line(plan_id: str = "plan_1", name: str = "Growth", amount: str = "4900",
              updated_at: str = "2024-01-01T00:00:00Z") -> str:
    """One contract-clean plans CSV line (columns of ``PLANS_HEADER``)."""
    return f"{plan_id},{name},growth,month,1,{amount},usd,true,{updated_at}"
