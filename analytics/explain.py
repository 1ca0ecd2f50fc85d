"""Row lineage of Gold MRR: one account-month of ``gold.fct_account_mrr_monthly`` explained.

``explain_mrr(settings, "acc_04", "2024-07")`` lists every subscription version of the
account in effect at the month's snapshot instant (docs/reference/gold-metrics.md), with
its plan's price terms, quantity, discount, terms date and the fx rate it was rated at,
what it contributes to MRR in USD (or why it contributes nothing), and where each of
those rows came from: the Bronze batch, landing file and line of the subscription
version, of its plan and of its fx rate.

Nothing is re-derived that the dbt models already decided. The versions, their terms
dates, rates and exact MRR numerators are read from the published Silver models
``int_subscription_versions_rated`` and ``int_subscription_mrr_monthly`` (a version
counts exactly when the latter holds it for that month, the rows Gold summed); the
lineage columns (``_batch_id``, ``_source_file``, ``_line_number``, ``_export_date``) are
the ones every staging model carries through from Bronze. Only two small things are
computed here, with the same rules as the models: the snapshot instant B of the month
(to list the versions in effect that do *not* count, which no model keeps), and the sum
of the contributions, exact (rationals) and rounded half up to cents once, which equals
Gold's ``mrr_usd``.

Everything is read on the process's shared read-only surface of the last published build
(``transform.readonly.shared_readonly``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import duckdb
import pyarrow as pa

from analytics.query import format_table
from lakecore.errors import UserInputError
from lakecore.settings import Settings
from transform.readonly import shared_readonly

#: A month as the user writes it.
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
#: Statuses that count for MRR (docs/reference/gold-metrics.md).
COUNTING_STATUSES = ("active", "past_due")
#: Decimal places of a single contribution as shown (the exact value is kept too).
SHOWN_PLACES = 6


class ExplainError(UserInputError):
    """An account-month cannot be explained: unknown account, bad or out-of-range month."""


# The explanation -------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceLine:
    """Where a Silver row came from: its Bronze batch, its landing file and line."""

    batch_id: str
    source_file: str
    line_number: int
    export_date: date

    def describe(self) -> str:
        """``<landing file> line <n> (batch <id>, export <date>)`` on one line."""
        return (f"{self.source_file} line {self.line_number} "
                f"(batch {self.batch_id[:12]}, export {self.export_date.isoformat()})")

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields."""
        return {"batch_id": self.batch_id, "source_file": self.source_file,
                "line_number": self.line_number, "export_date": self.export_date.isoformat()}


