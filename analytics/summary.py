"""The headline of the published Gold (`make full-pipeline`, `lakehouse summary`)."""

from __future__ import annotations

from typing import Any

from ingestion.manifest import Manifest
from lakecore.settings import Settings
from transform.warehouse import connect_readonly, current_publication, table_row_counts


def gold_summary(settings: Settings) -> dict[str, Any]:
    """The headline of the last published build, for the end of ``make full-pipeline``.

    Returns:
        ``as_of_date``, ``month_start`` (latest month), ``mrr_usd``, ``arr_usd``,
        ``paying_customers``, ``nrr_12m`` and ``rows`` (rows per layer: bronze, silver,
        gold).
    """
    with connect_readonly(settings) as con:
        publication = current_publication(settings)
        latest = con.execute(
            "select month_start, mrr_usd, arr_usd, paying_customers, nrr_12m "
            "from gold.saas_kpis_monthly order by month_start desc limit 1"
        ).fetchone()
        silver_rows = sum(table_row_counts(con, "silver").values())
        gold_rows = sum(table_row_counts(con, "gold").values())
    bronze_rows = 0
    if Manifest.exists(settings):
        manifest = Manifest.open(settings, read_only=True)
        try:
            bronze_rows = sum(int(str(r["landed_rows"] or 0))
                              for r in manifest.entity_summary())
        finally:
            manifest.close()
    month_start, mrr, arr, customers, nrr = latest or (None, None, None, None, None)
    return {
        "as_of_date": publication.as_of_date,
        "month_start": month_start.isoformat() if month_start else None,
        "mrr_usd": mrr,
        "arr_usd": arr,
        "paying_customers": customers,
        "nrr_12m": nrr,
        "rows": {"bronze": bronze_rows, "silver": silver_rows, "gold": gold_rows},
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few human lines."""
    nrr = summary["nrr_12m"]
    rows = summary["rows"]
    return "\n".join([
        f"Gold as of {summary['as_of_date']} (month {summary['month_start']}):",
        f"  MRR ${summary['mrr_usd'] or 0:,.2f}   ARR ${summary['arr_usd'] or 0:,.2f}   "
        f"paying customers {summary['paying_customers'] or 0:,}   "
        f"NRR 12m {'n/a' if nrr is None else f'{nrr:.1%}'}",
        f"  rows: bronze {rows['bronze']:,}  silver {rows['silver']:,}  gold {rows['gold']:,}",
    ])
