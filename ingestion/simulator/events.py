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
#: Rows per block of the element-wise work between the month's random draws.
BLOCK = 1 << 20


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


def _clamp_to_span(occurred: np.ndarray, u: np.ndarray, day0: np.ndarray, s0: np.ndarray,
                   s1: np.ndarray) -> None:
    """Move events of a span's first or last day inside the span ``[s0, s1]`` (in place)."""
    early = occurred < s0
    occurred[early] = s0[early] + (u[early] * (day0[early] + DAY - s0[early])).astype(np.int64)
    late = occurred > s1
    occurred[late] = day0[late] + (u[late] * (s1[late] - day0[late])).astype(np.int64)
    np.clip(occurred, s0, np.maximum(s0, s1), out=occurred)


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
        self.user_key = users.account.astype(np.int64) * (1 << 32) + users.created
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
        """Events that occur on days ``first_day..last_day`` (one calendar month).

        Memory is about 50 bytes per event of the month: every random draw is made for the
        whole month at once (that fixes the stream), but all the arithmetic between draws
        runs in place or in blocks of ``BLOCK`` rows, and the result uses narrow types.
        """
        rng = np.random.default_rng([self.seed, 7, index])
        sp = self.spans
        lo = first_day * DAY
        day_ts = np.arange(first_day, last_day + 1) * DAY
        span, day = self._span_days(rng, first_day, last_day)
        n = len(span)
        # Hour of day, then the second within it.
        occurred = np.searchsorted(self.hour_cdf, rng.random(n), side="right")
        np.minimum(occurred, 23, out=occurred)
        occurred *= 3600
        occurred += day_ts[day]
        occurred += rng.integers(0, 3600, n, dtype=np.int32)
        # On the first and last day of a span, keep events inside the span.
        u = rng.random(n)
        for b in range(0, n, BLOCK):
            _clamp_to_span(occurred[b : b + BLOCK], u[b : b + BLOCK], day_ts[day[b : b + BLOCK]],
                           sp.start[span[b : b + BLOCK]] + 120, sp.stop[span[b : b + BLOCK]] - 1)
        del u, day
        acct = sp.acct[span]
        del span
        # Pick users while events are still grouped by account (fast lookups), then sort
        # by time; the unique key (time, position) makes the order fully determined.
        user = self._pick_users(rng, acct, occurred)
        order = occurred - lo
        order *= max(n, 1)
        order += np.arange(n)
        order.sort()
        order %= max(n, 1)
        acct32 = acct.astype(np.int32)
        del acct
        acct32, user = acct32[order], user[order]
        occurred = occurred[order]
        del order
        u = rng.random(n)
        name = np.minimum(np.searchsorted(self.name_cdf, u, side="right"),
                          len(cat.EVENT_TYPES) - 1).astype(np.int8)
        u = rng.random(n)
        template = np.empty(n, dtype=np.int16)
        for b in range(0, n, BLOCK):
            nm = name[b : b + BLOCK]
            template[b : b + BLOCK] = self.tpl_start[nm] + (
                u[b : b + BLOCK] * self.tpl_count[nm]).astype(np.int64)
        u = rng.uniform(1.0, 8.5, n)
        np.exp(u, out=u)
        np.round(u, out=u)
        number = u.astype(np.int32)
        del u
        ids = np.arange(self.next_id, self.next_id + n)
        self.next_id += n
        late = rng.random(n) < LATE_SHARE
        lag = rng.integers(1, 8, n, dtype=np.int32)
        delivered = (occurred // DAY).astype(np.int32)
        delivered[late] += lag[late]
        return EventBatch(ids, acct32, user, name, occurred, template, number, delivered)

    def _span_days(self, rng: np.random.Generator, first_day: int,
                   last_day: int) -> tuple[np.ndarray, np.ndarray]:
        """One entry per event of the month: its span and its day (0-based in the month).

        The Poisson counts of the (active span x day) matrix are drawn in blocks of spans:
        the draws run in the same order as for the whole matrix, so the counts are the same.
        """
        sp = self.spans
        lo, hi = first_day * DAY, (last_day + 1) * DAY
        sel = np.flatnonzero((sp.start < hi) & (sp.stop > lo))
        days = np.arange(first_day, last_day + 1)
        day_ts = days * DAY
        weekday = self.weekday[(days + 3) % 7][None, :]
        spans, day_of = [], []
        rows = max(1, BLOCK // max(len(days), 1))
        for b in range(0, len(sel), rows):
            blk = sel[b : b + rows]
            start, stop = sp.start[blk], sp.stop[blk]
            active = (start[:, None] < day_ts[None, :] + DAY) & (stop[:, None] > day_ts[None, :])
            lam = sp.weight[blk][:, None] * weekday * _health(sp.marker[blk], day_ts) * active
            counts = rng.poisson(lam)
            r, c = np.nonzero(counts)
            k = counts[r, c]
            spans.append(np.repeat(blk[r].astype(np.int32), k))
            day_of.append(np.repeat(c.astype(np.int8), k))
        if not spans:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int8)
        return np.concatenate(spans), np.concatenate(day_of)

    def _pick_users(self, rng: np.random.Generator, acct: np.ndarray,
                    occurred: np.ndarray) -> np.ndarray:
        """A user of the account who exists (and is not deleted) at the event's time."""
        us = self.users
        u = rng.random(len(acct))
        user = np.empty(len(acct), dtype=np.int32)
        for b in range(0, len(acct), BLOCK):
            a, occ = acct[b : b + BLOCK], occurred[b : b + BLOCK]
            first = us.start[a]
            count = us.count[a].copy()
            # Only events before the account's last user joined need a lookup.
            early = np.flatnonzero(occ < self.last_created[a])
            existing = np.searchsorted(
                self.user_key, a[early] * (1 << 32) + occ[early], side="right"
            )
            count[early] = existing - first[early]
            count = np.maximum(count, 1)
            pick = first + (u[b : b + BLOCK] * count).astype(np.int64)
            gone = (us.deleted[pick] >= 0) & (us.deleted[pick] <= occ)
            user[b : b + BLOCK] = np.where(gone, first, pick)
        return user

    @staticmethod
    def resends(rng: np.random.Generator, batch: EventBatch) -> EventBatch:
        """A few events delivered again, unchanged, one to five days after delivery."""
        pick = np.flatnonzero(rng.random(len(batch)) < RESEND_SHARE)
        again = batch.take(pick)
        again.delivered = again.delivered + rng.integers(1, 6, len(pick))
        return again