@dataclass(frozen=True)
class VersionContribution:
    """One subscription version in effect at the snapshot instant, and what it contributes."""

    subscription_id: str
    subscription_version_id: str
    version_number: int
    updated_at: datetime
    status: str
    ended_at: datetime | None
    plan_id: str
    has_known_plan: bool
    unit_amount_minor: int | None
    currency: str | None
    billing_interval: str | None
    interval_count: int | None
    months_per_interval: int | None
    quantity: int
    discount_percent: Decimal
    terms_date: date | None
    usd_per_unit: Decimal | None
    fx_rate_date: date | None
    counts: bool
    reason: str
    mrr_usd_exact: Fraction
    version_source: SourceLine | None
    plan_source: SourceLine | None
    fx_source: SourceLine | None

    @property
    def plan_amount(self) -> Decimal | None:
        """The plan's price per seat and interval in its currency (major units)."""
        if self.unit_amount_minor is None:
            return None
        return Decimal(self.unit_amount_minor).scaleb(-2)

    @property
    def mrr_usd(self) -> Decimal:
        """The contribution to ``SHOWN_PLACES`` decimals, half up (the sum uses the exact one)."""
        return round_half_up(self.mrr_usd_exact, SHOWN_PLACES)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields: decimals and dates as text, the exact MRR as a fraction too."""
        return {
            "subscription_id": self.subscription_id,
            "subscription_version_id": self.subscription_version_id,
            "version_number": self.version_number,
            "updated_at": _instant(self.updated_at),
            "status": self.status,
            "ended_at": _instant(self.ended_at),
            "plan_id": self.plan_id,
            "has_known_plan": self.has_known_plan,
            "plan_amount": _text(self.plan_amount),
            "currency": self.currency,
            "billing_interval": self.billing_interval,
            "interval_count": self.interval_count,
            "months_per_interval": self.months_per_interval,
            "quantity": self.quantity,
            "discount_percent": _text(self.discount_percent),
            "terms_date": _day(self.terms_date),
            "usd_per_unit": _text(self.usd_per_unit),
            "fx_rate_date": _day(self.fx_rate_date),
            "counts": self.counts,
            "reason": self.reason,
            "mrr_usd": str(self.mrr_usd),
            "mrr_usd_exact": exact_text(self.mrr_usd_exact),
            "sources": {
                "version": _source(self.version_source),
                "plan": _source(self.plan_source),
                "fx_rate": _source(self.fx_source),
            },
        }


@dataclass(frozen=True)
class MrrExplanation:
    """An account's MRR in one month, version by version, with the source line of each row."""

    account_id: str
    month_start: date
    as_of_date: date
    snapshot_before: datetime
    versions: tuple[VersionContribution, ...]
    gold_mrr_usd: Decimal | None
    movement: str | None

    @property
    def total_exact(self) -> Fraction:
        """The exact sum of the contributions (nothing rounded per subscription)."""
        return sum((v.mrr_usd_exact for v in self.versions), Fraction(0))

    @property
    def total_usd(self) -> Decimal:
        """The account's MRR: the exact sum rounded half up to cents, once."""
        return round_half_up(self.total_exact, 2)

    @property
    def matches_gold(self) -> bool:
        """Whether ``total_usd`` is Gold's ``mrr_usd`` (0.00 when Gold has no row)."""
        return self.total_usd == (self.gold_mrr_usd or Decimal("0.00"))

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-able dict per version in effect."""
        return [v.as_dict() for v in self.versions]

    def to_dict(self) -> dict[str, Any]:
        """The whole explanation as JSON-able dicts (``lakehouse explain-mrr --format json``)."""
        return {
            "account_id": self.account_id,
            "month_start": self.month_start.isoformat(),
            "as_of_date": self.as_of_date.isoformat(),
            "snapshot_before": _instant(self.snapshot_before),
            "mrr_usd": str(self.total_usd),
            "mrr_usd_exact": exact_text(self.total_exact),
            "gold_mrr_usd": _text(self.gold_mrr_usd),
            "movement": self.movement,
            "matches_gold": self.matches_gold,
            "versions": self.rows(),
        }

    def render_table(self) -> str:
        """A readable text explanation: header, one table row per version, sources, total."""
        lines = [self._headline(), self._snapshot_line(), ""]
        if self.versions:
            lines.append(format_table(_readable(self.versions), "table",
                                      max_rows=len(self.versions)))
            lines += ["", "sources (Bronze batch, landing file and line):"]
            lines += _source_lines(self.versions)
        else:
            lines.append("no subscription version of this account is in effect at the "
                         "snapshot instant")
        lines += ["", self._total_line()]
        return "\n".join(lines)

    def _headline(self) -> str:
        if self.gold_mrr_usd is None:
            gold = "no row in gold.fct_account_mrr_monthly (before the account's first month " \
                   "with MRR > 0, or it never had MRR): 0.00"
        else:
            gold = f"gold.fct_account_mrr_monthly.mrr_usd {self.gold_mrr_usd} ({self.movement})"
        return (f"{self.account_id} {self.month_start:%Y-%m}: MRR {self.total_usd} USD; "
                f"{gold}; {'matches' if self.matches_gold else 'DIFFERS'}")

    def _snapshot_line(self) -> str:
        last_day = (self.snapshot_before - timedelta(days=1)).date()
        partial = " (the as-of month: its snapshot is the end of the as-of date)" \
            if last_day == self.as_of_date else ""
        return (f"snapshot instant: end of {last_day.isoformat()}{partial}; in effect = the "
                f"latest version with updated_at < {_instant(self.snapshot_before)}")

    def _total_line(self) -> str:
        counted = sum(v.counts for v in self.versions)
        return (f"sum of {counted} counting version(s): {exact_decimal_text(self.total_exact)}"
                f" USD exact -> {self.total_usd} rounded half up to cents (once per account "
                "and month)")


# Reading ---------------------------------------------------------------------------------
def explain_mrr(settings: Settings, account_id: str, month: str) -> MrrExplanation:
    """Explain an account's Gold MRR in a month down to the source lines.

    Args:
        settings: The lakehouse (its last published build is read).
        account_id: An account of ``gold.dim_accounts``.
        month: ``YYYY-MM``, within Gold's months (first month with MRR .. as-of month).

    Returns:
        Every version in effect at the month's snapshot instant with its contribution and
        lineage; its ``total_usd`` equals Gold's ``mrr_usd`` for the account-month.

    Raises:
        ExplainError: The month is malformed or outside Gold, or the account is unknown.
        transform.warehouse.WarehouseNotBuiltError: Nothing was built yet.
    """
    month_start = parse_month(month)
    with shared_readonly(settings) as con:
        try:
            return _explain(con, account_id, month_start)
        except duckdb.CatalogException as exc:
            raise ExplainError(f"the published build lacks a table explain-mrr reads "
                               f"({str(exc).splitlines()[0]}); run `lakehouse build`") from None


def parse_month(text: str) -> date:
    """The first day of the month ``YYYY-MM``.

    Raises:
        ExplainError: ``text`` is not a month.
    """
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise ExplainError(f"{text!r} is not a month: expected YYYY-MM, e.g. 2025-03")
    return date(int(match.group(1)), int(match.group(2)), 1)


def _explain(con: duckdb.DuckDBPyConnection, account_id: str,
             month_start: date) -> MrrExplanation:
    first_month, last_month, as_of_date = _gold_range(con)
    if not first_month <= month_start <= last_month:
        raise ExplainError(f"month {month_start:%Y-%m} is outside Gold: "
                           f"gold.fct_account_mrr_monthly runs from {first_month:%Y-%m} "
                           f"to {last_month:%Y-%m} (the as-of month)")
    _require_account(con, account_id)
    snapshot_before = snapshot_instant(month_start, as_of_date)
    gold = con.execute(
        "select mrr_usd, movement from gold.fct_account_mrr_monthly "
        "where account_id = ? and month_start = ?", [account_id, month_start]).fetchone()
    versions = tuple(_contribution(row, snapshot_before) for row in con.execute(
        _VERSIONS_SQL, {"account": account_id, "month": month_start,
                        "before": snapshot_before}).fetchall())
    return MrrExplanation(account_id, month_start, as_of_date, snapshot_before, versions,
                          gold[0] if gold else None, gold[1] if gold else None)


def _gold_range(con: duckdb.DuckDBPyConnection) -> tuple[date, date, date]:
    """Gold's first and last month and the as-of date of the published build."""
    row = con.execute(
        "select min(month_start), max(month_start), "
        "(select max(as_of_date) from silver.int_as_of_date) "
        "from gold.fct_account_mrr_monthly").fetchone()
    if row is None or row[0] is None:
        raise ExplainError("gold.fct_account_mrr_monthly is empty: no account has had MRR, "
                           "so there is nothing to explain")
    return row[0], row[1], row[2]


