"""Accounts (signups with growth and seasonality), their later edits, and their users."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingestion.simulator import catalog as cat
from ingestion.simulator._fmt import SECONDS_PER_DAY

#: Expected signups over two years at scale 1.
ACCOUNTS_PER_SCALE = 10_000
#: Year-over-year growth of the signup rate.
YEARLY_GROWTH = 1.8
HOUR = 3600


@dataclass
class Accounts:
    """One row per account (its creation state) as parallel arrays."""

    created: np.ndarray
    segment: np.ndarray
    channel: np.ndarray
    country: np.ndarray
    industry: np.ndarray
    name_first: np.ndarray
    name_second: np.ndarray
    name_suffix: np.ndarray

    @property
    def size(self) -> int:
        """The number of accounts."""
        return len(self.created)


@dataclass
class AccountVersions:
    """Every version of every account (creation plus later edits)."""

    account: np.ndarray
    segment: np.ndarray
    industry: np.ndarray
    name_first: np.ndarray
    updated_at: np.ndarray


@dataclass
class Users:
    """Users, sorted by (account, created_at); the first user of an account is its owner."""

    account: np.ndarray
    role: np.ndarray
    created: np.ndarray
    deleted: np.ndarray
    first: np.ndarray
    last: np.ndarray
    #: Per account: index of its first user and number of users.
    start: np.ndarray
    count: np.ndarray

    @property
    def size(self) -> int:
        """The number of users."""
        return len(self.account)


def business_time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight UTC in working hours (07:00 to 20:30, peak mid-afternoon)."""
    tod = rng.normal(14.0 * HOUR, 3.0 * HOUR, n)
    return np.clip(tod, 7 * HOUR, 20.5 * HOUR).astype(np.int64)


def signup_rate(days: np.ndarray, first_day: int) -> np.ndarray:
    """Relative signup intensity per day: growth, weekly and yearly seasonality."""
    years = (days - first_day) / 365.0
    growth = YEARLY_GROWTH**years
    weekday = (days + 3) % 7  # epoch day 0 was a Thursday; 0 = Monday
    weekly = cat.WEEKDAY_WEIGHTS[weekday]
    doy = (days.astype("datetime64[D]") - days.astype("datetime64[D]").astype("datetime64[Y]"))
    doy = doy.astype(np.int64)
    yearly = 1.0 + 0.12 * np.cos(2 * np.pi * (doy - 40) / 365.0)
    yearly = yearly - 0.25 * ((doy >= 350) | (doy <= 2)) - 0.12 * ((doy >= 210) & (doy <= 235))
    return growth * weekly * yearly


def generate_accounts(
    rng: np.random.Generator, first_day: int, last_day: int, scale: float
) -> Accounts:
    """Draw the signup count of every day (Poisson) and the attributes of each account."""
    days = np.arange(first_day, last_day + 1)
    rate = signup_rate(days, first_day)
    period_share = len(days) / 730.0
    lam = rate / rate.sum() * ACCOUNTS_PER_SCALE * scale * period_share
    per_day = rng.poisson(lam)
    n = int(per_day.sum())
    day = np.repeat(days, per_day)
    created = np.sort(day * SECONDS_PER_DAY + business_time_of_day(rng, n))
    segment = choice(rng, cat.SEGMENT_SHARE, n)
    channel = choice_rows(rng, cat.SEGMENT_CHANNEL[segment])
    country = choice(rng, cat.COUNTRY_SHARE, n)
    suffix_offsets, suffix_counts = _suffix_ranges()
    suffix = suffix_offsets[country] + (rng.random(n) * suffix_counts[country]).astype(np.int64)
    return Accounts(
        created=created,
        segment=segment,
        channel=channel,
        country=country,
        industry=choice(rng, cat.INDUSTRY_SHARE, n),
        name_first=rng.integers(0, len(cat.NAME_FIRST), n),
        name_second=rng.integers(0, len(cat.NAME_SECOND), n),
        name_suffix=suffix,
    )


def suffix_vocabulary() -> list[str]:
    """All company suffixes, grouped by country in COUNTRIES order."""
    return [s for c in cat.COUNTRIES for s in cat.COUNTRY_SUFFIXES[c]]


