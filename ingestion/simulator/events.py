"""Product events: Poisson counts per active account-day, shaped by seats and health.

An account is active while its primary (or comeback) subscription runs. Its daily rate is
``base * engagement * seats**0.6 * weekday * health``; health falls over the four weeks
before a cancellation request and stays low until service ends, so usage visibly drops
before churn. Months are generated one at a time (a matrix of accounts x days, Poisson
draws, ``np.repeat``), so memory is bounded by one month of events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingestion.simulator import catalog as cat
from ingestion.simulator._fmt import SECONDS_PER_DAY as DAY
from ingestion.simulator.accounts import Users
from ingestion.simulator.billing import ADDON, Billing

EVENTS_PER_SCALE = 1_000_000
DECLINE_DAYS = 28
LATE_SHARE = 0.03
RESEND_SHARE = 0.004


@dataclass
class Spans:
    """Periods in which an account uses the product (one per primary subscription)."""

    acct: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    marker: np.ndarray
    weight: np.ndarray


@dataclass
class EventBatch:
    """Events as parallel arrays, sorted by ``occurred``."""

    event_id: np.ndarray
    acct: np.ndarray
    user: np.ndarray
    name: np.ndarray
    occurred: np.ndarray
    template: np.ndarray
    number: np.ndarray
    delivered: np.ndarray

    def take(self, idx: np.ndarray) -> EventBatch:
        """The events at ``idx``."""
        return EventBatch(**{k: v[idx] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(batches: list[EventBatch]) -> EventBatch:
        """All events of several batches."""
        keys = EventBatch.__dataclass_fields__
        if not batches:
            return EventBatch(**{k: np.zeros(0, dtype=np.int64) for k in keys})
        return EventBatch(**{k: np.concatenate([getattr(b, k) for b in batches]) for k in keys})

    def __len__(self) -> int:
        """The number of events."""
        return len(self.event_id)


def usage_spans(billing: Billing, end_ts: int, scale: float, n_days: int) -> Spans:
    """Active spans with a per-span rate weight calibrated to the target event volume."""
    s = billing.subs
    keep = s["kind"] != ADDON
    start = s["created"][keep]
    ended = s["ended_at"][keep]
    stop = np.where(ended >= 0, ended, end_ts + 1)
    canceled = s["canceled_at"][keep]
    marker = np.where(canceled >= 0, canceled, np.iinfo(np.int64).max // 2)
    weight = s["engagement"][keep] * np.minimum(s["qty"][keep], 400) ** 0.6
    # Expected active days, discounted for the decline before churn (calibration only).
    days = (np.minimum(stop, marker) - start) / DAY
    tail = np.clip((stop - np.minimum(marker, stop)) / DAY, 0, None)
    soon = marker < stop + DECLINE_DAYS * DAY
    eff = np.clip(days - soon * DECLINE_DAYS * 0.4, 0.2, None) + 0.15 * tail
    target = EVENTS_PER_SCALE * scale * n_days / 730.0
    total = float((weight * eff).sum())
    base = target / total if total > 0 else 0.0
    return Spans(s["acct"][keep], start, stop, marker, weight * base)


def _health(marker: np.ndarray, day_ts: np.ndarray) -> np.ndarray:
    """1 normally, falling to 0.2 over the weeks before ``marker``, 0.15 after it."""
    left = (marker[:, None] - day_ts[None, :]) / DAY
    falling = 0.2 + 0.8 * np.clip(left / DECLINE_DAYS, 0, 1)
    return np.where(left < 0, 0.15, falling)


class EventGenerator:
    """Generate the events of one month at a time."""

    def __init__(self, seed: int, spans: Spans, users: Users) -> None:
        """Precompute user lookups and event-type, hour and weekday weights; ``seed`` fixes RNG."""
        self.seed = seed
        self.spans = spans
        self.users = users
        self.user_key = users.account * (1 << 32) + users.created
        last = np.maximum(users.start + users.count - 1, 0)
        self.last_created = np.where(users.count > 0, users.created[last], 0)
        weights = np.array([w for _n, w, _t in cat.EVENT_TYPES])
        self.name_cdf = np.cumsum(weights / weights.sum())
        tpl_code, _pre, _suf, _num = cat.event_templates()
        self.tpl_start = np.searchsorted(tpl_code, np.arange(len(cat.EVENT_TYPES)))
        self.tpl_count = np.bincount(tpl_code, minlength=len(cat.EVENT_TYPES))
        self.hour_cdf = np.cumsum(cat.HOUR_WEIGHTS / cat.HOUR_WEIGHTS.sum())
        self.weekday = cat.WEEKDAY_WEIGHTS / cat.WEEKDAY_WEIGHTS.mean()
        self.next_id = 1

    def month(self, index: int, first_day: int, last_day: int) -> EventBatch:
        """Events that occur on days ``first_day..last_day`` (one calendar month)."""
        rng = np.random.default_rng([self.seed, 7, index])
        sp = self.spans
        lo, hi = first_day * DAY, (last_day + 1) * DAY
        sel = np.flatnonzero((sp.start < hi) & (sp.stop > lo))
        days = np.arange(first_day, last_day + 1)
        day_ts = days * DAY
        start, stop = sp.start[sel], sp.stop[sel]
        active = (start[:, None] < day_ts[None, :] + DAY) & (stop[:, None] > day_ts[None, :])
        lam = (
            sp.weight[sel][:, None] * self.weekday[(days + 3) % 7][None, :]
            * _health(sp.marker[sel], day_ts) * active
        )
        counts = rng.poisson(lam)
        rows, cols = np.nonzero(counts)
        c = counts[rows, cols]
        span = np.repeat(sel[rows], c)
        day0 = np.repeat(day_ts[cols], c)
        n = len(span)
        hour = np.searchsorted(self.hour_cdf, rng.random(n), side="right")
        occurred = day0 + np.minimum(hour, 23) * 3600 + rng.integers(0, 3600, n)
        # On the first and last day of a span, keep events inside the span.
        s0, s1 = sp.start[span] + 120, sp.stop[span] - 1
        u = rng.random(n)
        occurred = np.where(occurred < s0, s0 + (u * (day0 + DAY - s0)).astype(np.int64), occurred)
        occurred = np.where(occurred > s1, day0 + (u * (s1 - day0)).astype(np.int64), occurred)
        occurred = np.clip(occurred, s0, np.maximum(s0, s1))
        acct = sp.acct[span]
        # Pick users while events are still grouped by account (fast lookups), then sort
        # by time; the unique key (time, position) makes the order fully determined.
        user = self._pick_users(rng, acct, occurred)
        key = np.sort((occurred - lo) * max(n, 1) + np.arange(n))
        order = key % max(n, 1)
        acct, occurred, user = acct[order], occurred[order], user[order]
        name = np.minimum(np.searchsorted(self.name_cdf, rng.random(n), side="right"),
                          len(cat.EVENT_TYPES) - 1)
        template = self.tpl_start[name] + (rng.random(n) * self.tpl_count[name]).astype(np.int64)
        number = np.round(np.exp(rng.uniform(1.0, 8.5, n))).astype(np.int64)
        ids = np.arange(self.next_id, self.next_id + n)
        self.next_id += n
        lag = np.where(rng.random(n) < LATE_SHARE, rng.integers(1, 8, n), 0)
        delivered = occurred // DAY + lag
        return EventBatch(ids, acct, user, name, occurred, template, number, delivered)

    def _pick_users(self, rng: np.random.Generator, acct: np.ndarray,
                    occurred: np.ndarray) -> np.ndarray:
        """A user of the account who exists (and is not deleted) at the event's time."""
        us = self.users
        first = us.start[acct]
        count = us.count[acct].copy()
        # Only events before the account's last user joined need a lookup.
        early = np.flatnonzero(occurred < self.last_created[acct])
        existing = np.searchsorted(
            self.user_key, acct[early] * (1 << 32) + occurred[early], side="right"
        )
        count[early] = existing - first[early]
        count = np.maximum(count, 1)
        user = first + (rng.random(len(acct)) * count).astype(np.int64)
        gone = (us.deleted[user] >= 0) & (us.deleted[user] <= occurred)
        return np.where(gone, first, user)

    @staticmethod
    def resends(rng: np.random.Generator, batch: EventBatch) -> EventBatch:
        """A few events delivered again, unchanged, one to five days after delivery."""
        pick = np.flatnonzero(rng.random(len(batch)) < RESEND_SHARE)
        again = batch.take(pick)
        again.delivered = again.delivered + rng.integers(1, 6, len(pick))
        return again
