"""Independent reference implementation of the Gold SaaS metrics (docs/reference/gold-metrics.md).

This module is the oracle the dbt Gold layer is compared to. It reads the landing zone
(``<landing>/<source>/<entity>/<export_date>/<file>.csv|.jsonl``,
docs/reference/landing-contract.md) directly, with nothing but the Python standard library, and
applies every docs/reference/gold-metrics.md rule literally: clarity over speed. It assumes clean
input (every row well-formed); it does not quarantine anything.

Readings of docs/reference/gold-metrics.md that this module commits to (see the project report /
README):

* Money is computed with exact rationals (:class:`fractions.Fraction`); the only rounding
  is half up to cents, once per account and month (and once for ``arpa_usd``).
* A landing file is one batch, identified by the SHA-256 of its bytes; a file whose bytes
  equal an earlier file's (earlier export date, then path as text) is a repeat and is
  ignored. The as-of date is the latest export date of a non-repeated file (empty files
  included; an export-date folder without files is not a batch).
* A plan's attributes come from its latest version (plan prices never change).
* "Counting" for the ``terms_date`` run means status ``active`` or ``past_due``.
* Unknown plans and missing fx rates are checked where they are used: for a version that
  is in effect at some month's snapshot instant and counts for MRR.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

COUNTING_STATUSES = ("active", "past_due")
CENT = Decimal("0.01")

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "fct_account_mrr_monthly": (
        "account_id", "month_start", "mrr_usd", "previous_mrr_usd", "mrr_change_usd",
        "movement", "is_active", "cohort_month",
    ),
    "mrr_movements_monthly": (
        "month_start", "opening_mrr_usd", "new_mrr_usd", "expansion_mrr_usd",
        "reactivation_mrr_usd", "contraction_mrr_usd", "churned_mrr_usd", "closing_mrr_usd",
        "customers_opening", "customers_new", "customers_reactivated", "customers_churned",
        "customers_closing",
    ),
    "saas_kpis_monthly": (
        "month_start", "mrr_usd", "arr_usd", "paying_customers", "arpa_usd",
        "logo_churn_rate", "gross_mrr_churn_rate", "net_mrr_churn_rate", "quick_ratio",
        "nrr_12m", "grr_12m",
    ),
    "cohort_retention": (
        "cohort_month", "months_since_start", "cohort_customers", "retained_customers",
        "logo_retention_rate", "cohort_starting_mrr_usd", "cohort_mrr_usd",
        "net_mrr_retention_rate",
    ),
}


# --------------------------------------------------------------------------- landing


@dataclass(frozen=True)
class Row:
    """One landed record and where it came from (for version tie-breaks)."""

    export_date: date
    file_name: str
    line: int  # 1-based record number within the file
    data: dict[str, Any]


def _landing_files(landing: Path) -> list[tuple[str, date, Path]]:
    """Every non-repeated batch as ``(source/entity, export_date, path)``.

    Files are visited in (export_date, path) order; a file whose bytes equal an
    earlier file's is a repeat of that batch and is skipped.
    """
    found: list[tuple[date, str, str, Path]] = []
    for path in landing.glob("*/*/*/*"):
        if not path.is_file() or path.suffix not in (".csv", ".jsonl"):
            continue
        source, entity, folder = path.parts[-4], path.parts[-3], path.parts[-2]
        rel = path.relative_to(landing).as_posix()
        found.append((date.fromisoformat(folder), rel, f"{source}/{entity}", path))
    seen: set[str] = set()
    batches = []
    for export_date, _rel, qualified, path in sorted(found):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        batches.append((qualified, export_date, path))
    return batches


def _read_file(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [
                {k: (v if v != "" else None) for k, v in rec.items()}
                for rec in csv.DictReader(fh)
            ]
    records = []
    with path.open(encoding="utf-8-sig") as fh:
        for raw in fh:
            if raw.strip():
                records.append(json.loads(raw, parse_float=Decimal))
    return records


def load_landing(landing: Path) -> tuple[dict[str, list[Row]], date]:
    """All landed rows per ``source/entity``, and the as-of date."""
    rows: dict[str, list[Row]] = {}
    export_dates: list[date] = []
    for qualified, export_date, path in _landing_files(Path(landing)):
        export_dates.append(export_date)
        for i, rec in enumerate(_read_file(path), start=1):
            rows.setdefault(qualified, []).append(Row(export_date, path.name, i, rec))
    if not export_dates:
        raise ValueError(f"no landing files under {landing}")
    return rows, max(export_dates)


def parse_ts(text: str) -> datetime:
    """An ISO-8601 timestamp with an explicit offset, as an aware UTC datetime."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp without offset: {text!r}")
    return value.astimezone(UTC)