def _require_account(con: duckdb.DuckDBPyConnection, account_id: str) -> None:
    if con.execute("select count(*) from gold.dim_accounts where account_id = ?",
                   [account_id]).fetchone() == (0,):
        raise ExplainError(f"unknown account {account_id!r}: it is not in gold.dim_accounts "
                           "(`lakehouse sql \"select account_id from gold.dim_accounts\"` "
                           "lists them)")


def snapshot_instant(month_start: date, as_of_date: date) -> datetime:
    """B of docs/reference/gold-metrics.md: 00:00Z of the first day of the next month.

    For the as-of month it is 00:00Z of the day after the as-of date (the same rule as
    ``int_subscription_mrr_monthly``).
    """
    if (month_start.year, month_start.month) == (as_of_date.year, as_of_date.month):
        day = as_of_date + timedelta(days=1)
    else:
        day = (month_start + timedelta(days=32)).replace(day=1)
    return datetime.combine(day, time(0), tzinfo=UTC)


#: Every version of the account in effect at B (latest ``updated_at < B``), plus any the
#: month's MRR rows hold (the same set; a guard against drift from the model's rule), with
#: the month's MRR row if it counts and the lineage of the version, its plan and its rate.
_VERSIONS_SQL = """
with

month_mrr as (
    select * from silver.int_subscription_mrr_monthly
    where account_id = $account and month_start = $month
),

in_effect as (
    select * from silver.int_subscription_versions_rated
    where
        account_id = $account
        and (
            ($before > valid_from and (valid_to is null or $before <= valid_to))
            or subscription_version_id in (select subscription_version_id from month_mrr)
        )
)

select
    in_effect.subscription_id,
    in_effect.subscription_version_id,
    in_effect.version_number,
    in_effect.updated_at,
    in_effect.status,
    in_effect.ended_at,
    in_effect.plan_id,
    in_effect.has_known_plan,
    in_effect.unit_amount_minor,
    in_effect.currency,
    plans.billing_interval,
    plans.interval_count,
    in_effect.months_per_interval,
    in_effect.quantity,
    in_effect.discount_percent,
    in_effect.terms_date,
    in_effect.usd_per_unit,
    in_effect.fx_rate_date,
    month_mrr.subscription_version_id is not null as counts,
    month_mrr.mrr_numerator,
    subscriptions._batch_id, subscriptions._source_file, subscriptions._line_number,
    subscriptions._export_date,
    plans._batch_id, plans._source_file, plans._line_number, plans._export_date,
    fx_rates._batch_id, fx_rates._source_file, fx_rates._line_number, fx_rates._export_date,
from in_effect
left join month_mrr
    on in_effect.subscription_version_id = month_mrr.subscription_version_id
left join silver.stg_billing__subscriptions as subscriptions
    on in_effect.subscription_version_id = subscriptions.subscription_version_id
left join silver.stg_billing__plans as plans
    on in_effect.plan_id = plans.plan_id
left join silver.stg_billing__fx_rates as fx_rates
    on
        in_effect.currency = fx_rates.currency
        and in_effect.fx_rate_date = fx_rates.rate_date
        and in_effect.currency <> 'usd'
order by in_effect.subscription_id, in_effect.updated_at
"""