def _suffix_ranges() -> tuple[np.ndarray, np.ndarray]:
    counts = np.array([len(cat.COUNTRY_SUFFIXES[c]) for c in cat.COUNTRIES])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return offsets, counts


def choice(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws from a categorical distribution (vectorised)."""
    cdf = np.cumsum(probs / probs.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(probs) - 1)


def choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a ``(n, k)`` probability matrix."""
    cdf = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(probs))[:, None]
    return np.minimum((u >= cdf).sum(axis=1), probs.shape[1] - 1)




def account_versions(
    rng: np.random.Generator, acc: Accounts, end_ts: int
) -> AccountVersions:
    """The creation version of every account plus occasional edits (segment, industry, name)."""
    n = acc.size
    edited = rng.random(n) < 0.08
    when = acc.created + (rng.uniform(20, 420, n) * SECONDS_PER_DAY).astype(np.int64)
    edited &= when <= end_ts
    idx = np.flatnonzero(edited)
    kind = rng.integers(0, 3, len(idx))  # 0 segment up, 1 industry, 2 rename
    seg = acc.segment[idx].copy()
    seg = np.where((kind == 0) & (seg < 2), seg + 1, seg)
    ind = acc.industry[idx].copy()
    ind = np.where(kind == 1, (ind + rng.integers(1, len(cat.INDUSTRIES), len(idx)))
                   % len(cat.INDUSTRIES), ind)
    first = acc.name_first[idx].copy()
    first = np.where(kind == 2, (first + rng.integers(1, len(cat.NAME_FIRST), len(idx)))
                     % len(cat.NAME_FIRST), first)
    return AccountVersions(
        account=np.concatenate([np.arange(n), idx]),
        segment=np.concatenate([acc.segment, seg]),
        industry=np.concatenate([acc.industry, ind]),
        name_first=np.concatenate([acc.name_first, first]),
        updated_at=np.concatenate([acc.created, when[idx]]),
    )


def generate_users(
    rng: np.random.Generator, acc: Accounts, seats: np.ndarray, paid: np.ndarray, end_ts: int
) -> Users:
    """Users per account: an owner, then admins and members that scale with seats.

    Accounts that never paid (lapsed trials) get a handful of users invited during the
    trial; paying accounts grow towards their seat count over the first months. A share of
    non-owner users is deleted later.
    """
    n_acc = acc.size
    extra_paid = rng.poisson(0.85 * np.maximum(seats - 1, 0))
    extra_trial = rng.poisson(0.6 * np.minimum(seats, 4))
    extra = np.minimum(np.where(paid, extra_paid, extra_trial), 400)
    count = 1 + extra
    total = int(count.sum())
    account = np.repeat(np.arange(n_acc, dtype=np.int32), count)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    is_owner = np.zeros(total, dtype=bool)
    is_owner[start] = True
    delay_days = np.where(
        paid[account], rng.exponential(25.0, total), rng.uniform(0.0, 13.0, total)
    )
    delay_days *= SECONDS_PER_DAY
    created = acc.created[account]
    created += 60
    # The owner joins at signup; everyone else some days later.
    created[~is_owner] += delay_days[~is_owner].astype(np.int64)
    del delay_days
    # Keep users in creation order within their account (owner first).
    created = created[np.lexsort((created, account))]
    role = np.where(rng.random(total) < 0.12, 1, 2).astype(np.int8)
    role[start] = 0
    deleted = (rng.exponential(160.0, total) * SECONDS_PER_DAY).astype(np.int64)
    deleted += 3600
    deleted += created
    deleted[(rng.random(total) >= 0.09) | is_owner] = -1
    del is_owner
    deleted[deleted > end_ts] = -1
    keep = created <= end_ts
    # Users created after the end are not known yet: drop them and recount.
    account, role, created, deleted = account[keep], role[keep], created[keep], deleted[keep]
    del keep
    first = rng.integers(0, len(cat.PERSON_FIRST), len(account), dtype=np.int32).astype(np.int8)
    last = rng.integers(0, len(cat.PERSON_LAST), len(account), dtype=np.int32).astype(np.int8)
    count = np.bincount(account, minlength=n_acc)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    return Users(account, role, created, deleted, first, last, start, count)
