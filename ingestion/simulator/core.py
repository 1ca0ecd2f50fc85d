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

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from ingestion.contract import ENTITIES
from ingestion.simulator import catalog as cat
from ingestion.simulator import tables
from ingestion.simulator._fmt import SECONDS_PER_DAY as DAY
from ingestion.simulator.accounts import (
    Accounts,
    AccountVersions,
    Users,
    account_versions,
    generate_accounts,
    generate_users,
)
from ingestion.simulator.billing import PRIMARY, Billing, BillingSimulator
from ingestion.simulator.events import EventBatch, EventGenerator, usage_spans
from ingestion.simulator.writer import EPOCH, LandingWriter
from lakecore.settings import SimulationDefaults

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


@dataclass
class World:
    """Everything simulated before rendering."""

    seed: int
    scale: float
    acc: Accounts
    versions: AccountVersions
    users: Users
    plans: cat.PlanCatalog
    billing: Billing


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
    world = build_world(period, seed, scale, progress)
    writer = LandingWriter(Path(landing), seed, dirty_share, progress)
    try:
        n_events = _write_all(writer, world, period)
    finally:
        writer.close()
    return SimulationSummary(
        files=writer.files,
        rows={name: writer.rows.get(name, 0) for name in ENTITIES},
        bad_rows={name: writer.bad.get(name, 0) for name in ENTITIES},
        bytes=writer.bytes,
        export_dates=tuple(sorted(writer.days)),
        seconds=round(time.perf_counter() - t0, 3),
        accounts=world.acc.size,
        subscriptions=len(world.billing.subs["acct"]),
        events=n_events,
    )


def build_world(period: Period, seed: int, scale: float,
                progress: Callable[[str], None] | None = None) -> World:
    """Accounts, the billing history and users (everything but events and fx)."""
    say = progress or (lambda _msg: None)
    acc = generate_accounts(np.random.default_rng([seed, 1]), period.first_day,
                            period.last_day, scale)
    say(f"accounts: {acc.size:,}")
    plans = cat.build_catalog()
    billing = BillingSimulator(
        np.random.default_rng([seed, 2]), acc, plans, period.first_day, period.last_day
    ).run(period.end_ts, progress)
    subs = billing.subs
    say(f"subscriptions: {len(subs['acct']):,} ({len(billing.versions['sub']):,} versions), "
        f"invoices: {len(billing.invoices['sub']):,}")
    primary = subs["kind"] == PRIMARY
    seats = np.ones(acc.size, dtype=np.int64)
    seats[subs["acct"][primary]] = subs["qty"][primary]
    paid = np.bincount(subs["acct"], weights=subs["paid"], minlength=acc.size) > 0
    rng_app = np.random.default_rng([seed, 3])
    versions = account_versions(rng_app, acc, period.end_ts)
    users = generate_users(rng_app, acc, seats, paid, period.end_ts)
    say(f"users: {users.size:,}")
    return World(seed, scale, acc, versions, users, plans, billing)


def _write_all(writer: LandingWriter, world: World, period: Period) -> int:
    """Write every entity; returns the number of distinct events generated."""
    w, p = world, period
    fx = tables.fx_table(np.random.default_rng([w.seed, 4]), p.first_day, p.last_day,
                         p.first_daily)
    for table, split in (
        (tables.plans_table(w.plans, p.first_day, w.billing.price_change_day), False),
        (fx, False),
        (tables.accounts_table(w.acc, w.versions), True),
        (tables.users_table(w.acc, w.users), True),
        (tables.subscriptions_table(w.billing, w.plans), True),
        (tables.invoices_table(w.billing, w.plans, w.acc), True),
    ):
        writer.write_table(table, p.first_daily, p.last_day, split_backfill=split)
    return _write_events(writer, world, period)


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


def _write_events(writer: LandingWriter, world: World, period: Period) -> int:
    """Generate events month by month; backfill parts per month, then daily exports."""
    ent = ENTITIES["app/events"]
    first_daily, last_day = period.first_daily, period.last_day
    spans = usage_spans(world.billing, period.end_ts, world.scale, period.days)
    gen = EventGenerator(world.seed, spans, world.users)
    daily: list[EventBatch] = []
    part = 0
    total = 0
    for index, (lo, hi) in enumerate(_months(period.first_day, last_day)):
        batch = gen.month(index, lo, hi)
        total += len(batch)
        back = np.flatnonzero(batch.delivered < first_daily)
        if len(back):
            part += 1
            writer.submit(ent, first_daily - 1, part, len(back),
                          _event_renderer(batch.take(back)), first=part == 1)
        later = batch.take(np.flatnonzero(batch.delivered >= first_daily))
        again = EventGenerator.resends(np.random.default_rng([world.seed, 8, index]), batch)
        again = again.take(np.flatnonzero(again.delivered >= first_daily))
        for b in (later, again):
            keep = np.flatnonzero(b.delivered <= last_day)
            if len(keep):
                daily.append(b.take(keep))
        if writer.progress:
            writer.progress(f"events {np.datetime64(lo, 'D').astype('datetime64[M]')}: "
                            f"{len(batch):,}")
    if daily:
        events = EventBatch.concat(daily)
        order = np.lexsort((events.event_id, events.occurred, events.delivered))
        events = events.take(order)
        bounds = np.flatnonzero(np.diff(events.delivered)) + 1
        for i, idx in enumerate(np.split(np.arange(len(events)), bounds)):
            day = int(events.delivered[idx[0]])
            writer.submit(ent, day, 1, len(idx), _event_renderer(events.take(idx)),
                          first=part == 0 and i == 0)
    return total


def _event_renderer(batch: EventBatch) -> Callable[[np.ndarray], tables.Columns]:
    """Render positions of a file holding ``batch``."""
    def render(pos: np.ndarray) -> tables.Columns:
        return tables.render_events(batch.take(pos))
    return render