def _contribution(row: tuple[Any, ...], snapshot_before: datetime) -> VersionContribution:
    """A row of ``_VERSIONS_SQL`` as a contribution, with its reason."""
    (subscription_id, version_id, version_number, updated_at, status, ended_at, plan_id,
     has_known_plan, unit_amount_minor, currency, billing_interval, interval_count,
     months_per_interval, quantity, discount, terms_date, usd_per_unit, fx_rate_date,
     counts, numerator) = row[:20]
    exact = (Fraction(numerator) / (10000 * months_per_interval)
             if counts and numerator is not None else Fraction(0))
    version = VersionContribution(
        subscription_id=subscription_id, subscription_version_id=version_id,
        version_number=version_number, updated_at=updated_at, status=status,
        ended_at=ended_at, plan_id=plan_id, has_known_plan=bool(has_known_plan),
        unit_amount_minor=unit_amount_minor, currency=currency,
        billing_interval=billing_interval, interval_count=interval_count,
        months_per_interval=months_per_interval, quantity=quantity,
        discount_percent=Decimal(_trimmed(Decimal(str(discount or 0)), 0)), terms_date=terms_date,
        usd_per_unit=usd_per_unit, fx_rate_date=fx_rate_date, counts=bool(counts),
        reason="", mrr_usd_exact=exact,
        version_source=_lineage(row[20:24]), plan_source=_lineage(row[24:28]),
        fx_source=_lineage(row[28:32]))
    return _with_reason(version, snapshot_before)


