"""Orchestration: accounts -> billing state machine -> users, fx, events -> landing files.

Design
------
1. Signups per day are Poisson draws around a growing, seasonal rate; each account gets a
   segment, channel, country (currency, VAT) and industry.
2. ``billing.BillingSimulator`` steps through the days with numpy operations over all live
   subscriptions: trials convert or lapse, periods renew (new version + invoice), payments
   fail and recover or end unpaid, and random hazards cancel (scheduled or immediate),
   change seats, plans and discounts. Churned accounts may come back; some add an add-on.
3. Users follow seats; fx rates are random walks with late corrections.
4. Events are generated month by month from the usage spans of the subscriptions (rate by
   seats, engagement and health, which falls before churn), some delivered late, a few
   re-sent.
5. Every row is rendered to text column-wise (Arrow compute, fixed-width byte matrices for
   ids and timestamps) and written per export; nothing loops per row.
Randomness comes only from numpy generators seeded by ``seed`` and a fixed stream number,
so the output is byte-identical across runs.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ingestion.contract import ENTITIES
from ingestion.simulator import catalog as cat
from ingestion.simulator import tables
from ingestion.simulator._fmt import SECONDS_PER_DAY as DAY
from ingestion.simulator.accounts import account_versions, generate_accounts, generate_users
from ingestion.simulator.billing import PRIMARY, BillingSimulator
from ingestion.simulator.events import EventBatch, EventGenerator, usage_spans
from ingestion.simulator.writer import EPOCH, LandingWriter
from lakecore.settings import Settings, SimulationDefaults

_DEFAULTS = SimulationDefaults()
DEFAULT_END = _DEFAULTS.end
DEFAULT_START = _DEFAULTS.start
DEFAULT_DAILY_DAYS = _DEFAULTS.daily_days


def default_period() -> tuple[date, date]:
    """About two years of history ending on a fixed date (never today's date)."""
    return DEFAULT_START, DEFAULT_END


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation wrote.

    ``rows`` counts the data lines written per entity (``"billing/plans"`` -> n), bad and
    duplicate lines included; ``bad_rows`` counts the lines a strict validator of the
    contract must quarantine (zero unless ``dirty_share > 0``).
    """

    files: int
    rows: dict[str, int]
    bad_rows: dict[str, int]
    bytes: int
    export_dates: tuple[date, ...]
    seconds: float
    accounts: int = 0
    subscriptions: int = 0
    events: int = 0


def _epoch_day(d: date) -> int:
    return (d - EPOCH).days


@dataclass(frozen=True)
class Period:
    """The simulated days as epoch day numbers."""

    first_day: int
    last_day: int
    #: The first day with its own export; the backfill export is dated the day before.
    first_daily: int

    @property
    def end_ts(self) -> int:
        """The last second of the last day."""
        return (self.last_day + 1) * DAY - 1

    @property
    def days(self) -> int:
        """The number of simulated days, first and last included."""
        return self.last_day - self.first_day + 1


def simulate(
    landing: Path,
    *,
    scale: float = 1.0,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    seed: int = 42,
    daily_days: int = DEFAULT_DAILY_DAYS,
    dirty_share: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> SimulationSummary:
    """Simulate the company from ``start`` to ``end`` and write its exports to ``landing``.

    History before the last ``daily_days`` days arrives as one backfill export dated the
    day before the first daily export; then each day has its own export. ``scale`` 1 is
    about 10,000 accounts and 1,000,000 events over two years; work is linear in it.
    ``dirty_share`` > 0 adds contract-breaking rows (docs/reference/faults-and-bad-input.md B1-B12).
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if not 0.0 <= dirty_share < 1.0:
        raise ValueError(f"dirty_share must be in [0, 1), got {dirty_share}")
    t0 = time.perf_counter()
    first_day, last_day = _epoch_day(start), _epoch_day(end)
    period = Period(first_day, last_day, max(first_day, last_day - max(daily_days, 0) + 1))
    writer = LandingWriter(Path(landing), seed, dirty_share, progress)
    try:
        counts = _simulate_and_write(writer, period, seed, scale)
    finally:
        writer.close()
    return SimulationSummary(
        files=writer.files,
        rows={name: writer.rows.get(name, 0) for name in ENTITIES},
        bad_rows={name: writer.bad.get(name, 0) for name in ENTITIES},
        bytes=writer.bytes,
        export_dates=tuple(sorted(writer.days)),
        seconds=round(time.perf_counter() - t0, 3),
        accounts=counts.accounts,
        subscriptions=counts.subscriptions,
        events=counts.events,
    )


def simulate_to(settings: Settings, **options: Any) -> SimulationSummary:
    """``simulate`` into the landing zone of ``settings``, a folder or object storage.

    For an object-storage landing zone the files are written to a private folder under the
    local state's ``_staging/`` and uploaded when complete (one PUT each, so a reader never
    sees half a file); the folder is removed afterwards.

    Args:
        settings: The lakehouse whose landing zone receives the exports.
        **options: ``simulate``'s keyword arguments (``scale``, ``start``, ``end``, ...).
    """
    store = settings.landing_store
    if store is None:
        settings.landing.mkdir(parents=True, exist_ok=True)
        return simulate(settings.landing, **options)
    from pyarrow import fs as pafs  # noqa: PLC0415 - only object-storage landing zones

    local = settings.staging / f"simulate-{uuid.uuid4().hex[:12]}"
    try:
        summary = simulate(local, **options)
        if summary.files:
            with store.errors("uploading the simulated landing files"):
                pafs.copy_files(str(local), store.fs_path(),
                                source_filesystem=pafs.LocalFileSystem(),
                                destination_filesystem=store.fs, use_threads=True)
        return summary
    finally:
        shutil.rmtree(local, ignore_errors=True)


@dataclass(frozen=True)
class _Counts:
    """What the summary reports beyond the writer's counters."""

    accounts: int
    subscriptions: int
    events: int


def _simulate_and_write(writer: LandingWriter, period: Period, seed: int,
                        scale: float) -> _Counts:
    """Simulate one stage at a time and write each entity as soon as its rows are final.

    The stages run in dependency order (accounts -> billing -> account edits and users ->
    events) and each drops what no later stage needs, so the peak holds the billing history
    *or* the users *or* one month of events, never all of them. Every stage draws from its
    own generator (``[seed, k]``), so the order of writing changes no byte.
    """
    p = period
    say = writer.progress or (lambda _msg: None)
    acc = generate_accounts(np.random.default_rng([seed, 1]), p.first_day, p.last_day, scale)
    say(f"accounts: {acc.size:,}")
    plans = cat.build_catalog()
    billing = BillingSimulator(
        np.random.default_rng([seed, 2]), acc, plans, p.first_day, p.last_day
    ).run(p.end_ts, writer.progress)
    say(f"subscriptions: {len(billing.subs['acct']):,} "
        f"({len(billing.versions['sub']):,} versions), "
        f"invoices: {len(billing.invoices['sub']):,}")
    n_subs = len(billing.subs["acct"])
    seats, paid = _seats_and_paid(billing.subs, acc.size)
    spans = usage_spans(billing, p.end_ts, scale, p.days)
    billing.subs.clear()  # the final states are summarised: only the history is written
    writer.write_table(tables.plans_table(plans, p.first_day, billing.price_change_day),
                       p.first_daily, p.last_day, split_backfill=False)
    writer.write_table(tables.fx_table(np.random.default_rng([seed, 4]), p.first_day,
                                       p.last_day, p.first_daily),
                       p.first_daily, p.last_day, split_backfill=False)
    writer.write_table(tables.subscriptions_table(billing, plans), p.first_daily, p.last_day,
                       split_backfill=True)
    writer.write_table(tables.invoices_table(billing, plans, acc), p.first_daily, p.last_day,
                       split_backfill=True)
    del billing  # the billing history is written; only the usage spans live on
    rng_app = np.random.default_rng([seed, 3])
    versions = account_versions(rng_app, acc, p.end_ts)
    writer.write_table(tables.accounts_table(acc, versions), p.first_daily, p.last_day,
                       split_backfill=True)
    del versions
    users = generate_users(rng_app, acc, seats, paid, p.end_ts)
    say(f"users: {users.size:,}")
    writer.write_table(tables.users_table(acc, users), p.first_daily, p.last_day,
                       split_backfill=True)
    n_accounts = acc.size
    del acc, seats, paid
    events = _write_events(writer, EventGenerator(seed, spans, users), seed, period)
    return _Counts(n_accounts, n_subs, events)


def _seats_and_paid(subs: dict[str, np.ndarray], n_accounts: int) -> tuple[np.ndarray, np.ndarray]:
    """Per account: the seats of its primary subscription (1 if none), and whether it ever paid."""
    primary = subs["kind"] == PRIMARY
    seats = np.ones(n_accounts, dtype=np.int64)
    seats[subs["acct"][primary]] = subs["qty"][primary]
    paid = np.bincount(subs["acct"], weights=subs["paid"], minlength=n_accounts) > 0
    return seats, paid


def _months(first_day: int, last_day: int) -> list[tuple[int, int]]:
    """(first, last) epoch day of every calendar month overlapping the period."""
    m0 = np.datetime64(int(first_day), "D").astype("datetime64[M]")
    m1 = np.datetime64(int(last_day), "D").astype("datetime64[M]")
    out = []
    for m in np.arange(m0, m1 + 1):
        lo = int(m.astype("datetime64[D]").astype(np.int64))
        hi = int((m + 1).astype("datetime64[D]").astype(np.int64)) - 1
        out.append((max(lo, first_day), min(hi, last_day)))
    return out


def _write_events(writer: LandingWriter, gen: EventGenerator, seed: int,
                  period: Period) -> int:
    """Generate events month by month and write each export as soon as it is complete.

    A month's events delivered before the daily period form one backfill part; the others
    wait for their delivery day. Nothing is delivered before it occurs, so once month ``m``
    is generated every day up to its last is complete and is written, and only the few
    events delivered later (late ones, re-sends) are carried to the next month. Returns the
    number of distinct events generated.
    """
    ent = ENTITIES["app/events"]
    first_daily, last_day = period.first_daily, period.last_day
    carry = EventBatch.concat([])
    part = 0
    daily_files = 0
    total = 0
    for index, (lo, hi) in enumerate(_months(period.first_day, last_day)):
        batch = gen.month(index, lo, hi)
        total += len(batch)
        back = np.flatnonzero(batch.delivered < first_daily)
        if len(back):
            part += 1
            writer.submit(ent, first_daily - 1, part, len(back), _event_renderer(batch, back),
                          first=part == 1)
        del back
        again = EventGenerator.resends(np.random.default_rng([seed, 8, index]), batch)
        fresh = _in_days(batch.delivered, first_daily, last_day)
        extra = EventBatch.concat([carry, again.take(_in_days(again.delivered, first_daily,
                                                                  last_day))])
        del again
        due, later = _split_due(batch.delivered, fresh, hi)
        extra_due, extra_later = _split_due(extra.delivered, np.arange(len(extra)), hi)
        for day, rows, extra_rows in _by_day(batch.delivered, due, extra.delivered, extra_due):
            events = EventBatch.concat([batch.take(rows), extra.take(extra_rows)])
            events = events.take(np.lexsort((events.event_id, events.occurred)))
            writer.submit(ent, day, 1, len(events), _event_renderer(events),
                          first=part == 0 and daily_files == 0)
            daily_files += 1
        carry = EventBatch.concat([batch.take(later), extra.take(extra_later)])
        if writer.progress:
            writer.progress(f"events {np.datetime64(lo, 'D').astype('datetime64[M]')}: "
                            f"{len(batch):,}")
        del batch, fresh, extra, due, later
    return total


def _in_days(delivered: np.ndarray, first: int, last: int) -> np.ndarray:
    """Positions of the events delivered on days ``first..last``."""
    return np.flatnonzero((delivered >= first) & (delivered <= last))


def _split_due(delivered: np.ndarray, rows: np.ndarray,
               hi: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` delivered on or before day ``hi`` (sorted by day, stable), and the others."""
    day = delivered[rows]
    now = day <= hi
    due = rows[now]
    return due[np.argsort(day[now], kind="stable")], rows[~now]


def _by_day(delivered: np.ndarray, rows: np.ndarray, extra_delivered: np.ndarray,
            extra_rows: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Group two day-sorted row sets by delivery day: ``[(day, rows, extra_rows)]``."""
    days = np.union1d(delivered[rows], extra_delivered[extra_rows])
    cut = np.searchsorted(delivered[rows], days, side="right")
    extra_cut = np.searchsorted(extra_delivered[extra_rows], days, side="right")
    out = []
    lo = extra_lo = 0
    for day, hi, extra_hi in zip(days.tolist(), cut.tolist(), extra_cut.tolist(), strict=True):
        out.append((day, rows[lo:hi], extra_rows[extra_lo:extra_hi]))
        lo, extra_lo = hi, extra_hi
    return out


def _event_renderer(batch: EventBatch,
                    rows: np.ndarray | None = None) -> Callable[[np.ndarray], tables.Columns]:
    """Render positions of a file holding ``batch`` (or its events at ``rows``)."""
    def render(pos: np.ndarray) -> tables.Columns:
        return tables.render_events(batch.take(pos if rows is None else rows[pos]))
    return render