def version_key(row: Row) -> tuple[datetime, date, str, int]:
    """Version order: updated_at (UTC), then export date, file name (text), line."""
    return (parse_ts(row.data["updated_at"]), row.export_date, row.file_name, row.line)


def _exact(value: Any) -> Fraction:
    """A landed number (int, JSON Decimal or CSV text) as an exact rational."""
    if isinstance(value, str):
        return Fraction(Decimal(value))
    return Fraction(value)


# --------------------------------------------------------------------------- months


def month_start(d: date) -> date:
    return d.replace(day=1)


def add_months(m: date, k: int) -> date:
    index = m.year * 12 + (m.month - 1) + k
    return date(index // 12, index % 12 + 1, 1)


def snapshot_boundary(m: date, as_of: date) -> datetime:
    """B of month m: 00:00Z of the first day of m+1, or of the day after the as-of date."""
    day = as_of + timedelta(days=1) if m == month_start(as_of) else add_months(m, 1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# --------------------------------------------------------------------------- rounding


def round_cents(x: Fraction) -> Decimal:
    """Round half up (away from zero) to cents, as a Decimal with two places."""
    sign = -1 if x < 0 else 1
    cents = math.floor(abs(x) * 100 + Fraction(1, 2))
    return (Decimal(sign * cents) / 100).quantize(CENT)


def ratio(num: Decimal | int, den: Decimal | int) -> float | None:
    """num / den as a float (correctly rounded from the exact ratio); None if den is 0."""
    if den == 0:
        return None
    return float(Fraction(num) / Fraction(den))


# --------------------------------------------------------------------------- MRR


class Inputs:
    """Versioned plans and subscriptions plus corrected fx rates from the landing zone."""

    def __init__(self, landing: Path) -> None:
        rows, self.as_of = load_landing(landing)

        self.plans: dict[str, dict[str, Any]] = {}
        for row in sorted(rows.get("billing/plans", []), key=version_key):
            self.plans[row.data["plan_id"]] = row.data  # latest version wins

        self.subscriptions: dict[str, list[Row]] = {}
        for row in rows.get("billing/subscriptions", []):
            self.subscriptions.setdefault(row.data["subscription_id"], []).append(row)
        for versions in self.subscriptions.values():
            versions.sort(key=version_key)

        # (currency, rate_date) -> rate; the later export date, file name, line wins.
        latest: dict[tuple[str, date], tuple[tuple[date, str, int], Fraction]] = {}
        for row in rows.get("billing/fx_rates", []):
            key = (row.data["currency"].lower(), date.fromisoformat(row.data["rate_date"]))
            order = (row.export_date, row.file_name, row.line)
            if key not in latest or order > latest[key][0]:
                latest[key] = (order, _exact(row.data["usd_per_unit"]))
        self.fx = {key: rate for key, (_order, rate) in latest.items()}

    def usd_per_unit(self, currency: str, on: date) -> Fraction | None:
        currency = currency.lower()
        if currency == "usd":
            return Fraction(1)
        dates = [d for (c, d) in self.fx if c == currency and d <= on]
        return self.fx[(currency, max(dates))] if dates else None

    def first_month(self) -> date | None:
        stamps = [version_key(v)[0] for vs in self.subscriptions.values() for v in vs]
        return month_start(min(stamps).date()) if stamps else None


def counts_status(version: dict[str, Any]) -> bool:
    return version["status"] in COUNTING_STATUSES


def same_terms(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a["plan_id"] == b["plan_id"]
        and int(a["quantity"]) == int(b["quantity"])
        and _exact(a["discount_percent"]) == _exact(b["discount_percent"])
    )


def terms_date(versions: list[Row], index: int) -> date:
    """Date of the earliest version of the unbroken counting run sharing the terms."""
    current = versions[index].data
    start = index
    while start > 0:
        earlier = versions[start - 1].data
        if not (counts_status(earlier) and same_terms(earlier, current)):
            break
        start -= 1
    return parse_ts(versions[start].data["updated_at"]).date()


def subscription_mrr(inputs: Inputs, sub_id: str, boundary: datetime) -> tuple[str, Fraction]:
    """(account_id, exact USD MRR) of one subscription at a snapshot; 0 if not counting."""
    versions = inputs.subscriptions[sub_id]
    in_effect = [i for i, v in enumerate(versions) if version_key(v)[0] < boundary]
    if not in_effect:
        return "", Fraction(0)
    index = in_effect[-1]
    v = versions[index].data
    ended = v.get("ended_at")
    if not counts_status(v) or (ended is not None and parse_ts(ended) < boundary):
        return v["account_id"], Fraction(0)

    where = (
        f"subscription {sub_id} (account {v['account_id']}, version updated_at "
        f"{v['updated_at']}) counts for MRR at snapshot {boundary.isoformat()}"
    )
    plan = inputs.plans.get(v["plan_id"])
    if plan is None:
        raise ValueError(f"{where} but its plan {v['plan_id']!r} is unknown")
    interval_count = int(plan["interval_count"])
    months_per_interval = {"month": 1, "year": 12}[plan["billing_interval"]] * interval_count
    on = terms_date(versions, index)
    rate = inputs.usd_per_unit(plan["currency"], on)
    if rate is None:
        raise ValueError(
            f"{where} but currency {plan['currency']!r} of plan {v['plan_id']!r} has no "
            f"fx rate on or before its terms date {on.isoformat()}"
        )
    mrr = (
        Fraction(int(plan["unit_amount_minor"]))
        * int(v["quantity"])
        * (1 - _exact(v["discount_percent"]) / 100)
        / 100
        / months_per_interval
        * rate
    )
    return v["account_id"], mrr


def account_mrr_by_month(inputs: Inputs) -> tuple[list[date], dict[str, dict[date, Decimal]]]:
    """Months scanned and each account's rounded MRR per month (accounts with any MRR)."""
    first = inputs.first_month()
    last = month_start(inputs.as_of)
    months: list[date] = []
    m = first
    while m is not None and m <= last:
        months.append(m)
        m = add_months(m, 1)

    exact: dict[str, dict[date, Fraction]] = {}
    for m in months:
        boundary = snapshot_boundary(m, inputs.as_of)
        for sub_id in sorted(inputs.subscriptions):
            account, mrr = subscription_mrr(inputs, sub_id, boundary)
            if mrr > 0:
                per_month = exact.setdefault(account, {})
                per_month[m] = per_month.get(m, Fraction(0)) + mrr

    rounded = {
        account: {m: round_cents(per_month.get(m, Fraction(0))) for m in months}
        for account, per_month in exact.items()
    }
    # An account whose exact MRR rounds to 0.00 everywhere never had MRR > 0.
    rounded = {a: ms for a, ms in rounded.items() if any(v > 0 for v in ms.values())}
    return months, rounded


# --------------------------------------------------------------------------- Gold tables


def classify(prev: Decimal, cur: Decimal, had_mrr_before: bool) -> str:
    if prev == 0 and cur == 0:
        return "inactive"
    if prev == 0:
        return "reactivation" if had_mrr_before else "new"
    if cur == 0:
        return "churn"
    if cur > prev:
        return "expansion"
    if cur < prev:
        return "contraction"
    return "unchanged"


def _total(rows: list[dict[str, Any]], movement: str, amount: str) -> Decimal:
    """Sum of one amount column over the account rows with that movement."""
    return sum((r[amount] for r in rows if r["movement"] == movement), Decimal("0.00"))


def _count(rows: list[dict[str, Any]], movement: str) -> int:
    return sum(1 for r in rows if r["movement"] == movement)


def compute_reference(landing: Path) -> dict[str, list[dict[str, Any]]]:
    """The four docs/reference/gold-metrics.md Gold tables computed from a landing zone."""
    inputs = Inputs(Path(landing))
    zero = Decimal("0.00")
    scanned, mrr = account_mrr_by_month(inputs)

    def mrr_of(account: str, m: date) -> Decimal:
        return mrr[account].get(m, zero)

    cohort = {a: min(m for m, v in ms.items() if v > 0) for a, ms in mrr.items()}
    months = [m for m in scanned if cohort and m >= min(cohort.values())]

    # fct_account_mrr_monthly
    fct: list[dict[str, Any]] = []
    for account in sorted(mrr):
        for m in months:
            if m < cohort[account]:
                continue
            cur = mrr_of(account, m)
            prev = mrr_of(account, add_months(m, -1))
            had_before = any(mrr_of(account, e) > 0 for e in months if e < m)
            fct.append({
                "account_id": account,
                "month_start": m,
                "mrr_usd": cur,
                "previous_mrr_usd": prev,
                "mrr_change_usd": cur - prev,
                "movement": classify(prev, cur, had_before),
                "is_active": cur > 0,
                "cohort_month": cohort[account],
            })

    # mrr_movements_monthly
    movements: list[dict[str, Any]] = []
    for m in months:
        rows = [r for r in fct if r["month_start"] == m]
        movements.append({
            "month_start": m,
            "opening_mrr_usd": sum((r["previous_mrr_usd"] for r in rows), zero),
            "new_mrr_usd": _total(rows, "new", "mrr_usd"),
            "expansion_mrr_usd": _total(rows, "expansion", "mrr_change_usd"),
            "reactivation_mrr_usd": _total(rows, "reactivation", "mrr_usd"),
            "contraction_mrr_usd": _total(rows, "contraction", "previous_mrr_usd")
            - _total(rows, "contraction", "mrr_usd"),
            "churned_mrr_usd": _total(rows, "churn", "previous_mrr_usd"),
            "closing_mrr_usd": sum((r["mrr_usd"] for r in rows), zero),
            "customers_opening": sum(1 for r in rows if r["previous_mrr_usd"] > 0),
            "customers_new": _count(rows, "new"),
            "customers_reactivated": _count(rows, "reactivation"),
            "customers_churned": _count(rows, "churn"),
            "customers_closing": sum(1 for r in rows if r["mrr_usd"] > 0),
        })

    # saas_kpis_monthly
    kpis: list[dict[str, Any]] = []
    for mv in movements:
        m = mv["month_start"]
        closing = mv["closing_mrr_usd"]
        paying = mv["customers_closing"]
        lost = mv["churned_mrr_usd"] + mv["contraction_mrr_usd"]
        gained = mv["new_mrr_usd"] + mv["expansion_mrr_usd"] + mv["reactivation_mrr_usd"]
        base_month = add_months(m, -12)
        nrr = grr = None
        if base_month >= months[0]:
            base = [a for a in mrr if mrr_of(a, base_month) > 0]
            base_mrr = sum((mrr_of(a, base_month) for a in base), zero)
            now_mrr = sum((mrr_of(a, m) for a in base), zero)
            capped = sum((min(mrr_of(a, m), mrr_of(a, base_month)) for a in base), zero)
            nrr, grr = ratio(now_mrr, base_mrr), ratio(capped, base_mrr)
        kpis.append({
            "month_start": m,
            "mrr_usd": closing,
            "arr_usd": closing * 12,
            "paying_customers": paying,
            "arpa_usd": round_cents(Fraction(closing) / paying) if paying else None,
            "logo_churn_rate": ratio(mv["customers_churned"], mv["customers_opening"]),
            "gross_mrr_churn_rate": ratio(lost, mv["opening_mrr_usd"]),
            "net_mrr_churn_rate": ratio(
                lost - mv["expansion_mrr_usd"] - mv["reactivation_mrr_usd"],
                mv["opening_mrr_usd"],
            ),
            "quick_ratio": ratio(gained, lost),
            "nrr_12m": nrr,
            "grr_12m": grr,
        })

    # cohort_retention
    cohorts: list[dict[str, Any]] = []
    last = months[-1] if months else None
    for c in sorted(set(cohort.values())):
        members = sorted(a for a in cohort if cohort[a] == c)
        starting = sum((mrr_of(a, c) for a in members), zero)
        k, m = 0, c
        while last is not None and m <= last:
            retained = [a for a in members if mrr_of(a, m) > 0]
            cohort_mrr = sum((mrr_of(a, m) for a in members), zero)
            cohorts.append({
                "cohort_month": c,
                "months_since_start": k,
                "cohort_customers": len(members),
                "retained_customers": len(retained),
                "logo_retention_rate": ratio(len(retained), len(members)),
                "cohort_starting_mrr_usd": starting,
                "cohort_mrr_usd": cohort_mrr,
                "net_mrr_retention_rate": ratio(cohort_mrr, starting),
            })
            k, m = k + 1, add_months(m, 1)

    tables = {
        "fct_account_mrr_monthly": fct,
        "mrr_movements_monthly": movements,
        "saas_kpis_monthly": kpis,
        "cohort_retention": cohorts,
    }
    for name, table in tables.items():
        for row in table:
            assert tuple(row) == TABLE_COLUMNS[name], (name, tuple(row))
    return tables
