"""Landing-file builders and Gold readers for the dbt build tests (tests/transform)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from lakecore.settings import Settings
from transform.warehouse import connect_readonly

GOLD_TABLES = (
    "dim_account_attributes",
    "metric_mrr_cells_monthly",
    "metric_cohort_cells",
    "metric_trials",
    "fct_account_mrr_monthly",
    "mrr_movements_monthly",
    "saas_kpis_monthly",
    "cohort_retention",
    "dim_accounts",
    "dim_plans",
    "fct_subscriptions",
    "fct_invoices",
    "trial_conversion_monthly",
    "fct_account_daily_usage",
)


def read_gold(settings: Settings, tables: tuple[str, ...] = GOLD_TABLES,
              layer: str = "gold") -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the given published tables, sorted (comparable across builds)."""
    with connect_readonly(settings) as con:
        return {t: con.execute(f"select * from {layer}.{t} order by all").fetchall()
                for t in tables}


# Landing files ---------------------------------------------------------------------------
def ts(day: date, hour: int = 12, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_csv(landing: Path, entity: str, export_date: date, rows: list[dict[str, Any]],
              part: int = 1) -> Path:
    path = landing / entity / export_date.isoformat() / f"part-{part:04d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else str(v).lower() if isinstance(v, bool)
                             else v) for k, v in row.items()})
    path.write_text(buffer.getvalue())
    return path


def write_jsonl(landing: Path, entity: str, export_date: date, rows: list[dict[str, Any]],
                part: int = 1) -> Path:
    path = landing / entity / export_date.isoformat() / f"part-{part:04d}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def plan(plan_id: str, interval: str, amount: int, currency: str, *, day: date,
         count: int = 1) -> dict[str, Any]:
    return {"plan_id": plan_id, "plan_name": plan_id, "tier": "growth",
            "billing_interval": interval, "interval_count": count,
            "unit_amount_minor": amount, "currency": currency, "is_active": True,
            "updated_at": ts(day, 0)}


def subscription(sub_id: str, account: str, plan_id: str, status: str, *, at: str,
                 started: str, quantity: int = 1, discount: float = 0,
                 ended_at: str | None = None, cancel_at_period_end: bool = False
                 ) -> dict[str, Any]:
    return {"subscription_id": sub_id, "account_id": account, "plan_id": plan_id,
            "quantity": quantity, "status": status,
            "trial_start": started if status == "trialing" else None,
            "trial_end": None, "started_at": started, "current_period_start": started,
            "current_period_end": started, "cancel_at_period_end": cancel_at_period_end,
            "canceled_at": ended_at, "ended_at": ended_at, "discount_percent": discount,
            "created_at": started, "updated_at": at}


def account(account_id: str, day: date) -> dict[str, Any]:
    return {"account_id": account_id, "account_name": f"Name {account_id}",
            "country_code": "de", "segment": "smb", "industry": "software",
            "acquisition_channel": "organic", "created_at": ts(day, 1),
            "updated_at": ts(day, 1)}


def event(event_id: str, account_id: str, at: str, user: str = "u1") -> dict[str, Any]:
    return {"event_id": event_id, "account_id": account_id, "user_id": user,
            "event_name": "page_view", "occurred_at": at, "properties": {"n": 1}}


START = date(2024, 1, 27)


def daily_exports(landing: Path, days: int) -> list[date]:
    """Write ``days`` daily exports of a small business crossing a month boundary.

    Every day: fx rates, a few events (some late, some re-delivered), and on given days
    subscription changes (conversion, upgrade, second subscription, cancellation).
    Returns the export dates written.
    """
    dates = [START + timedelta(days=i) for i in range(days)]
    for i, day in enumerate(dates):
        if i == 0:
            write_csv(landing, "billing/plans", day, [
                plan("p_usd", "month", 4900, "usd", day=day),
                plan("p_eur_year", "year", 120000, "eur", day=day),
                plan("p_gbp", "month", 2900, "gbp", day=day),
            ])
            write_csv(landing, "app/accounts", day, [account(f"a{n}", day) for n in range(1, 7)])
            write_csv(landing, "app/users", day, [
                {"user_id": f"u{n}", "account_id": f"a{n}", "email": f"u{n}@example.com",
                 "role": "owner", "created_at": ts(day, 1), "updated_at": ts(day, 1),
                 "deleted_at": None} for n in range(1, 7)])
        write_csv(landing, "billing/fx_rates", day, [
            {"rate_date": day.isoformat(), "currency": "eur", "usd_per_unit": f"1.{10 + i}"},
            {"rate_date": day.isoformat(), "currency": "gbp", "usd_per_unit": f"1.{25 + i}"},
        ])
        subs = _subscription_changes(i, day)
        if subs:
            write_jsonl(landing, "billing/subscriptions", day, subs)
        events = [event(f"e{i}-{n}", f"a{1 + n % 5}", ts(day, 8 + n), f"u{1 + n % 5}")
                  for n in range(6)]
        if i >= 3:  # late events: occurred up to 5 days before the export date
            events.append(event(f"late{i}", "a2", ts(day - timedelta(days=5), 23)))
        if i >= 1:  # a re-delivery of yesterday's first event
            events.append(event(f"e{i - 1}-0", "a1", ts(dates[i - 1], 8), "u1"))
        write_jsonl(landing, "app/events", day, events)
    return dates


def _subscription_changes(i: int, day: date) -> list[dict[str, Any]]:
    start = ts(START, 9)
    changes: dict[int, list[dict[str, Any]]] = {
        0: [
            subscription("s1", "a1", "p_usd", "active", at=ts(day, 9), started=start, quantity=2),
            subscription("s2", "a2", "p_usd", "trialing", at=ts(day, 9), started=start),
            subscription("s3", "a3", "p_eur_year", "active", at=ts(day, 9), started=start,
                         discount=10),
            subscription("s5", "a5", "p_gbp", "active", at=ts(day, 9), started=start),
        ],
        1: [subscription("s2", "a2", "p_usd", "active", at=ts(day, 10), started=start)],
        2: [subscription("s1", "a1", "p_usd", "active", at=ts(day, 11), started=start, quantity=3)],
        4: [
            subscription("s4", "a1", "p_gbp", "active", at=ts(day, 12), started=ts(day, 12)),
            subscription("s5", "a5", "p_gbp", "canceled", at=ts(day, 12), started=start,
                         ended_at=ts(day, 12)),
        ],
        5: [subscription("s1", "a1", "p_usd", "past_due", at=ts(day, 13), started=start,
                         quantity=3)],
        6: [subscription("s6", "a6", "p_eur_year", "active", at=ts(day, 14), started=ts(day, 14))],
    }
    return changes.get(i, [])