def _lineage(columns: tuple[Any, ...]) -> SourceLine | None:
    batch_id, source_file, line_number, export_date = columns
    if batch_id is None:
        return None
    return SourceLine(batch_id, source_file, line_number, export_date)


def _with_reason(version: VersionContribution, snapshot_before: datetime) -> VersionContribution:
    """``version`` with the one-line reason for what it contributes."""
    return replace(version, reason=contribution_reason(version, snapshot_before))


def contribution_reason(version: VersionContribution, snapshot_before: datetime) -> str:
    """Why a version in effect contributes what it does (docs/reference/gold-metrics.md)."""
    if version.status not in COUNTING_STATUSES:
        return f"status {version.status} does not count for MRR"
    if version.ended_at is not None and version.ended_at < snapshot_before:
        return f"ended {_instant(version.ended_at)}, before the snapshot instant"
    if not version.has_known_plan:
        return f"plan {version.plan_id} is unknown (no billing/plans row): the build's test " \
               "fails on it"
    if not version.counts:
        return "counts by the rules but int_subscription_mrr_monthly does not hold it"
    ends = "no end" if version.ended_at is None else \
        f"ends {_instant(version.ended_at)}, at or after the snapshot instant"
    return f"{version.status}, {ends}: counts"


# Pure helpers (the dashboard may call these) ---------------------------------------------
def round_half_up(value: Fraction, places: int) -> Decimal:
    """``value`` rounded half up (toward +infinity on a tie) to ``places`` decimals.

    The rule of ``fct_account_mrr_monthly``: ``(2 n + d) // (2 d)`` on the scaled value.
    """
    scale = 10 ** places
    units = math.floor(value * scale + Fraction(1, 2))
    return Decimal(units).scaleb(-places)


def exact_text(value: Fraction) -> str:
    """An exact rational as text: a terminating decimal, else ``numerator/denominator``."""
    if _terminates(value):
        return exact_decimal_text(value)
    return f"{value.numerator}/{value.denominator}"


def exact_decimal_text(value: Fraction) -> str:
    """A decimal expansion: exact when it terminates, else to 6 places with ``...``."""
    if not _terminates(value):
        return f"{round_half_up(value, SHOWN_PLACES)}..."
    places = 2
    while (value * 10 ** places).denominator != 1:
        places += 1
    return str(round_half_up(value, places))


def _terminates(value: Fraction) -> bool:
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1


#: The typed columns of ``explanation_table``.
EXPLANATION_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("month_start", pa.date32()),
    ("subscription_id", pa.string()), ("version_number", pa.int64()),
    ("updated_at", pa.timestamp("us", tz="UTC")), ("status", pa.string()),
    ("ended_at", pa.timestamp("us", tz="UTC")), ("plan_id", pa.string()),
    ("plan_amount", pa.decimal128(18, 2)), ("currency", pa.string()),
    ("billing_interval", pa.string()), ("interval_count", pa.int64()),
    ("months_per_interval", pa.int64()), ("quantity", pa.int64()),
    ("discount_percent", pa.decimal128(7, 4)), ("terms_date", pa.date32()),
    ("usd_per_unit", pa.decimal128(18, 8)), ("fx_rate_date", pa.date32()),
    ("counts", pa.bool_()), ("reason", pa.string()),
    ("mrr_usd", pa.decimal128(18, SHOWN_PLACES)), ("mrr_usd_exact", pa.string()),
    ("version_batch_id", pa.string()), ("version_source_file", pa.string()),
    ("version_line_number", pa.int64()),
    ("plan_batch_id", pa.string()), ("plan_source_file", pa.string()),
    ("plan_line_number", pa.int64()),
    ("fx_batch_id", pa.string()), ("fx_source_file", pa.string()),
    ("fx_line_number", pa.int64()),
])


def explanation_table(explanation: MrrExplanation) -> pa.Table:
    """One typed row per version in effect (``EXPLANATION_SCHEMA``), for a dashboard table."""
    rows = [{
        "account_id": explanation.account_id, "month_start": explanation.month_start,
        "subscription_id": v.subscription_id, "version_number": v.version_number,
        "updated_at": v.updated_at, "status": v.status, "ended_at": v.ended_at,
        "plan_id": v.plan_id, "plan_amount": v.plan_amount, "currency": v.currency,
        "billing_interval": v.billing_interval, "interval_count": v.interval_count,
        "months_per_interval": v.months_per_interval, "quantity": v.quantity,
        "discount_percent": v.discount_percent, "terms_date": v.terms_date,
        "usd_per_unit": v.usd_per_unit, "fx_rate_date": v.fx_rate_date,
        "counts": v.counts, "reason": v.reason, "mrr_usd": v.mrr_usd,
        "mrr_usd_exact": exact_text(v.mrr_usd_exact),
        **_flat_source("version", v.version_source), **_flat_source("plan", v.plan_source),
        **_flat_source("fx", v.fx_source),
    } for v in explanation.versions]
    return pa.Table.from_pylist(rows, schema=EXPLANATION_SCHEMA)


def _flat_source(prefix: str, source: SourceLine | None) -> dict[str, Any]:
    return {f"{prefix}_batch_id": source.batch_id if source else None,
            f"{prefix}_source_file": source.source_file if source else None,
            f"{prefix}_line_number": source.line_number if source else None}


# Rendering -------------------------------------------------------------------------------
def _readable(versions: tuple[VersionContribution, ...]) -> pa.Table:
    """The versions as text columns for the table view ('-' where nothing applies)."""
    rows = [{
        "subscription": v.subscription_id,
        "v": str(v.version_number),
        "updated_at": _instant(v.updated_at) or "-",
        "status": v.status,
        "ended_at": _instant(v.ended_at) or "-",
        "plan": v.plan_id,
        "price": (f"{(v.currency or '').upper()} {v.plan_amount}"
                  if v.plan_amount is not None else "-"),
        "interval": _interval(v),
        "qty": str(v.quantity),
        "discount": f"{_trimmed(v.discount_percent, 0)} %",
        "terms_date": _day(v.terms_date) or "-",
        "usd_per_unit": _trimmed(v.usd_per_unit, 4) if v.usd_per_unit is not None else "-",
        "fx_date": _fx_date(v),
        "mrr_usd": exact_decimal_text(v.mrr_usd_exact) if v.counts else "0.00",
        "why": v.reason,
    } for v in versions]
    return pa.Table.from_pylist(rows)


def _source_lines(versions: tuple[VersionContribution, ...]) -> list[str]:
    lines: list[str] = []
    for v in versions:
        where = f"  {v.subscription_id} v{v.version_number}"
        lines.append(f"{where} version: {_described(v.version_source)}")
        lines.append(f"{where} plan {v.plan_id}: {_described(v.plan_source)}")
        if v.currency == "usd":
            lines.append(f"{where} fx rate: USD, rate 1 (no fx row)")
        elif v.fx_rate_date is not None:
            lines.append(f"{where} fx {(v.currency or '').upper()} {v.fx_rate_date}: "
                         f"{_described(v.fx_source)}")
    return lines


def _described(source: SourceLine | None) -> str:
    return source.describe() if source else "no source row"


def _interval(v: VersionContribution) -> str:
    if v.billing_interval is None or v.interval_count is None:
        return "-"
    plural = "s" if v.interval_count != 1 else ""
    return f"{v.interval_count} {v.billing_interval}{plural}"


def _fx_date(v: VersionContribution) -> str:
    if v.currency == "usd":
        return "(usd)"
    return _day(v.fx_rate_date) or "-"


def _trimmed(value: Decimal, min_places: int) -> str:
    """``value`` without trailing zeros beyond ``min_places`` decimals."""
    text = f"{value:f}"
    if "." not in text:
        return text if min_places == 0 else f"{text}.{'0' * min_places}"
    whole, frac = text.split(".")
    frac = frac.rstrip("0").ljust(min_places, "0")
    return f"{whole}.{frac}" if frac else whole


def _instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _text(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def _source(source: SourceLine | None) -> dict[str, Any] | None:
    return source.as_dict() if source else None
